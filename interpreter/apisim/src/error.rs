//! Errors as the API server reports them: `Status` objects with a code and a reason.

use serde_json::{Value, json};

/// An API error.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason`, such as `NotFound`.
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Resource (plural) the error is about.
    pub kind: Option<String>,
    /// Object name the error is about.
    pub name: Option<String>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            kind: None,
            name: None,
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 404 NotFound for an object.
    pub fn not_found(plural: &str, name: &str) -> Self {
        ApiError {
            kind: Some(plural.into()),
            name: Some(name.into()),
            ..Self::new(404, "NotFound", format!("{plural} \"{name}\" not found"))
        }
    }

    /// 404 NotFound for a path nothing is served at.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("method {method} is not supported here"),
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(plural: &str, name: &str) -> Self {
        ApiError {
            kind: Some(plural.into()),
            name: Some(name.into()),
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{plural} \"{name}\" already exists"),
            )
        }
    }

    /// 409 Conflict on a stale resourceVersion.
    pub fn conflict(plural: &str, name: &str) -> Self {
        ApiError {
            kind: Some(plural.into()),
            name: Some(name.into()),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                ),
            )
        }
    }

    /// 410 Expired: a watch or list from a resourceVersion no longer kept.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("request body is larger than {limit} bytes"),
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format: {content_type}"),
        )
    }

    /// 422 Invalid.
    pub fn invalid(plural: &str, name: &str, message: impl Into<String>) -> Self {
        ApiError {
            kind: Some(plural.into()),
            name: Some(name.into()),
            ..Self::new(422, "Invalid", message)
        }
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// An injected failure with this code, reasoned as the API server would.
    pub fn injected(code: u16) -> Self {
        let reason = match code {
            409 => "Conflict",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            403 => "Forbidden",
            _ => "InternalError",
        };
        Self::new(code, reason, format!("injected fault: {reason}"))
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.kind.is_some() || self.name.is_some() {
            status["details"] = json!({ "name": self.name, "kind": self.kind });
        }
        status
    }
}
