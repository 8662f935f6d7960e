//! A CRD's structural `openAPIV3Schema` applied to an object as the API server applies it:
//! unknown fields are pruned (unless preserved), defaults filled in, nulls of non-nullable
//! fields dropped, and types, `required`, `enum`, bounds, int-or-string and `oneOf`/`anyOf`
//! checked. Violations are listed by field path, and so are the unknown fields pruned (for
//! `fieldValidation=Strict|Warn`).

use serde_json::{Map, Value};

/// Apply `schema` to a whole object. `apiVersion`, `kind` and `metadata` are the server's.
/// Returns the paths of the unknown fields it pruned.
pub fn apply(schema: &Value, object: &mut Value) -> Result<Vec<String>, Vec<String>> {
    let (errors, unknown) = walk(schema, object);
    if errors.is_empty() {
        Ok(unknown)
    } else {
        Err(errors)
    }
}

/// The paths of the fields of `object` that `schema` does not declare (and would prune),
/// whether or not the object is otherwise valid.
pub fn unknown_fields(schema: &Value, object: &Value) -> Vec<String> {
    walk(schema, &mut object.clone()).1
}

/// Prune, default and check: the violations, and the unknown fields pruned.
fn walk(schema: &Value, object: &mut Value) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut unknown = Vec::new();
    let Some(map) = object.as_object_mut() else {
        errors.push("<root>: Invalid value: must be of type object".into());
        return (errors, unknown);
    };
    let properties = &schema["properties"];
    let required = required(schema);
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match properties.get(&key) {
            Some(child) => {
                if let Some(value) = map.get_mut(&key) {
                    if value.is_null() && !nullable(child) {
                        map.remove(&key);
                        continue;
                    }
                    check(child, value, &key, &mut errors, &mut unknown);
                }
            }
            None if preserves_unknown(schema) => {}
            None => {
                map.remove(&key);
                unknown.push(key);
            }
        }
    }
    fill_defaults(schema, map);
    for key in required {
        if !map.contains_key(key) {
            errors.push(format!("{key}: Required value"));
        }
    }
    (errors, unknown)
}

fn required(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn nullable(schema: &Value) -> bool {
    schema["nullable"].as_bool().unwrap_or(false)
}

fn preserves_unknown(schema: &Value) -> bool {
    schema["x-kubernetes-preserve-unknown-fields"]
        .as_bool()
        .unwrap_or(false)
}

fn fill_defaults(schema: &Value, map: &mut Map<String, Value>) {
    if let Some(properties) = schema["properties"].as_object() {
        for (key, child) in properties {
            if !map.contains_key(key)
                && let Some(default) = child.get("default")
            {
                map.insert(key.clone(), default.clone());
            }
        }
    }
}

/// Check (and prune, and default) `value` against `schema` at `path`.
fn check(
    schema: &Value,
    value: &mut Value,
    path: &str,
    errors: &mut Vec<String>,
    unknown: &mut Vec<String>,
) {
    if value.is_null() {
        if !nullable(schema) {
            errors.push(format!("{path}: Invalid value: null: must not be null"));
        }
        return;
    }
    let int_or_string = schema["x-kubernetes-int-or-string"]
        .as_bool()
        .unwrap_or(false);
    if int_or_string {
        if !(value.is_i64() || value.is_u64() || value.is_string()) {
            errors.push(format!(
                "{path}: Invalid value: {value}: must be an integer or a string"
            ));
        }
        return;
    }
    let type_ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        let wanted = schema["type"].as_str().unwrap_or_default();
        errors.push(format!(
            "{path}: Invalid value: {value}: must be of type {wanted}"
        ));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        let options: Vec<String> = allowed.iter().map(Value::to_string).collect();
        errors.push(format!(
            "{path}: Unsupported value: {value}: supported values: {}",
            options.join(", ")
        ));
    }
    if let Some((low, high)) = integer_range(schema)
        && let Some(number) = value.as_i64().or_else(|| value.as_u64().map(|_| i64::MAX))
        && !(low..=high).contains(&number)
    {
        let format = schema["format"].as_str().unwrap_or_default();
        errors.push(format!(
            "{path}: Invalid value: {value}: must be of type {format} (from {low} to {high})"
        ));
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema["minimum"].as_f64()
            && number < min
        {
            errors.push(format!(
                "{path}: Invalid value: {value}: must be greater than or equal to {min}"
            ));
        }
        if let Some(max) = schema["maximum"].as_f64()
            && number > max
        {
            errors.push(format!(
                "{path}: Invalid value: {value}: must be less than or equal to {max}"
            ));
        }
    }
    match value {
        Value::Object(map) => check_object(schema, map, path, errors, unknown),
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                if schema.get("items").is_some() {
                    let item_path = format!("{path}[{index}]");
                    check(&schema["items"], item, &item_path, errors, unknown);
                }
            }
        }
        _ => {}
    }
    for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(branches) = schema[keyword].as_array() {
            let matching = branches
                .iter()
                .filter(|branch| satisfies(branch, value))
                .count();
            let ok = if exactly_one {
                matching == 1
            } else {
                matching >= 1
            };
            if !ok {
                errors.push(format!("{path}: Invalid value: {value}: must match {} of the {keyword} schemas, matched {matching}", if exactly_one { "exactly one" } else { "at least one" }));
            }
        }
    }
}

fn check_object(
    schema: &Value,
    map: &mut Map<String, Value>,
    path: &str,
    errors: &mut Vec<String>,
    unknown: &mut Vec<String>,
) {
    let properties = schema["properties"].as_object();
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let child_path = format!("{path}.{key}");
        let child = properties.and_then(|p| p.get(&key)).or(additional);
        match child {
            Some(child) => {
                let drop = map
                    .get(&key)
                    .is_some_and(|v| v.is_null() && !nullable(child));
                if drop {
                    map.remove(&key);
                } else if let Some(value) = map.get_mut(&key) {
                    check(child, value, &child_path, errors, unknown);
                }
            }
            // Properties named only in oneOf/anyOf branches are not pruned.
            None if preserves_unknown(schema) || properties.is_none() && additional.is_none() => {}
            None => {
                map.remove(&key);
                unknown.push(child_path);
            }
        }
    }
    fill_defaults(schema, map);
    for key in required(schema) {
        if !map.contains_key(key) {
            errors.push(format!("{path}.{key}: Required value"));
        }
    }
}

/// The range a sized integer `format` allows, as the API server checks `int32` and `int64`.
fn integer_range(schema: &Value) -> Option<(i64, i64)> {
    match schema["format"].as_str() {
        Some("int32") => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
        Some("int64") => Some((i64::MIN, i64::MAX)),
        _ => None,
    }
}

/// Whether `value` meets a `oneOf`/`anyOf` branch (its `required` and types), without pruning.
fn satisfies(branch: &Value, value: &Value) -> bool {
    let mut copy = value.clone();
    let mut errors = Vec::new();
    let has_required = required(branch).iter().all(|key| value.get(*key).is_some());
    if branch.get("type").is_some() || branch.get("properties").is_some() {
        check(branch, &mut copy, "", &mut errors, &mut Vec::new());
    }
    has_required && errors.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["replicas"],
                    "properties": {
                        "replicas": {"type": "integer", "minimum": 0, "format": "int32"},
                        "mode": {"type": "string", "enum": ["A", "B"], "default": "A"},
                        "surge": {"x-kubernetes-int-or-string": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "note": {"type": "string", "nullable": true},
                        "steps": {"type": "array", "items": {
                            "type": "object",
                            "oneOf": [{"required": ["setWeight"]}, {"required": ["pause"]}],
                            "properties": {"setWeight": {"type": "integer"}, "pause": {"type": "object"}}
                        }}
                    }
                }
            }
        })
    }

    #[test]
    fn unknown_fields_are_pruned_and_defaults_filled() {
        let mut object = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
            "spec": {"replicas": 1, "bogus": true, "free": {"anything": 1}, "labels": {"a": "b"}}, "extra": 1});
        let unknown = apply(&schema(), &mut object).unwrap();
        assert_eq!(unknown, ["extra", "spec.bogus"]);
        assert_eq!(object["spec"].get("bogus"), None);
        assert_eq!(object.get("extra"), None);
        assert_eq!(object["spec"]["free"]["anything"], 1);
        assert_eq!(object["spec"]["mode"], "A");
        assert_eq!(object["metadata"]["name"], "a");
    }

    #[test]
    fn violations_are_listed_by_field_path() {
        let mut object =
            json!({"spec": {"replicas": -1, "mode": "C", "surge": true, "labels": {"a": 1}}});
        let errors = apply(&schema(), &mut object).unwrap_err();
        let text = errors.join("\n");
        assert!(
            text.contains("spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
            "{text}"
        );
        assert!(
            text.contains("spec.mode: Unsupported value: \"C\""),
            "{text}"
        );
        assert!(
            text.contains("spec.surge: Invalid value: true: must be an integer or a string"),
            "{text}"
        );
        assert!(
            text.contains("spec.labels.a: Invalid value: 1: must be of type string"),
            "{text}"
        );
        let mut missing = json!({"spec": {}});
        assert_eq!(
            apply(&schema(), &mut missing).unwrap_err(),
            ["spec.replicas: Required value"]
        );
    }

    #[test]
    fn integers_out_of_their_format_are_refused() {
        let mut big = json!({"spec": {"replicas": 2_147_483_648_i64}});
        assert_eq!(
            apply(&schema(), &mut big).unwrap_err(),
            [
                "spec.replicas: Invalid value: 2147483648: must be of type int32 (from -2147483648 to 2147483647)"
            ]
        );
        let mut fits = json!({"spec": {"replicas": 2_147_483_647_i64}});
        apply(&schema(), &mut fits).unwrap();
    }

    #[test]
    fn one_of_needs_exactly_one_branch_and_nulls_follow_nullable() {
        let mut good = json!({"spec": {"replicas": 1, "note": null, "steps": [{"setWeight": 5}, {"pause": {}}]}});
        apply(&schema(), &mut good).unwrap();
        assert!(good["spec"]["note"].is_null());
        let mut bad =
            json!({"spec": {"replicas": 1, "steps": [{"setWeight": 5, "pause": {}}, {}]}});
        let errors = apply(&schema(), &mut bad).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        let mut dropped = json!({"spec": {"replicas": 1, "mode": null}});
        apply(&schema(), &mut dropped).unwrap();
        assert_eq!(
            dropped["spec"]["mode"], "A",
            "a null non-nullable field is dropped, then defaulted"
        );
    }
}
