//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for, with a
//! custom kind's `additionalPrinterColumns`.

use serde_json::{Value, json};

use crate::resource::{PrinterColumn, ResourceType};

/// Whether the client asked for a Table.
pub fn wanted(accept: &str) -> bool {
    accept.contains("as=Table")
}

/// A Table of `objects`.
pub fn table(rt: &ResourceType, objects: &[&Value], resource_version: u64) -> Value {
    let mut columns = vec![json!({
        "name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace.", "priority": 0
    })];
    let printer = printer_columns(rt);
    for column in &printer {
        columns.push(json!({
            "name": column.name, "type": column.type_, "format": "",
            "description": column.description, "priority": column.priority
        }));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut cells = vec![object["metadata"]["name"].clone()];
            for column in &printer {
                let value = evaluate(object, &column.json_path);
                cells.push(if column.type_ == "date" {
                    age(&value)
                } else {
                    value
                });
            }
            json!({
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": object["metadata"],
                }
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// A custom kind's printer columns; built-in kinds show their age.
fn printer_columns(rt: &ResourceType) -> Vec<PrinterColumn> {
    if rt.printer_columns.is_empty() {
        return vec![PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            json_path: ".metadata.creationTimestamp".into(),
            description: String::new(),
            priority: 0,
        }];
    }
    rt.printer_columns.clone()
}

/// A simple JSONPath (`.status.phase`, `.spec.items[0].name`).
fn evaluate(object: &Value, path: &str) -> Value {
    let mut node = object;
    for part in path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        let (field, index) = match part.split_once('[') {
            Some((field, rest)) => (field, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        node = &node[field];
        if let Some(index) = index {
            node = &node[index];
        }
    }
    node.clone()
}

/// `5m`, `3h`, `2d`: the age of a timestamp, as kubectl shows it.
fn age(value: &Value) -> Value {
    let Some(text) = value.as_str() else {
        return Value::Null;
    };
    let Ok(then) = chrono::DateTime::parse_from_rfc3339(text) else {
        return Value::Null;
    };
    let seconds = (chrono::Utc::now() - then.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    let shown = match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    };
    shown.into()
}
