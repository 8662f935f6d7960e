//! Revisions: each distinct pod template is one, named by a short hash of the template.
//!
//! A short hash can collide (on purpose, too: 10 characters fall to a birthday search), so each
//! ReplicaSet also carries a strong digest of the template it was made from. When the name a
//! template hashes to is held by a ReplicaSet of another template, or by an object that is not
//! the Rollout's, the Rollout's collision count goes up and becomes part of the hash, as a
//! Deployment's `collisionCount` does.

use std::hash::Hasher;

use fnv::FnvHasher;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use sha2::{Digest, Sha256};

/// The label that ties pods, ReplicaSets and Service selectors to a revision.
pub const POD_TEMPLATE_HASH_LABEL: &str = "kulta.io/pod-template-hash";

/// The annotation on a ReplicaSet holding [`template_digest`] of the template it was made from.
pub const POD_TEMPLATE_DIGEST_ANNOTATION: &str = "kulta.io/pod-template-digest";

/// On a ReplicaSet being adopted, until all its running pods carry the revision label: a
/// crash in between leaves it here, and the adoption is carried out again.
pub const ADOPTING_ANNOTATION: &str = "kulta.io/adopting";

/// The hash labels other controllers put on their ReplicaSets' pods: a Deployment's and an
/// Argo Rollout's. A template taken over from them is compared without these, and a Service
/// KULTA points at a revision stops selecting by them.
pub const FOREIGN_HASH_LABELS: [&str; 2] = ["pod-template-hash", "rollouts-pod-template-hash"];

/// Characters that cannot spell words, as Kubernetes uses for generated names.
const ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";
const LENGTH: usize = 10;

/// The revision of a pod template: a 10-character hash of its canonical JSON.
///
/// Kubernetes object fields serialize in a fixed order and maps are sorted, so equal
/// templates always hash the same.
pub fn pod_template_hash(template: &PodTemplateSpec) -> String {
    template_revision(template, 0)
}

/// The revision of a pod template under a Rollout's collision count: the count is hashed after
/// the template when it is above zero, so a Rollout that never collided keeps its names.
pub fn template_revision(template: &PodTemplateSpec, collision_count: u32) -> String {
    let mut hasher = HashWriter(FnvHasher::default());
    // Writing into a hasher cannot fail; serialization of these types cannot either.
    let _ = serde_json::to_writer(&mut hasher, template);
    if collision_count > 0 {
        hasher.0.write(collision_count.to_string().as_bytes());
    }
    let mut value = hasher.0.finish();
    let mut out = String::with_capacity(LENGTH);
    for _ in 0..LENGTH {
        let digit = usize::try_from(value % 27).unwrap_or(0);
        out.push(char::from(ALPHABET[digit]));
        value /= 27;
    }
    out
}

impl crate::spec::Rollout {
    /// The revision the Rollout's template ships as now, under its status's collision count.
    pub fn template_revision(&self) -> String {
        let collisions = self
            .status
            .as_ref()
            .map_or(0, |status| status.collision_count);
        template_revision(&self.spec.template, collisions)
    }
}

/// A digest of a pod template that no search can collide: the first 128 bits of the SHA-256 of
/// its canonical JSON, in hex. Written on each ReplicaSet so that a ReplicaSet whose short hash
/// matches but whose template differs is told apart.
pub fn template_digest(template: &PodTemplateSpec) -> String {
    let mut hasher = DigestWriter(Sha256::new());
    // As above: neither the writer nor the serialization can fail.
    let _ = serde_json::to_writer(&mut hasher, template);
    let digest = hasher.0.finalize();
    digest
        .iter()
        .take(16)
        .fold(String::with_capacity(32), |mut out, byte| {
            use std::fmt::Write;
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// Feeds serialized bytes into a SHA-256.
struct DigestWriter(Sha256);

impl std::io::Write for DigestWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Feeds serialized bytes straight into the hasher, with no buffer in between.
struct HashWriter(FnvHasher);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The longest ReplicaSet name: a DNS subdomain (253) that leaves room for the `-xxxxx` its
/// pods' generated names append.
const MAX_REPLICA_SET_NAME: usize = 253 - 6;

/// The name of a revision's ReplicaSet: `<rollout>-<revision>`, the Rollout's name cut short
/// when it is too long, as a Deployment's would be, so the revision hash always survives.
pub fn replica_set_name(rollout: &str, revision: &str) -> String {
    let room = MAX_REPLICA_SET_NAME.saturating_sub(revision.len() + 1);
    let mut end = rollout.len().min(room);
    while !rollout.is_char_boundary(end) {
        end -= 1;
    }
    // A DNS subdomain's labels end with an alphanumeric: no `.-` or `--` before the hash.
    let prefix = rollout[..end].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{prefix}-{revision}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn equal_templates_share_a_revision_and_different_ones_do_not() {
        let a = pod_template_hash(&template("app:1"));
        assert_eq!(a, pod_template_hash(&template("app:1")));
        assert_ne!(a, pod_template_hash(&template("app:2")));
        assert_eq!(a.len(), 10);
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)));
    }

    #[test]
    fn a_collision_count_renames_the_revision_and_zero_keeps_the_old_name() {
        let t = template("app:1");
        assert_eq!(template_revision(&t, 0), pod_template_hash(&t));
        assert_ne!(template_revision(&t, 1), pod_template_hash(&t));
        assert_ne!(template_revision(&t, 1), template_revision(&t, 2));
        assert_eq!(template_revision(&t, 2), template_revision(&t, 2));
    }

    #[test]
    fn digests_tell_templates_apart_and_agree_on_equal_ones() {
        let a = template_digest(&template("app:1"));
        assert_eq!(a.len(), 32);
        assert_eq!(a, template_digest(&template("app:1")));
        assert_ne!(a, template_digest(&template("app:2")));
    }

    #[test]
    fn a_long_rollout_name_is_cut_short_and_keeps_the_hash() {
        assert_eq!(replica_set_name("checkout", "bcdf2"), "checkout-bcdf2");
        let revision = pod_template_hash(&template("app:1"));
        let long = format!("{}.{}", "a".repeat(200), "b".repeat(52));
        assert_eq!(long.len(), 253);
        let name = replica_set_name(&long, &revision);
        assert_eq!(name.len(), MAX_REPLICA_SET_NAME);
        assert!(name.ends_with(&format!("-{revision}")));
        assert!(name.starts_with(&"a".repeat(200)));
        // Cut right after a dot, the prefix loses the dot too.
        let dotted = format!("{}.{}", "a".repeat(235), "b".repeat(17));
        let name = replica_set_name(&dotted, &revision);
        assert_eq!(name, format!("{}-{revision}", "a".repeat(235)));
        let cut_at_hyphen = format!("{}-{}", "a".repeat(235), "b".repeat(17));
        let name = replica_set_name(&cut_at_hyphen, &revision);
        assert_eq!(name, format!("{}-{revision}", "a".repeat(235)));
    }
}
