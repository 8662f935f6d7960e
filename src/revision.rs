//! Revisions: each distinct pod template is one, named by a short hash of the template.

use std::hash::Hasher;

use fnv::FnvHasher;
use k8s_openapi::api::core::v1::PodTemplateSpec;

/// The label that ties pods, ReplicaSets and Service selectors to a revision.
pub const POD_TEMPLATE_HASH_LABEL: &str = "kulta.io/pod-template-hash";

/// Characters that cannot spell words, as Kubernetes uses for generated names.
const ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";
const LENGTH: usize = 10;

/// The revision of a pod template: a 10-character hash of its canonical JSON.
///
/// Kubernetes object fields serialize in a fixed order and maps are sorted, so equal
/// templates always hash the same.
pub fn pod_template_hash(template: &PodTemplateSpec) -> String {
    let mut hasher = HashWriter(FnvHasher::default());
    // Writing into a hasher cannot fail; serialization of these types cannot either.
    let _ = serde_json::to_writer(&mut hasher, template);
    let mut value = hasher.0.finish();
    let mut out = String::with_capacity(LENGTH);
    for _ in 0..LENGTH {
        let digit = usize::try_from(value % 27).unwrap_or(0);
        out.push(char::from(ALPHABET[digit]));
        value /= 27;
    }
    out
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

/// The name of a revision's ReplicaSet.
pub fn replica_set_name(rollout: &str, revision: &str) -> String {
    format!("{rollout}-{revision}")
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
}
