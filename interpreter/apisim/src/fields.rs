//! What a write's query asks of it: `dryRun`, and `fieldValidation` (how fields its kind does
//! not declare are treated: ignored, warned about, or refused by path).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::ApiError;
use crate::resource::ResourceType;

/// How a write treats fields its kind does not declare (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them, and say so in a `Warning` header (the API server's default).
    Warn,
    /// Refuse the write, naming them.
    Strict,
}

/// What a write's query asks of it.
pub struct WriteOptions {
    /// `dryRun=All`: answer as if written, keep nothing.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub fields: FieldValidation,
}

impl WriteOptions {
    /// Read `dryRun` and `fieldValidation`; other values are refused as the API server does.
    pub fn parse(query: &BTreeMap<String, String>) -> Result<Self, ApiError> {
        let dry_run = match query.get("dryRun").map(String::as_str) {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid value: {other:?}: supported values: \"All\""
                )));
            }
        };
        let fields = match query.get("fieldValidation").map(String::as_str) {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Ignore") => FieldValidation::Ignore,
            Some("Strict") => FieldValidation::Strict,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation must be one of Ignore, Warn or Strict, not {other:?}"
                )));
            }
        };
        Ok(WriteOptions { dry_run, fields })
    }
}

/// The metadata fields an object may carry.
const METADATA_FIELDS: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Refuse (Strict) or warn about (Warn) the fields of `object` its kind does not declare.
pub fn check(
    rt: &ResourceType,
    object: &Value,
    how: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    if how == FieldValidation::Ignore {
        return Ok(());
    }
    let mut unknown: Vec<String> = object["metadata"]
        .as_object()
        .into_iter()
        .flat_map(|metadata| metadata.keys())
        .filter(|key| !METADATA_FIELDS.contains(&key.as_str()))
        .map(|key| format!("metadata.{key}"))
        .collect();
    if let Some(schema) = &rt.schema {
        unknown.extend(crate::schema::unknown_fields(schema, object));
    }
    if unknown.is_empty() {
        return Ok(());
    }
    match how {
        FieldValidation::Strict => Err(ApiError::unknown_fields(&rt.kind, &rt.version, &unknown)),
        _ => {
            warnings.extend(
                unknown
                    .iter()
                    .map(|field| format!("unknown field \"{field}\"")),
            );
            Ok(())
        }
    }
}
