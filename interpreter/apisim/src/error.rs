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
    /// The kind's group and each invalid field, for a 422 Invalid (boxed: most errors have
    /// none, and errors travel by value through every handler).
    pub fields: Option<Box<InvalidFields>>,
}

/// What a 422 Invalid adds to `Status.details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFields {
    /// API group of the kind, for `details.group` (empty for the core group).
    pub group: String,
    /// Each invalid field, for `details.causes` (kubectl prints them by field path).
    pub causes: Vec<Cause>,
}

/// One invalid field of a 422 Invalid answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// What is wrong with it.
    pub reason: CauseReason,
    /// The field path, as `spec.replicas` or `metadata.labels`.
    pub field: String,
    /// The problem, without the field path (`Invalid value: -1: must be ...`).
    pub message: String,
}

/// `StatusCause.reason` values the simulator reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CauseReason {
    /// `FieldValueInvalid`.
    Invalid,
    /// `FieldValueRequired`.
    Required,
    /// `FieldValueNotSupported`: not one of an enum's values.
    NotSupported,
    /// `FieldValueTooLong`.
    TooLong,
    /// `FieldValueForbidden`.
    Forbidden,
}

impl CauseReason {
    /// The `StatusCause.reason` string.
    pub fn as_str(self) -> &'static str {
        match self {
            CauseReason::Invalid => "FieldValueInvalid",
            CauseReason::Required => "FieldValueRequired",
            CauseReason::NotSupported => "FieldValueNotSupported",
            CauseReason::TooLong => "FieldValueTooLong",
            CauseReason::Forbidden => "FieldValueForbidden",
        }
    }
}

impl Cause {
    /// A cause of this kind.
    pub fn new(reason: CauseReason, field: impl Into<String>, message: impl Into<String>) -> Self {
        Cause {
            reason,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A cause from a `path: problem` line, as the schema checks write them; the reason is
    /// read from the problem's first words, as the API server's own field errors start.
    pub fn from_line(line: &str) -> Self {
        let (field, message) = line.split_once(": ").unwrap_or(("", line));
        let reason = if message.starts_with("Required value") {
            CauseReason::Required
        } else if message.starts_with("Unsupported value") {
            CauseReason::NotSupported
        } else if message.starts_with("Too long") {
            CauseReason::TooLong
        } else if message.starts_with("Forbidden") {
            CauseReason::Forbidden
        } else {
            CauseReason::Invalid
        };
        Cause::new(reason, field, message)
    }

    /// `field: message`, as the API server words it in `Status.message`.
    pub fn line(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            kind: None,
            name: None,
            fields: None,
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

    /// 422 Invalid for an object of `kind` (in `group`, empty for the core group), one cause
    /// per invalid field, worded as the API server words it:
    /// `ReplicaSet.apps "web" is invalid: metadata.name: Invalid value: ...`.
    pub fn invalid_fields(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let lines: Vec<String> = causes.iter().map(Cause::line).collect();
        let listed = if lines.len() == 1 {
            lines[0].clone()
        } else {
            format!("[{}]", lines.join(", "))
        };
        ApiError {
            kind: Some(kind.into()),
            name: Some(name.into()),
            fields: Some(Box::new(InvalidFields {
                group: group.into(),
                causes,
            })),
            ..Self::new(
                422,
                "Invalid",
                format!("{qualified} \"{name}\" is invalid: {listed}"),
            )
        }
    }

    /// 400 BadRequest for a field the kind does not declare, under strict field validation.
    pub fn unknown_fields(kind: &str, version: &str, fields: &[String]) -> Self {
        let listed: Vec<String> = fields
            .iter()
            .map(|field| format!("unknown field \"{field}\""))
            .collect();
        Self::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            listed.join(", ")
        ))
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
            if let Some(fields) = &self.fields {
                status["details"]["group"] = fields.group.as_str().into();
                let causes: Vec<Value> = fields
                    .causes
                    .iter()
                    .map(|cause| {
                        json!({
                            "reason": cause.reason.as_str(),
                            "message": cause.message,
                            "field": cause.field,
                        })
                    })
                    .collect();
                status["details"]["causes"] = causes.into();
            }
        }
        status
    }
}
