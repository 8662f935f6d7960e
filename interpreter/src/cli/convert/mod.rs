//! `kulta convert FILE…`: Argo Rollouts `Rollout`s and Flagger `Canary`s as KULTA `Rollout`s
//! on stdout, a reviewed diff rather than a rewrite.
//!
//! Templates the peers' objects refer to (AnalysisTemplates, ClusterAnalysisTemplates,
//! MetricTemplates, the Deployment a `workloadRef` or `targetRef` names) are looked up among
//! all the documents of all the files given. Every source field is either carried over or
//! named in a comment where it would have gone, with the reason; `--strict` exits 1 when any
//! was dropped. Each converted Rollout is checked with `kulta lint`'s own checks before it is
//! printed. The field mapping is documented in `docs/migrating.md`.

mod argo;
mod argo_analysis;
pub mod condition;
pub mod emit;
mod flagger;
mod source;

use std::io::Write;
use std::path::PathBuf;

use serde_yaml_ng::{Mapping, Value};

use super::lint;
use super::manifest::{self, Document, Who};
use super::{CliError, Outcome};
use emit::{OutPath, Seg};
use source::{Notes, Obj};

/// What came out of one source object.
pub struct Converted {
    /// The source object.
    pub source: Who,
    /// The objects to apply; the Rollout is last.
    pub documents: Vec<Value>,
    /// What could not be carried over.
    pub notes: Notes,
}

/// Every document given, to look referenced objects up in.
pub struct Index<'a> {
    documents: &'a [Document],
}

impl<'a> Index<'a> {
    /// The object of this group, kind and name; a namespaced one in `namespace` (a document
    /// without a namespace matches any, as `kubectl apply -n` would place it).
    pub fn find(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        namespaced: bool,
    ) -> Option<&'a Document> {
        self.documents.iter().find(|document| {
            document.is(group, kind)
                && document.name() == Some(name)
                && (!namespaced
                    || document.namespace().is_none()
                    || namespace.is_none()
                    || document.namespace() == namespace)
        })
    }
}

/// Set `key` in an output mapping.
pub fn put(map: &mut Mapping, key: &str, value: Value) {
    map.insert(Value::from(key), value);
}

/// Where a Rollout's pods come from when the source names a Deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Argo Rollouts' `spec.workloadRef`.
    ArgoWorkloadRef,
    /// Flagger's `spec.targetRef`.
    FlaggerTargetRef,
}

/// A `workloadRef` (Argo) or `targetRef` (Flagger) naming a Deployment becomes KULTA's
/// `workloadRef`: the Rollout ships the Deployment's pod template, and people keep editing the
/// Deployment. Argo's `scaleDown` carries over; a Flagger target is scaled down once the
/// Rollout completes (`onsuccess`), as Flagger scales it to zero after its first promotion.
/// The replicas and selector come from the source, else from the Deployment when it is in the
/// files.
pub fn workload(
    spec: &mut Mapping,
    reference: &Obj<'_>,
    namespace: Option<&str>,
    kind: Workload,
    index: &Index<'_>,
    at: &OutPath,
    notes: &mut Notes,
) {
    let name = reference.text("name").unwrap_or_default();
    let target_kind = reference.text("kind").unwrap_or("Deployment");
    reference.skip("apiVersion");
    let field = match kind {
        Workload::ArgoWorkloadRef => "spec.workloadRef",
        Workload::FlaggerTargetRef => "spec.targetRef",
    };
    if target_kind != "Deployment" {
        notes.drop(
            at,
            field,
            format!("a {target_kind} cannot be shipped by a KULTA Rollout; only a Deployment's pod template can"),
        );
        return;
    }
    let scale_down = match kind {
        Workload::ArgoWorkloadRef => match reference.text("scaleDown").unwrap_or("never") {
            known @ ("never" | "onsuccess" | "progressively") => known,
            other => {
                notes.drop(
                    at,
                    format!("{field}.scaleDown"),
                    format!("{other:?} is not never, onsuccess or progressively; never is used"),
                );
                "never"
            }
        },
        Workload::FlaggerTargetRef => "onsuccess",
    };
    let mut workload_ref = Mapping::new();
    put(&mut workload_ref, "apiVersion", Value::from("apps/v1"));
    put(&mut workload_ref, "kind", Value::from("Deployment"));
    put(&mut workload_ref, "name", Value::from(name));
    put(&mut workload_ref, "scaleDown", Value::from(scale_down));
    put(spec, "workloadRef", Value::Mapping(workload_ref));
    let deployment = index.find("apps", "Deployment", namespace, name, true);
    let from_deployment = |key: &str| deployment.and_then(|d| d.value["spec"].get(key).cloned());
    if !spec.contains_key("replicas") {
        match from_deployment("replicas") {
            Some(replicas) => put(spec, "replicas", replicas),
            // A Rollout defaults to 1 pod: scaling a larger Deployment down to that would cut
            // capacity, so the count must be looked at.
            None => notes.drop(
                at,
                "spec.replicas",
                format!("not set, and Deployment {name} is not in the files; a Rollout defaults to 1 pod, so set replicas to the Deployment's count"),
            ),
        }
    }
    if spec.contains_key("selector") {
        return;
    }
    let selector = from_deployment("selector");
    match (selector, kind) {
        (Some(selector), _) => put(spec, "selector", selector),
        // Flagger itself selects a target's pods by `app: <name>`.
        (None, Workload::FlaggerTargetRef) => {
            let mut labels = Mapping::new();
            put(&mut labels, "app", Value::from(name));
            let mut selector = Mapping::new();
            put(&mut selector, "matchLabels", Value::Mapping(labels));
            put(spec, "selector", Value::Mapping(selector));
        }
        (None, Workload::ArgoWorkloadRef) => notes.drop(
            at,
            "spec.selector",
            format!("not set, and Deployment {name} is not in the files given to kulta convert; set spec.selector to the Deployment's pod labels"),
        ),
    }
}

/// The start of a converted Rollout: its kind and the source's metadata; the source's
/// `apiVersion`, `kind` and `status` are read (not reported as dropped).
pub fn rollout_head(root: &Obj<'_>, notes: &mut Notes) -> Mapping {
    root.skip("apiVersion");
    root.skip("kind");
    root.skip("status");
    let mut rollout = Mapping::new();
    put(&mut rollout, "apiVersion", Value::from(lint::API_VERSION));
    put(&mut rollout, "kind", Value::from("Rollout"));
    if let Some(meta) = root.obj("metadata") {
        put(
            &mut rollout,
            "metadata",
            Value::Mapping(metadata(&meta, notes)),
        );
    }
    rollout
}

/// The metadata a Rollout keeps: name, namespace, labels and annotations (without the ones a
/// tool wrote). What the API server set is left out without a word.
pub fn metadata(meta: &Obj<'_>, notes: &mut Notes) -> Mapping {
    let mut out = Mapping::new();
    for key in ["name", "namespace", "labels"] {
        if let Some(value) = meta.get(key) {
            put(&mut out, key, value.clone());
        }
    }
    if let Some(Value::Mapping(annotations)) = meta.get("annotations") {
        let kept: Mapping = annotations
            .iter()
            .filter(|(key, _)| {
                key.as_str().is_some_and(|key| {
                    !key.starts_with("kubectl.kubernetes.io/")
                        && !key.starts_with("rollout.argoproj.io/")
                        && !key.starts_with("flagger.app/")
                })
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if !kept.is_empty() {
            put(&mut out, "annotations", Value::Mapping(kept));
        }
    }
    for server in [
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
    ] {
        meta.skip(server);
    }
    notes.drop_unread(meta, &vec![Seg::Key("metadata".into())], |key| match key {
        "ownerReferences" => Some("the Rollout is yours; no owner carried over"),
        "finalizers" => Some("the peer's finalizers belong to its controller"),
        _ => None,
    });
    out
}

/// Convert every Argo Rollout and Flagger Canary in `paths`; YAML on `out`, a summary on
/// `err`.
pub fn convert(
    paths: &[PathBuf],
    strict: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<Outcome, CliError> {
    let documents = manifest::read_all(paths)?;
    let index = Index {
        documents: &documents,
    };
    let mut outcome = Outcome::Ok;
    let mut converted_any = false;
    for document in &documents {
        let converted = if document.is("argoproj.io", "Rollout") {
            argo::convert(document, &index)
        } else if document.is("flagger.app", "Canary") {
            flagger::convert(document, &index)
        } else {
            continue;
        };
        converted_any = true;
        let (peer, source) = if document.group() == "argoproj.io" {
            ("Argo Rollouts", &converted.source)
        } else {
            ("Flagger", &converted.source)
        };
        let dropped = &converted.notes.dropped;
        let last = converted.documents.len().saturating_sub(1);
        for (position, object) in converted.documents.iter().enumerate() {
            writeln!(out, "---")?;
            if position == last {
                writeln!(
                    out,
                    "# Converted by `kulta convert` from {peer} {source} ({}).",
                    document.path.display()
                )?;
                if !dropped.is_empty() {
                    writeln!(
                        out,
                        "# {} not carried over; each is commented where it would have gone.",
                        plural(dropped.len(), "field was", "fields were")
                    )?;
                }
                let comments: Vec<(OutPath, String)> = dropped
                    .iter()
                    .map(|d| {
                        (
                            d.at.clone(),
                            format!("not carried over: {}: {}", d.source, d.reason),
                        )
                    })
                    .collect();
                out.write_all(emit::to_yaml(object, &comments).as_bytes())?;
            } else {
                writeln!(
                    out,
                    "# Generated by `kulta convert` from {peer} {source}: it made this object itself; now it is yours."
                )?;
                out.write_all(emit::to_yaml(object, &[]).as_bytes())?;
            }
        }
        let checked = converted.documents.last().map(|rollout| {
            lint::rollout(&Document {
                path: document.path.clone(),
                index: document.index,
                value: rollout.clone(),
            })
        });
        if let Some(Err(problems)) = checked {
            for problem in problems {
                writeln!(
                    err,
                    "kulta convert: {source}: the converted Rollout is not valid: {problem}"
                )?;
            }
            outcome = Outcome::BadInput;
        }
        if !dropped.is_empty() {
            writeln!(
                err,
                "kulta convert: {source}: {} not carried over (see the comments){}",
                plural(dropped.len(), "field was", "fields were"),
                if strict {
                    "; --strict makes that exit 1"
                } else {
                    ""
                }
            )?;
            if strict && outcome == Outcome::Ok {
                outcome = Outcome::Found;
            }
        }
    }
    if !converted_any {
        return Err(CliError::Usage(
            "kulta convert: no Argo Rollouts Rollout (argoproj.io) or Flagger Canary (flagger.app) in the files".into(),
        ));
    }
    Ok(outcome)
}

fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}
