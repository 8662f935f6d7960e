//! A stand-in for the ReplicaSet controller and the kubelet: a ReplicaSet's status converges
//! to its spec a configurable time after the spec changes; pods of some images never become
//! ready, or crash a while after they do.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How the pods of one image behave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageBehaviour {
    /// Never ready (image pull failure, crash loop).
    NeverReady,
    /// Ready after the usual delay, then unready from this long after the spec change.
    CrashAfter(#[serde(with = "crate::duration")] Duration),
}

/// The workload model's settings as the control endpoint reads and writes them; absent
/// fields are left as they are, an image set to `null` behaves normally again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSettings {
    /// Time from a ReplicaSet's spec change to its pods being ready.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub ready_after: Option<Duration>,
    /// Behaviour per container image (the first container's); `None` removes it.
    #[serde(default)]
    pub images: BTreeMap<String, Option<ImageBehaviour>>,
}

mod optional_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => crate::duration::serialize(duration, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => crate::duration::parse(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
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
    /// The settings as the control endpoint shows them.
    pub fn settings(&self) -> WorkloadSettings {
        WorkloadSettings {
            ready_after: Some(self.ready_after),
            images: self
                .images
                .iter()
                .map(|(image, behaviour)| (image.clone(), Some(behaviour.clone())))
                .collect(),
        }
    }

    /// Change what `settings` names, keep the rest.
    pub fn change(&mut self, settings: WorkloadSettings) {
        if let Some(delay) = settings.ready_after {
            self.ready_after = delay;
        }
        for (image, behaviour) in settings.images {
            match behaviour {
                Some(behaviour) => self.images.insert(image, behaviour),
                None => self.images.remove(&image),
            };
        }
    }

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
