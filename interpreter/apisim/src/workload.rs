//! A stand-in for the ReplicaSet controller and the kubelet: a ReplicaSet's status converges
//! to its spec a configurable time after the spec changes; pods of some images never become
//! ready, or crash a while after they do.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How the pods of one image behave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageBehaviour {
    /// Never ready (image pull failure, crash loop).
    NeverReady,
    /// Ready after the usual delay, then unready from this long after the spec change.
    CrashAfter(Duration),
}

/// The workload model's settings and its queue of ReplicaSets due to change.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Time from a spec change to its pods being ready.
    pub ready_after: Duration,
    /// Behaviour per container image (the first container's).
    pub images: BTreeMap<String, ImageBehaviour>,
    /// ReplicaSets (namespace, name) and when their status is next due to change.
    pub(crate) due: BTreeMap<(String, String), Instant>,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            ready_after: Duration::from_millis(200),
            images: BTreeMap::new(),
            due: BTreeMap::new(),
        }
    }
}

impl Workload {
    /// The ReplicaSets due at or before `now`, removed from the queue.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<(String, String)> {
        let due: Vec<_> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &due {
            self.due.remove(key);
        }
        due
    }
}
