//! Field ownership for server-side apply: which field manager set which fields of an object,
//! and the conflicts that follow when another manager applies a different value.
//!
//! Fields are leaves of the object (lists count as one field, as atomic lists do); the
//! server-owned parts of `metadata` are not tracked.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// A field: the keys from the object's root.
pub type FieldPath = Vec<String>;

/// Who owns which fields of one object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Owners {
    managers: BTreeMap<String, BTreeSet<FieldPath>>,
}

/// The leaf fields of an object that managers can own.
pub fn fields(object: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    if let Some(map) = object.as_object() {
        for (key, value) in map {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    for owned in ["labels", "annotations"] {
                        collect(
                            &value[owned],
                            vec!["metadata".into(), owned.into()],
                            &mut out,
                        );
                    }
                }
                _ => collect(value, vec![key.clone()], &mut out),
            }
        }
    }
    out
}

fn collect(value: &Value, path: FieldPath, out: &mut BTreeSet<FieldPath>) {
    match value {
        Value::Null => {}
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let mut child_path = path.clone();
                child_path.push(key.clone());
                collect(child, child_path, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// The value at a field, if present.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |node, key| node.get(key))
}

/// Remove a field (and parents it leaves empty).
pub fn remove(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = object;
    for key in parents {
        match node.get_mut(key) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.remove(last);
    }
}

/// Show a field as kubectl does: `.spec.replicas`.
pub fn show(path: &[String]) -> String {
    path.iter().map(|key| format!(".{key}")).collect()
}

impl Owners {
    /// The fields `manager` owns.
    pub fn owned_by(&self, manager: &str) -> BTreeSet<FieldPath> {
        self.managers.get(manager).cloned().unwrap_or_default()
    }

    /// Fields of `config` that another manager owns with a value `current` does not share
    /// with `config`: (manager, field) pairs.
    pub fn conflicts(
        &self,
        manager: &str,
        current: &Value,
        config: &Value,
    ) -> Vec<(String, FieldPath)> {
        let mut conflicts = Vec::new();
        for field in fields(config) {
            if value_at(current, &field) == value_at(config, &field) {
                continue;
            }
            for (other, owned) in &self.managers {
                if other != manager && owned.contains(&field) {
                    conflicts.push((other.clone(), field.clone()));
                }
            }
        }
        conflicts
    }

    /// `manager` now owns exactly `owned`; nobody else owns those fields any more.
    pub fn set(&mut self, manager: &str, owned: BTreeSet<FieldPath>) {
        for (other, fields) in self.managers.iter_mut() {
            if other != manager {
                fields.retain(|f| !owned.contains(f));
            }
        }
        self.managers.insert(manager.to_string(), owned);
        self.managers.retain(|_, fields| !fields.is_empty());
    }

    /// `manager` applied exactly `applied`; it took `forced` from whoever owned them. Fields
    /// applied with the value another manager already set are owned by both.
    pub fn apply(
        &mut self,
        manager: &str,
        applied: BTreeSet<FieldPath>,
        forced: &BTreeSet<FieldPath>,
    ) {
        for (other, fields) in self.managers.iter_mut() {
            if other != manager {
                fields.retain(|f| !forced.contains(f));
            }
        }
        self.managers.insert(manager.to_string(), applied);
        self.managers.retain(|_, fields| !fields.is_empty());
    }

    /// `manager` changed these fields with an ordinary write: it owns them now.
    pub fn take(&mut self, manager: &str, changed: BTreeSet<FieldPath>) {
        let mut owned = self.owned_by(manager);
        owned.extend(changed);
        self.set(manager, owned);
    }

    /// Whether any manager other than `manager` owns `field`.
    pub fn owned_by_other(&self, manager: &str, field: &FieldPath) -> bool {
        self.managers
            .iter()
            .any(|(other, fields)| other != manager && fields.contains(field))
    }
}

/// The fields whose values differ between two versions of an object.
pub fn changed(before: Option<&Value>, after: &Value) -> BTreeSet<FieldPath> {
    let now = fields(after);
    match before {
        None => now,
        Some(before) => {
            let old = fields(before);
            now.union(&old)
                .filter(|f| value_at(before, f) != value_at(after, f))
                .filter(|f| now.contains(*f))
                .cloned()
                .collect()
        }
    }
}
