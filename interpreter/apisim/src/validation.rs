//! What the API server refuses of every object, whatever its kind: names longer or other than
//! their kind allows, label keys and values of the wrong syntax, annotations over 256 KiB in
//! total, and integers that do not fit the built-in kinds' `int32` fields.

use serde_json::Value;

use crate::error::{ApiError, Cause, CauseReason};
use crate::resource::ResourceType;

/// The largest total size of an object's annotations (keys and values), in bytes.
pub const ANNOTATIONS_LIMIT: usize = 256 * 1024;

const SUBDOMAIN_MAX: usize = 253;
const LABEL_MAX: usize = 63;

const SUBDOMAIN_SYNTAX: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_SYNTAX: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL_SYNTAX: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_SYNTAX: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_SYNTAX: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// The rule a kind's names follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NameRule {
    /// Most kinds: a DNS subdomain, at most 253 characters.
    Subdomain,
    /// Namespaces: an RFC 1123 label, at most 63.
    Dns1123Label,
    /// Services: an RFC 1035 label (starting with a letter), at most 63.
    Dns1035Label,
    /// RBAC kinds: anything usable as a URL path segment (`system:controller:x`).
    PathSegment,
}

fn name_rule(rt: &ResourceType) -> NameRule {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => NameRule::Dns1123Label,
        ("", "services") => NameRule::Dns1035Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// Refuse what the API server's object validation refuses (422 Invalid, by field).
pub fn object(rt: &ResourceType, name: &str, object: &Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    if let Some(problem) = name_problem(name_rule(rt), name) {
        causes.push(Cause::new(
            problem.0,
            "metadata.name",
            format!("{}: {:?}: {}", reason_word(problem.0), name, problem.1),
        ));
    }
    let metadata = &object["metadata"];
    labels(&metadata["labels"], "metadata.labels", &mut causes);
    annotations(&metadata["annotations"], &mut causes);
    // Pod templates and selectors of the built-in workloads carry labels too.
    if rt.schema.is_none() {
        labels(
            &object["spec"]["template"]["metadata"]["labels"],
            "spec.template.metadata.labels",
            &mut causes,
        );
        labels(
            &object["spec"]["selector"]["matchLabels"],
            "spec.selector.matchLabels",
            &mut causes,
        );
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_fields(&rt.kind, &rt.group, name, causes))
    }
}

/// Integers the built-in kinds decode into `int32` fields: out of range, the API server cannot
/// decode the body at all (400 BadRequest).
pub fn decode(rt: &ResourceType, object: &Value) -> Result<(), ApiError> {
    if rt.schema.is_some() {
        // A custom kind's schema says its integer formats; `schema` checks them.
        return Ok(());
    }
    let spec = &object["spec"];
    for field in [
        "replicas",
        "minReadySeconds",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
    ] {
        let value = &spec[field];
        let fits = value.as_i64().is_some_and(|n| i32::try_from(n).is_ok());
        if value.is_number() && !fits {
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: json: cannot unmarshal number {value} into Go struct field {kind}Spec.spec.{field} of type int32",
                kind = rt.kind,
                version = rt.version,
            )));
        }
    }
    Ok(())
}

fn reason_word(reason: CauseReason) -> &'static str {
    match reason {
        CauseReason::Required => "Required value",
        CauseReason::TooLong => "Too long",
        _ => "Invalid value",
    }
}

/// What is wrong with `name` under `rule`, if anything.
fn name_problem(rule: NameRule, name: &str) -> Option<(CauseReason, String)> {
    let (max, valid, syntax) = match rule {
        NameRule::Subdomain => (SUBDOMAIN_MAX, is_subdomain(name), SUBDOMAIN_SYNTAX),
        NameRule::Dns1123Label => (LABEL_MAX, is_dns1123_label(name), DNS1123_LABEL_SYNTAX),
        NameRule::Dns1035Label => (
            LABEL_MAX,
            is_dns1123_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase()),
            DNS1035_LABEL_SYNTAX,
        ),
        NameRule::PathSegment => {
            let bad = name == "." || name == ".." || name.contains(['/', '%']);
            return bad.then(|| {
                (
                    CauseReason::Invalid,
                    "may not be '.' or '..' and may not contain '/' or '%'".to_string(),
                )
            });
        }
    };
    if name.len() > max {
        return Some((
            CauseReason::Invalid,
            format!("must be no more than {max} characters"),
        ));
    }
    (!valid).then(|| (CauseReason::Invalid, syntax.to_string()))
}

fn is_dns1123_label(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

fn is_subdomain(text: &str) -> bool {
    !text.is_empty() && text.split('.').all(is_dns1123_label)
}

/// A label value, or the name part of a qualified name: alphanumerics, `-`, `_`, `.`, starting
/// and ending alphanumeric.
fn is_label_word(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// What is wrong with a label or annotation key (`[prefix/]name`), if anything.
fn key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.len() > SUBDOMAIN_MAX {
            return Some(format!(
                "prefix part must be no more than {SUBDOMAIN_MAX} characters"
            ));
        }
        if !is_subdomain(prefix) {
            return Some(format!("prefix part {SUBDOMAIN_SYNTAX}"));
        }
    }
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > LABEL_MAX {
        return Some(format!(
            "name part must be no more than {LABEL_MAX} characters"
        ));
    }
    (!is_label_word(name)).then(|| QUALIFIED_NAME_SYNTAX.to_string())
}

fn labels(labels: &Value, field: &str, causes: &mut Vec<Cause>) {
    let Some(labels) = labels.as_object() else {
        return;
    };
    for (key, value) in labels {
        if let Some(problem) = key_problem(key) {
            causes.push(Cause::new(
                CauseReason::Invalid,
                field,
                format!("Invalid value: {key:?}: {problem}"),
            ));
        }
        let Some(value) = value.as_str() else {
            continue;
        };
        let problem = if value.len() > LABEL_MAX {
            Some(format!("must be no more than {LABEL_MAX} characters"))
        } else if !value.is_empty() && !is_label_word(value) {
            Some(LABEL_VALUE_SYNTAX.to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            causes.push(Cause::new(
                CauseReason::Invalid,
                field,
                format!("Invalid value: {value:?}: {problem}"),
            ));
        }
    }
}

fn annotations(annotations: &Value, causes: &mut Vec<Cause>) {
    let Some(annotations) = annotations.as_object() else {
        return;
    };
    let mut total = 0;
    for (key, value) in annotations {
        if let Some(problem) = key_problem(&key.to_lowercase()) {
            causes.push(Cause::new(
                CauseReason::Invalid,
                "metadata.annotations",
                format!("Invalid value: {key:?}: {problem}"),
            ));
        }
        total += key.len() + value.as_str().map_or(0, str::len);
    }
    if total > ANNOTATIONS_LIMIT {
        causes.push(Cause::new(
            CauseReason::TooLong,
            "metadata.annotations",
            format!("Too long: must have at most {ANNOTATIONS_LIMIT} bytes"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::builtins;
    use serde_json::json;

    fn kind(plural: &str) -> ResourceType {
        builtins()
            .into_iter()
            .find(|t| t.plural == plural && t.group != "events.k8s.io")
            .unwrap()
    }

    fn causes(rt: &ResourceType, name: &str, object: &Value) -> Vec<String> {
        match super::object(rt, name, object) {
            Ok(()) => Vec::new(),
            Err(error) => error
                .fields
                .map(|fields| fields.causes.iter().map(Cause::line).collect())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn names_follow_their_kinds_rule() {
        let empty = json!({});
        let replica_sets = kind("replicasets");
        assert!(causes(&replica_sets, "web-6f7c9", &empty).is_empty());
        assert!(causes(&replica_sets, &"a".repeat(253), &empty).is_empty());
        assert_eq!(
            causes(&replica_sets, &"a".repeat(264), &empty),
            [format!(
                "metadata.name: Invalid value: {:?}: must be no more than 253 characters",
                "a".repeat(264)
            )]
        );
        assert_eq!(causes(&replica_sets, "Web", &empty).len(), 1);
        assert_eq!(causes(&replica_sets, "web.-x", &empty).len(), 1);
        assert_eq!(causes(&kind("namespaces"), "a.b", &empty).len(), 1);
        assert_eq!(causes(&kind("services"), "1web", &empty).len(), 1);
        assert_eq!(causes(&kind("services"), &"s".repeat(64), &empty).len(), 1);
        assert!(causes(&kind("clusterroles"), "system:controller:kulta", &empty).is_empty());
        assert_eq!(causes(&kind("clusterroles"), "a/b", &empty).len(), 1);
    }

    #[test]
    fn label_keys_and_values_follow_the_label_syntax() {
        let services = kind("services");
        let good = json!({"metadata": {"labels": {"app.kubernetes.io/name": "web", "tier": "", "a_b": "X.1"}}});
        assert!(causes(&services, "web", &good).is_empty());
        let bad = json!({"metadata": {"labels": {"app": "bad value!", "-key": "x", "a/b/c": "x"}}});
        let found = causes(&services, "web", &bad);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found
                .iter()
                .all(|c| c.starts_with("metadata.labels: Invalid value: "))
        );
        assert!(
            found
                .iter()
                .any(|c| c.contains("\"bad value!\": a valid label"))
        );
        let long = json!({"metadata": {"labels": {"app": "v".repeat(64)}}});
        assert_eq!(causes(&services, "web", &long).len(), 1);
        let template = json!({"spec": {"template": {"metadata": {"labels": {"app": "no way"}}}}});
        let found = causes(&kind("replicasets"), "web", &template);
        assert!(found[0].starts_with("spec.template.metadata.labels: Invalid value"));
    }

    #[test]
    fn annotations_are_refused_over_256_kib_in_total() {
        let services = kind("services");
        let at_limit =
            json!({"metadata": {"annotations": {"a": "x".repeat(ANNOTATIONS_LIMIT - 1)}}});
        assert!(causes(&services, "web", &at_limit).is_empty());
        let over =
            json!({"metadata": {"annotations": {"a": "x".repeat(ANNOTATIONS_LIMIT - 1), "b": ""}}});
        assert_eq!(
            causes(&services, "web", &over),
            ["metadata.annotations: Too long: must have at most 262144 bytes"]
        );
    }

    #[test]
    fn built_in_int32_fields_refuse_larger_numbers() {
        let replica_sets = kind("replicasets");
        assert!(
            decode(
                &replica_sets,
                &json!({"spec": {"replicas": 2_147_483_647_i64}})
            )
            .is_ok()
        );
        let error = decode(
            &replica_sets,
            &json!({"spec": {"replicas": 2_147_483_648_i64}}),
        )
        .unwrap_err();
        assert_eq!(error.code, 400);
        assert!(
            error.message.contains("spec.replicas of type int32"),
            "{}",
            error.message
        );
    }
}
