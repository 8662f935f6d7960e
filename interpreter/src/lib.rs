//! KULTA's interpreter: the IO side that gathers observations, calls the pure
//! [`kulta::step`], and carries out its effects; and the offline commands of the `kulta`
//! binary.

pub mod cdevents;
pub mod cli;
pub mod operator;
pub mod prometheus;
pub mod route;

use kube::CustomResourceExt;

/// The Rollout CRD as YAML, exactly as committed in `deploy/crd.yaml`.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    let crd = kulta::Rollout::crd();
    let yaml = serde_yaml_ng::to_string(&crd)?;
    Ok(format!(
        "# Generated from the Rust types by `kulta crd`; do not edit.\n---\n{yaml}"
    ))
}
