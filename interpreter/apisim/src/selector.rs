//! Label selectors (`app=web,tier!=db,env in (a,b),!legacy`) and field selectors
//! (`metadata.name=x`, and the Event fields `kubectl describe` selects by:
//! `involvedObject.name=x`), as list and watch requests carry them.

use serde_json::Value;

use crate::error::ApiError;

#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label and field selector; an empty one matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    labels: Vec<Requirement>,
    fields: Vec<(String, bool, String)>,
}

impl Selector {
    /// Parse `labelSelector` and `fieldSelector` query values.
    pub fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Self, ApiError> {
        let mut selector = Selector::default();
        if let Some(text) = labels.filter(|t| !t.trim().is_empty()) {
            for part in split_top_level(text) {
                selector.labels.push(parse_label(part.trim())?);
            }
        }
        if let Some(text) = fields.filter(|t| !t.trim().is_empty()) {
            for part in text.split(',') {
                let part = part.trim();
                let (key, negated, value) = if let Some((k, v)) = part.split_once("!=") {
                    (k, true, v)
                } else if let Some((k, v)) = part.split_once("==") {
                    (k, false, v)
                } else if let Some((k, v)) = part.split_once('=') {
                    (k, false, v)
                } else {
                    return Err(ApiError::bad_request(format!(
                        "invalid field selector: {part:?}"
                    )));
                };
                let Some(path) = field_path(key.trim()) else {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {}",
                        key.trim()
                    )));
                };
                selector.fields.push((path, negated, value.trim().into()));
            }
        }
        Ok(selector)
    }

    /// The `key=value` label requirements: an object must carry each of these labels.
    pub fn equalities(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels
            .iter()
            .filter_map(|requirement| match requirement {
                Requirement::Equals(key, value) => Some((key.as_str(), value.as_str())),
                _ => None,
            })
    }

    /// Whether an object matches.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let label = |key: &str| labels.get(key).and_then(Value::as_str);
        let labels_match = self.labels.iter().all(|requirement| match requirement {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, values) => label(k).is_some_and(|l| values.iter().any(|v| v == l)),
            Requirement::NotIn(k, values) => {
                label(k).is_none_or(|l| !values.iter().any(|v| v == l))
            }
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::DoesNotExist(k) => label(k).is_none(),
        });
        let fields_match = self.fields.iter().all(|(path, negated, value)| {
            let field = path
                .split('.')
                .try_fold(object, |at, key| at.get(key))
                .map(|field| match field {
                    Value::String(text) => text.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            (&field == value) != *negated
        });
        labels_match && fields_match
    }

    /// The same selector for Events stored as `events.k8s.io/v1` when it was written for
    /// their `core/v1` view (`involvedObject` is `regarding` there, `source` is
    /// `deprecatedSource`).
    pub fn for_stored_events(&self) -> Selector {
        let fields = self
            .fields
            .iter()
            .map(|(path, negated, value)| {
                let stored = if let Some(rest) = path.strip_prefix("involvedObject.") {
                    format!("regarding.{rest}")
                } else if path == "source.component" {
                    "deprecatedSource.component".to_string()
                } else if path == "reportingComponent" {
                    "reportingController".to_string()
                } else {
                    path.clone()
                };
                (stored, *negated, value.clone())
            })
            .collect();
        Selector {
            labels: self.labels.clone(),
            fields,
        }
    }
}

/// Where a supported field selector key is in the object: the metadata fields every kind
/// supports, and the fields of Events in either API.
fn field_path(key: &str) -> Option<String> {
    const REFERENCE: [&str; 7] = [
        "kind",
        "namespace",
        "name",
        "uid",
        "apiVersion",
        "resourceVersion",
        "fieldPath",
    ];
    let reference = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|rest| REFERENCE.contains(&rest))
    };
    match key {
        "metadata.name"
        | "metadata.namespace"
        | "reason"
        | "type"
        | "reportingComponent"
        | "reportingController" => Some(key.to_string()),
        "source" => Some("source.component".to_string()),
        _ if reference("involvedObject.") || reference("regarding.") => Some(key.to_string()),
        _ => None,
    }
}

/// Split on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_label(part: &str) -> Result<Requirement, ApiError> {
    let bad = || ApiError::bad_request(format!("unable to parse requirement: {part:?}"));
    let valid_key = |key: &str| {
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    let set = |rest: &str| -> Option<Vec<String>> {
        let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
        Some(
            inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect(),
        )
    };
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        return if valid_key(key) {
            Ok(Requirement::DoesNotExist(key.into()))
        } else {
            Err(bad())
        };
    }
    if let Some((key, value)) = part.split_once("!=") {
        let key = key.trim();
        return if valid_key(key) {
            Ok(Requirement::NotEquals(key.into(), value.trim().into()))
        } else {
            Err(bad())
        };
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        let key = key.trim();
        return if valid_key(key) {
            Ok(Requirement::Equals(key.into(), value.trim().into()))
        } else {
            Err(bad())
        };
    }
    if let Some((key, rest)) = part.split_once(" notin ") {
        let key = key.trim();
        return match (valid_key(key), set(rest)) {
            (true, Some(values)) => Ok(Requirement::NotIn(key.into(), values)),
            _ => Err(bad()),
        };
    }
    if let Some((key, rest)) = part.split_once(" in ") {
        let key = key.trim();
        return match (valid_key(key), set(rest)) {
            (true, Some(values)) => Ok(Requirement::In(key.into(), values)),
            _ => Err(bad()),
        };
    }
    if valid_key(part) {
        return Ok(Requirement::Exists(part.into()));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn equality_set_and_existence_requirements_match_like_kubernetes() {
        let selector = Selector::parse(
            Some("app=web,tier!=db,env in (prod, staging),!legacy"),
            None,
        )
        .unwrap();
        assert!(selector.matches(&pod(json!({"app": "web", "env": "prod"}))));
        assert!(!selector.matches(&pod(json!({"app": "web", "env": "dev"}))));
        assert!(!selector.matches(&pod(json!({"app": "web", "env": "prod", "legacy": "y"}))));
        assert!(!selector.matches(&pod(json!({"app": "web", "env": "prod", "tier": "db"}))));
    }

    #[test]
    fn field_selectors_match_name_and_namespace() {
        let selector =
            Selector::parse(None, Some("metadata.name=p,metadata.namespace!=other")).unwrap();
        assert!(selector.matches(&pod(json!({}))));
    }

    #[test]
    fn event_fields_select_in_either_api() {
        let selector = Selector::parse(
            None,
            Some("involvedObject.name=web,involvedObject.kind=Rollout,type=Normal"),
        )
        .unwrap();
        let core = json!({"involvedObject": {"name": "web", "kind": "Rollout"}, "type": "Normal"});
        assert!(selector.matches(&core));
        let stored = json!({"regarding": {"name": "web", "kind": "Rollout"}, "type": "Normal"});
        assert!(!selector.matches(&stored));
        assert!(selector.for_stored_events().matches(&stored));
    }

    #[test]
    fn malformed_selectors_are_bad_requests() {
        for bad in ["app in prod", "=x", "a b c", "env notin (a"] {
            let error = Selector::parse(Some(bad), None).unwrap_err();
            assert_eq!(error.code, 400, "{bad}");
        }
        assert_eq!(
            Selector::parse(None, Some("spec.x=1")).unwrap_err().code,
            400
        );
    }
}
