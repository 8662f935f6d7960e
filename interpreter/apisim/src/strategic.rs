//! Strategic merge patch for the built-in kinds: like a JSON merge patch, except that lists
//! with a merge key (containers by name, ports by port, ...) are merged element by element,
//! `metadata.finalizers` is merged as a set, and `$patch: replace | delete` directives apply.

use serde_json::{Map, Value};

/// Apply `patch` to `target`, an object of `kind`.
pub fn apply(kind: &str, target: &mut Value, patch: &Value) {
    merge(kind, &mut Vec::new(), target, patch);
}

/// The merge key of the list at `path` (field names from the object's root), if it has one.
fn merge_key(kind: &str, path: &[String]) -> Option<&'static str> {
    let field = path.last()?.as_str();
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => "name",
        "volumeMounts" => "mountPath",
        "ownerReferences" => "uid",
        "conditions" => "type",
        "ports" if kind == "Service" && path.len() == 2 => "port",
        "ports" => "containerPort",
        _ => return None,
    })
}

fn merge(kind: &str, path: &mut Vec<String>, target: &mut Value, patch: &Value) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    match patch_map.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch_map.clone();
            replaced.remove("$patch");
            *target = Value::Object(replaced);
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(target_map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch_map {
        if key == "$patch" {
            continue;
        }
        path.push(key.clone());
        if value.is_null() {
            target_map.remove(key);
        } else if let (Some(items), Some(merge_by)) = (value.as_array(), merge_key(kind, path)) {
            let existing = target_map
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            merge_list(kind, path, existing, items, merge_by);
        } else if key == "finalizers" && path.len() == 2 && value.is_array() {
            let existing = target_map
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let (Some(list), Some(added)) = (existing.as_array_mut(), value.as_array()) {
                for item in added {
                    if !list.contains(item) {
                        list.push(item.clone());
                    }
                }
            }
        } else if value.is_object() {
            let slot = target_map.entry(key.clone()).or_insert(Value::Null);
            merge(kind, path, slot, value);
            if slot.is_null() {
                target_map.remove(key);
            }
        } else {
            target_map.insert(key.clone(), value.clone());
        }
        path.pop();
    }
}

fn merge_list(kind: &str, path: &mut Vec<String>, target: &mut Value, patch: &[Value], key: &str) {
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let Some(list) = target.as_array_mut() else {
        return;
    };
    for element in patch {
        let Some(id) = element.get(key) else {
            // Without its merge key an element can only be added.
            list.push(element.clone());
            continue;
        };
        let position = list
            .iter()
            .position(|existing| existing.get(key) == Some(id));
        let delete = element.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(index), true) => {
                list.remove(index);
            }
            (None, true) => {}
            (Some(index), false) => merge(kind, path, &mut list[index], element),
            (None, false) => {
                let mut added = element.clone();
                if let Some(map) = added.as_object_mut() {
                    map.remove("$patch");
                }
                list.push(added);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_and_other_lists_are_kept() {
        let mut rs = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "proxy:1"}
        ]}}}});
        let patch = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "app", "image": "app:2", "ports": [{"containerPort": 9090, "name": "metrics"}]}
        ]}}}});
        apply("ReplicaSet", &mut rs, &patch);
        let containers = rs["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 2, "the sidecar stays");
        assert_eq!(containers[0]["image"], "app:2");
        assert_eq!(
            containers[0]["ports"].as_array().unwrap().len(),
            2,
            "ports merge by containerPort"
        );
        assert_eq!(rs["spec"]["replicas"], 3);
    }

    #[test]
    fn service_ports_merge_by_port_and_selectors_merge_as_maps() {
        let mut svc = json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}});
        let patch = json!({"spec": {"selector": {"kulta.io/pod-template-hash": "abc"}, "ports": [{"port": 80, "targetPort": 9090}]}});
        apply("Service", &mut svc, &patch);
        assert_eq!(
            svc["spec"]["selector"],
            json!({"app": "web", "kulta.io/pod-template-hash": "abc"})
        );
        assert_eq!(
            svc["spec"]["ports"],
            json!([{"port": 80, "targetPort": 9090}])
        );
    }

    #[test]
    fn directives_delete_and_replace() {
        let mut rs = json!({"metadata": {"finalizers": ["a"]}, "spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}, "selector": {"matchLabels": {"x": "1", "y": "2"}}}});
        let patch = json!({"metadata": {"finalizers": ["b"]}, "spec": {
            "template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}},
            "selector": {"matchLabels": {"$patch": "replace", "z": "3"}}}});
        apply("ReplicaSet", &mut rs, &patch);
        assert_eq!(
            rs["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b"}])
        );
        assert_eq!(rs["spec"]["selector"]["matchLabels"], json!({"z": "3"}));
        assert_eq!(rs["metadata"]["finalizers"], json!(["a", "b"]));
    }
}
