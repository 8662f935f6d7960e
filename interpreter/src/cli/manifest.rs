//! Kubernetes manifests as people keep them: files of one or more YAML documents, each an
//! object with `apiVersion`, `kind` and `metadata`. Shared by `lint`, `plan` and `convert`,
//! which read the same files `kubectl apply -f` would.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::CliError;

/// One document of a manifest file.
#[derive(Clone, Debug)]
pub struct Document {
    /// The file it came from.
    pub path: PathBuf,
    /// Its position in the file, from 1.
    pub index: usize,
    /// The object, with its keys in the order they were written.
    pub value: Value,
}

impl Document {
    /// A top-level string field, such as `kind`.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str)
    }

    /// `apiVersion`, or empty.
    pub fn api_version(&self) -> &str {
        self.text("apiVersion").unwrap_or_default()
    }

    /// `kind`, or empty.
    pub fn kind(&self) -> &str {
        self.text("kind").unwrap_or_default()
    }

    /// The API group: `apiVersion` without its version (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version()
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// `metadata.name`, if any.
    pub fn name(&self) -> Option<&str> {
        self.value
            .get("metadata")
            .and_then(|meta| meta.get("name"))
            .and_then(Value::as_str)
    }

    /// `metadata.namespace`, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.value
            .get("metadata")
            .and_then(|meta| meta.get("namespace"))
            .and_then(Value::as_str)
    }

    /// Who the document is, for messages: `Rollout shop/web`.
    pub fn who(&self) -> Who {
        Who {
            kind: self.kind().to_string(),
            namespace: self.namespace().map(str::to_string),
            name: self.name().map(str::to_string),
            index: self.index,
        }
    }

    /// Whether the document is the given kind of the given API group.
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.group() == group && self.kind() == kind
    }
}

/// An object named for a message: kind, namespace and name (or its place in the file when it
/// has no name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Who {
    /// Kind.
    pub kind: String,
    /// Namespace, when the object names one.
    pub namespace: Option<String>,
    /// Name, when it has one.
    pub name: Option<String>,
    /// Document number in its file.
    pub index: usize,
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.kind.is_empty() {
            "object"
        } else {
            &self.kind
        };
        match (&self.namespace, &self.name) {
            (Some(namespace), Some(name)) => write!(f, "{kind} {namespace}/{name}"),
            (None, Some(name)) => write!(f, "{kind} {name}"),
            (_, None) => write!(f, "{kind} (document {})", self.index),
        }
    }
}

/// Read every document of every file, in order. Empty documents (a trailing `---`) are
/// skipped; a document that is not a mapping is an error naming the file and document.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<Document>, CliError> {
    let mut documents = Vec::new();
    for path in paths {
        documents.extend(read(path)?);
    }
    Ok(documents)
}

/// Read the documents of one file; `-` is standard input (`kulta convert … | kulta lint -`).
pub fn read(path: &Path) -> Result<Vec<Document>, CliError> {
    let io_error = |source| CliError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text).map_err(io_error)?;
        text
    } else {
        std::fs::read_to_string(path).map_err(io_error)?
    };
    let mut documents = Vec::new();
    for (offset, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let index = offset + 1;
        let value = Value::deserialize(document).map_err(|error| CliError::Manifest {
            path: path.to_path_buf(),
            message: format!("document {index}: {error}"),
        })?;
        match value {
            Value::Null => {}
            Value::Mapping(_) => documents.push(Document {
                path: path.to_path_buf(),
                index,
                value,
            }),
            _ => {
                return Err(CliError::Manifest {
                    path: path.to_path_buf(),
                    message: format!("document {index}: is not an object (a YAML mapping)"),
                });
            }
        }
    }
    Ok(documents)
}
