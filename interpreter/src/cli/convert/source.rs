//! Reading a peer's object field by field, remembering which fields were used, so that every
//! field the conversion did not carry over can be named (none is lost in silence).

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde_yaml_ng::{Mapping, Value};

use super::emit::OutPath;

/// A mapping of the source object, at a path, with the keys read so far.
pub struct Obj<'a> {
    map: Option<&'a Mapping>,
    /// Where it is in its object, for messages: `spec.strategy.canary`.
    pub path: String,
    taken: RefCell<BTreeSet<String>>,
}

impl<'a> Obj<'a> {
    /// The mapping `value` at `path` (an empty one when `value` is not a mapping).
    pub fn new(value: &'a Value, path: impl Into<String>) -> Self {
        Obj {
            map: value.as_mapping(),
            path: path.into(),
            taken: RefCell::new(BTreeSet::new()),
        }
    }

    /// The path of a field of this mapping.
    pub fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// A field, marked as read.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.read(key, Some)
    }

    /// A field that `read` can use, marked as read only then: a field of an unexpected shape
    /// stays unread, so it is reported as not carried over rather than lost.
    pub fn read<T>(&self, key: &str, read: impl FnOnce(&'a Value) -> Option<T>) -> Option<T> {
        let value = read(self.map?.get(key)?)?;
        self.taken.borrow_mut().insert(key.to_string());
        Some(value)
    }

    /// A field that is a mapping.
    pub fn obj(&self, key: &str) -> Option<Obj<'a>> {
        self.read(key, |value| {
            value.is_mapping().then(|| Obj::new(value, self.at(key)))
        })
    }

    /// A field that is text.
    pub fn text(&self, key: &str) -> Option<&'a str> {
        self.read(key, Value::as_str)
    }

    /// A field that is an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.read(key, Value::as_i64)
    }

    /// A field that is a boolean.
    pub fn flag(&self, key: &str) -> Option<bool> {
        self.read(key, Value::as_bool)
    }

    /// A field that is a list (empty when absent or not a list).
    pub fn list(&self, key: &str) -> &'a [Value] {
        self.read(key, |value| value.as_sequence().map(Vec::as_slice))
            .unwrap_or(&[])
    }

    /// Mark a field as dealt with without reading it.
    pub fn skip(&self, key: &str) {
        let _ = self.get(key);
    }

    /// The fields not read, with their paths and values, in the order written.
    pub fn unread(&self) -> Vec<(String, &'a Value)> {
        let taken = self.taken.borrow();
        self.map
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| {
                let key = key.as_str()?;
                (!taken.contains(key)).then(|| (self.at(key), value))
            })
            .collect()
    }
}

/// A field of the source that the conversion could not carry over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// Where the comment goes in the output.
    pub at: OutPath,
    /// The source field: `spec.strategy.canary.antiAffinity`, prefixed with the object when it
    /// is not the converted one (`AnalysisTemplate shop/success-rate: spec.metrics[0]`).
    pub source: String,
    /// Why it was not carried over.
    pub reason: String,
}

/// What a conversion noted as it went.
#[derive(Default, Debug)]
pub struct Notes {
    /// Fields not carried over.
    pub dropped: Vec<Dropped>,
}

impl Notes {
    /// Record a field not carried over.
    pub fn drop(&mut self, at: &OutPath, source: impl Into<String>, reason: impl Into<String>) {
        self.dropped.push(Dropped {
            at: at.clone(),
            source: source.into(),
            reason: reason.into(),
        });
    }

    /// Record every field of `obj` not read, each with the reason `reason` gives for its name
    /// (or a general one).
    pub fn drop_unread(
        &mut self,
        obj: &Obj<'_>,
        at: &OutPath,
        reason: impl Fn(&str) -> Option<&'static str>,
    ) {
        for (path, _) in obj.unread() {
            let key = path.rsplit('.').next().unwrap_or(&path).to_string();
            let why = reason(&key)
                .unwrap_or("KULTA has no such field, or not with a value of this shape");
            self.drop(at, path, why);
        }
    }
}
