//! `/healthz`, `/readyz` and `/metrics` on one small HTTP server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::error::OperatorError;
use super::telemetry::Telemetry;

/// What the probes report.
pub struct Probes {
    /// The controllers are watching (the Rollout API answered).
    pub ready: AtomicBool,
    /// The metrics.
    pub telemetry: Arc<Telemetry>,
}

/// Bind the server; it runs until `shutdown` fires. Returns the bound address.
pub async fn serve(
    address: SocketAddr,
    probes: Arc<Probes>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<SocketAddr, OperatorError> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| OperatorError::Serve { address, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| OperatorError::Serve { address, source })?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let probes = probes.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |request| answer(probes.clone(), request));
                        let connection = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service);
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "probe connection ended");
                        }
                    });
                }
                _ = shutdown.changed() => return,
            }
        }
    });
    Ok(bound)
}

async fn answer<B>(
    probes: Arc<Probes>,
    request: Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match request.uri().path() {
        "/healthz" => (StatusCode::OK, "text/plain", "ok".to_string()),
        "/readyz" if probes.ready.load(Ordering::Relaxed) => {
            (StatusCode::OK, "text/plain", "ok".to_string())
        }
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "the Rollout API has not answered yet".to_string(),
        ),
        "/metrics" => match probes.telemetry.encode() {
            Ok(text) => (
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(error) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                error.to_string(),
            ),
        },
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    Ok(response)
}
