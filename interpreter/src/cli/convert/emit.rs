//! YAML out, with comments: the converted Rollout as a person reviews it, each dropped field
//! commented next to where it would have gone. (The YAML crates write no comments.)

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_yaml_ng::Value;

/// One step of a path into a YAML value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path into the output, such as `spec.strategy.canary.steps[2]`.
pub type OutPath = Vec<Seg>;

/// Build a path of keys.
pub fn keys(keys: &[&str]) -> OutPath {
    keys.iter()
        .map(|key| Seg::Key((*key).to_string()))
        .collect()
}

/// `value` as block YAML; each comment is written on its own lines just before the entry its
/// path names, or before the closest enclosing entry that exists, or at the top.
pub fn to_yaml(value: &Value, comments: &[(OutPath, String)]) -> String {
    let mut placed: BTreeMap<OutPath, Vec<&str>> = BTreeMap::new();
    for (path, text) in comments {
        let mut at = path.clone();
        while !at.is_empty() && lookup(value, &at).is_none() {
            at.pop();
        }
        placed.entry(at).or_default().push(text);
    }
    let mut out = String::new();
    if let Some(top) = placed.get(&Vec::new()) {
        for text in top {
            comment(&mut out, 0, text);
        }
    }
    let mut path = Vec::new();
    match value {
        Value::Mapping(map) if !map.is_empty() => mapping(&mut out, map, 0, &mut path, &placed),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn lookup<'a>(value: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut node = value;
    for seg in path {
        node = match seg {
            Seg::Key(key) => node.as_mapping()?.get(key.as_str())?,
            Seg::Index(index) => node.as_sequence()?.get(*index)?,
        };
    }
    Some(node)
}

fn comment(out: &mut String, indent: usize, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "{:indent$}# {line}", "");
    }
}

fn comments_at(
    out: &mut String,
    indent: usize,
    path: &OutPath,
    placed: &BTreeMap<OutPath, Vec<&str>>,
) {
    if let Some(texts) = placed.get(path) {
        for text in texts {
            comment(out, indent, text);
        }
    }
}

fn mapping(
    out: &mut String,
    map: &serde_yaml_ng::Mapping,
    indent: usize,
    path: &mut OutPath,
    placed: &BTreeMap<OutPath, Vec<&str>>,
) {
    for (key, value) in map {
        let key_text = match key {
            Value::String(text) => text.clone(),
            other => scalar(other, indent),
        };
        path.push(Seg::Key(key_text.clone()));
        comments_at(out, indent, path, placed);
        let key_text = scalar(&Value::String(key_text), indent);
        let _ = write!(out, "{:indent$}{key_text}:", "");
        entry_value(out, value, indent, path, placed);
        path.pop();
    }
}

/// The value after `key:` (or `-`): inline when it is a scalar or empty, else on the lines
/// below, indented.
fn entry_value(
    out: &mut String,
    value: &Value,
    indent: usize,
    path: &mut OutPath,
    placed: &BTreeMap<OutPath, Vec<&str>>,
) {
    match value {
        Value::Mapping(map) if !map.is_empty() => {
            out.push('\n');
            mapping(out, map, indent + 2, path, placed);
        }
        Value::Sequence(items) if !items.is_empty() => {
            out.push('\n');
            sequence(out, items, indent + 2, path, placed);
        }
        Value::Tagged(tagged) => entry_value(out, &tagged.value, indent, path, placed),
        other => {
            let _ = writeln!(out, " {}", scalar(other, indent));
        }
    }
}

fn sequence(
    out: &mut String,
    items: &[Value],
    indent: usize,
    path: &mut OutPath,
    placed: &BTreeMap<OutPath, Vec<&str>>,
) {
    for (index, item) in items.iter().enumerate() {
        path.push(Seg::Index(index));
        comments_at(out, indent, path, placed);
        match item {
            Value::Mapping(map) if !map.is_empty() => {
                let mut inner = String::new();
                mapping(&mut inner, map, indent + 2, path, placed);
                let first_is_comment = inner.trim_start().starts_with('#');
                if first_is_comment {
                    let _ = writeln!(out, "{:indent$}-", "");
                    out.push_str(&inner);
                } else {
                    let _ = write!(out, "{:indent$}- ", "");
                    out.push_str(inner.get(indent + 2..).unwrap_or(&inner));
                }
            }
            Value::Sequence(inner) if !inner.is_empty() => {
                let _ = writeln!(out, "{:indent$}-", "");
                sequence(out, inner, indent + 2, path, placed);
            }
            other => {
                let _ = writeln!(out, "{:indent$}- {}", "", scalar(other, indent));
            }
        }
        path.pop();
    }
}

/// A scalar (or an empty collection) on one line, or a literal block for multi-line text
/// whose lines sit at `indent + 2`.
fn scalar(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => string(text, indent),
        Value::Mapping(_) => "{}".into(),
        Value::Sequence(_) => "[]".into(),
        Value::Tagged(tagged) => scalar(&tagged.value, indent),
    }
}

fn string(text: &str, indent: usize) -> String {
    if text.contains('\n') {
        let starts_blank = text.starts_with([' ', '\t', '\n']);
        let (body, chomp) = match text.strip_suffix('\n') {
            Some(body) if !body.ends_with('\n') => (body, "|"),
            Some(_) => (text, ""),
            None => (text, "|-"),
        };
        if !starts_blank && !chomp.is_empty() && !body.contains('\r') {
            let mut block = chomp.to_string();
            for line in body.split('\n') {
                block.push('\n');
                if !line.is_empty() {
                    let _ = write!(block, "{:width$}{line}", "", width = indent + 2);
                }
            }
            return block;
        }
        return serde_json::to_string(text).unwrap_or_default();
    }
    match serde_yaml_ng::to_string(&Value::String(text.to_string())) {
        Ok(yaml)
            if !yaml.trim_end().contains('\n')
                && !yaml.starts_with(['|', '>'])
                && !yaml_1_1_keyword(yaml.trim_end()) =>
        {
            yaml.trim_end().to_string()
        }
        _ => serde_json::to_string(text).unwrap_or_default(),
    }
}

/// Words a YAML 1.1 reader (such as the one `kubectl` uses) takes for a boolean or null when
/// they are not quoted.
fn yaml_1_1_keyword(plain: &str) -> bool {
    matches!(
        plain.to_ascii_lowercase().as_str(),
        "y" | "yes" | "n" | "no" | "on" | "off" | "true" | "false" | "null" | "~"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_sit_before_their_entry_and_the_output_reads_back_the_same() {
        let text = "a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 1\n      f: two words\n    - 3\n  q: \"sum(x)\\n/\\nsum(y)\\n\"\n  s: ''\n  t: 'yes'\n  u: 'on'\n";
        let value: Value = serde_yaml_ng::from_str(text).unwrap();
        let comments = vec![
            (keys(&["b", "d"]), "dropped here".to_string()),
            (
                vec![Seg::Key("b".into()), Seg::Key("d".into()), Seg::Index(0)],
                "first item".to_string(),
            ),
            (
                vec![
                    Seg::Key("b".into()),
                    Seg::Key("d".into()),
                    Seg::Index(0),
                    Seg::Key("e".into()),
                ],
                "on a first key".to_string(),
            ),
            (keys(&["nowhere", "deep"]), "at the top".to_string()),
        ];
        let yaml = to_yaml(&value, &comments);
        assert!(yaml.starts_with("# at the top\na: 1\n"), "{yaml}");
        assert!(
            yaml.contains("  # dropped here\n  d:\n    # first item\n    -\n      # on a first key\n      e: 1\n      f: two words\n    - 3\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("  q: |\n    sum(x)\n    /\n    sum(y)\n"),
            "{yaml}"
        );
        assert!(yaml.contains("  t: \"yes\"\n  u: \"on\"\n"), "{yaml}");
        let back: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(back, value, "{yaml}");
    }
}
