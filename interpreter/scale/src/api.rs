//! The benchmark's own requests to the simulator: loading objects, shipping templates, sending
//! promote requests, reading the request counts. They carry the user agent `kulta-scale`, so
//! the counts can tell them from the operator's.

use serde_json::Value;

use crate::error::BenchError;

/// The user agent of the benchmark's own requests.
pub const AGENT: &str = "kulta-scale";

/// A client of the simulator.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    url: String,
}

/// Requests counted by the simulator, the benchmark's own left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counted {
    /// get and list.
    pub reads: u64,
    /// Watch streams started.
    pub watches: u64,
    /// create, update, patch, delete, Leases excepted.
    pub writes: u64,
    /// Writes to Leases (leader election renewals).
    pub lease_writes: u64,
}

impl Counted {
    /// What happened between `before` and `self`.
    pub fn since(self, before: Counted) -> Counted {
        Counted {
            reads: self.reads.saturating_sub(before.reads),
            watches: self.watches.saturating_sub(before.watches),
            writes: self.writes.saturating_sub(before.writes),
            lease_writes: self.lease_writes.saturating_sub(before.lease_writes),
        }
    }
}

impl Api {
    /// A client of the simulator at `url`.
    pub fn new(url: &str) -> Result<Api, BenchError> {
        let http = reqwest::Client::builder()
            .user_agent(format!("{AGENT}/{}", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|source| BenchError::Http {
                what: "an HTTP client".into(),
                source,
            })?;
        Ok(Api {
            http,
            url: url.to_string(),
        })
    }

    /// The simulator's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The HTTP client, for watches.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// POST `object` to `path`.
    pub async fn create(&self, path: &str, object: &Value) -> Result<Value, BenchError> {
        self.send(
            self.http
                .post(format!("{}{path}", self.url))
                .header("content-type", "application/json")
                .body(object.to_string()),
            &format!("POST {path}"),
        )
        .await
    }

    /// Merge-patch the object at `path`.
    pub async fn merge(&self, path: &str, patch: &Value) -> Result<Value, BenchError> {
        self.send(
            self.http
                .patch(format!("{}{path}", self.url))
                .header("content-type", "application/merge-patch+json")
                .body(patch.to_string()),
            &format!("PATCH {path}"),
        )
        .await
    }

    /// GET `path` (a Kubernetes path or a control path) as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, BenchError> {
        self.send(
            self.http.get(format!("{}{path}", self.url)),
            &format!("GET {path}"),
        )
        .await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Value, BenchError> {
        let http = |source| BenchError::Http {
            what: what.to_string(),
            source,
        };
        let response = request.send().await.map_err(http)?;
        let code = response.status().as_u16();
        let body = response.text().await.map_err(http)?;
        if code >= 300 {
            return Err(BenchError::Api {
                what: what.to_string(),
                code,
                body,
            });
        }
        serde_json::from_str(&body).map_err(|error| BenchError::Api {
            what: what.to_string(),
            code,
            body: format!("not JSON ({error}): {body}"),
        })
    }

    /// The simulator's request counts, the benchmark's own left out.
    pub async fn counted(&self) -> Result<Counted, BenchError> {
        let counts = self.get("/kulta-apisim/requests").await?;
        let mut counted = Counted::default();
        for line in counts["counts"].as_array().into_iter().flatten() {
            if line["agent"].as_str() == Some(AGENT) {
                continue;
            }
            let count = line["count"].as_u64().unwrap_or(0);
            match (line["verb"].as_str(), line["resource"].as_str()) {
                (Some("get" | "list"), _) => counted.reads += count,
                (Some("watch"), _) => counted.watches += count,
                (_, Some("leases")) => counted.lease_writes += count,
                _ => counted.writes += count,
            }
        }
        Ok(counted)
    }

    /// The operator's `/metrics` text.
    pub async fn metrics(&self, address: &str) -> Result<String, BenchError> {
        let what = format!("GET http://{address}/metrics");
        let http = |source| BenchError::Http {
            what: what.clone(),
            source,
        };
        self.http
            .get(format!("http://{address}/metrics"))
            .send()
            .await
            .map_err(http)?
            .text()
            .await
            .map_err(http)
    }
}
