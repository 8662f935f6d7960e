//! The Rollouts the controller keeps in memory, as compact as a reconcile allows: each is its
//! metadata and its spec and status as JSON, parsed again by the reconcile that uses it.
//!
//! The typed Rollout holds the pod template as `k8s-openapi` structs, whose every optional
//! field takes its room inline: about 6 KiB per Rollout whatever it sets, 60 MB of the heap
//! at 10,000 Rollouts. The JSON of a usual spec and status is a tenth of that. Parsing it back
//! costs a few microseconds, once per reconcile; a resync at rest does not reconcile at all.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::runtime::watcher::Event;
use kulta::{Rollout, RolloutSpec, RolloutStatus};
use serde::{Deserialize, Deserializer, Serialize};

/// A Rollout as the controller's cache holds it.
#[derive(Clone, Debug)]
pub struct CachedRollout {
    metadata: ObjectMeta,
    /// `{"spec": …, "status": …}`; `None` if it could not be written, and the reconcile then
    /// reads the Rollout from the API.
    body: Option<Box<str>>,
}

#[derive(Serialize)]
struct BodyRef<'a> {
    spec: &'a RolloutSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a RolloutStatus>,
}

#[derive(Deserialize)]
struct Body {
    spec: RolloutSpec,
    #[serde(default)]
    status: Option<RolloutStatus>,
}

impl CachedRollout {
    /// Keep what decisions read of `rollout` (see [`super::cache::trim`]), compactly.
    pub fn new(mut rollout: Rollout) -> Self {
        super::cache::trim(&mut rollout);
        let body = BodyRef {
            spec: &rollout.spec,
            status: rollout.status.as_ref(),
        };
        let body = match serde_json::to_string(&body) {
            Ok(json) => Some(json.into_boxed_str()),
            Err(error) => {
                uncached(&rollout.metadata, &error);
                None
            }
        };
        Self {
            metadata: rollout.metadata,
            body,
        }
    }

    /// The whole Rollout again, or `None` if the cache could not keep it.
    pub fn rollout(&self) -> Option<Rollout> {
        let body: Body = match serde_json::from_str(self.body.as_deref()?) {
            Ok(body) => body,
            Err(error) => {
                uncached(&self.metadata, &error);
                return None;
            }
        };
        Some(Rollout {
            metadata: self.metadata.clone(),
            spec: body.spec,
            status: body.status,
        })
    }
}

/// Say that a Rollout's spec and status could not go through the cache (written or read
/// back): its reconciles read it from the API instead.
fn uncached(metadata: &ObjectMeta, error: &serde_json::Error) {
    tracing::warn!(
        namespace = ?metadata.namespace,
        rollout = ?metadata.name,
        %error,
        "this Rollout's spec and status do not go through the cache; reconciles read it afresh"
    );
}

/// A watch event of Rollouts as the cache keeps them.
pub fn compact(event: Event<Rollout>) -> Event<CachedRollout> {
    match event {
        Event::Apply(rollout) => Event::Apply(CachedRollout::new(rollout)),
        Event::Delete(rollout) => Event::Delete(CachedRollout::new(rollout)),
        Event::Init => Event::Init,
        Event::InitApply(rollout) => Event::InitApply(CachedRollout::new(rollout)),
        Event::InitDone => Event::InitDone,
    }
}

impl Resource for CachedRollout {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Rollout::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        Rollout::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        Rollout::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        Rollout::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Read as a Rollout is, then kept compactly (kube-runtime's controller asks its objects to
/// be readable; the watch that feeds the cache reads Rollouts and compacts them itself).
impl<'de> Deserialize<'de> for CachedRollout {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Rollout::deserialize(deserializer).map(CachedRollout::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::ResourceExt;
    use serde_json::json;

    fn rollout(status: serde_json::Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "kulta.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {
                "name": "web", "namespace": "shop", "resourceVersion": "42", "uid": "u-1",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                "team": "checkout"},
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "web:1",
                                 "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}}]}},
                "strategy": {"canary": {"stableService": "web-stable", "canaryService": "web-canary",
                    "steps": [{"setWeight": 20}, {"pause": {"duration": "1m"}}]}}
            },
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_cached_rollout_gives_back_the_rollout_less_what_no_decision_reads() {
        let status = json!({"phase": "Paused", "currentStepIndex": 1, "currentWeight": 20,
                            "stableRevision": "abc", "canaryRevision": "def"});
        for original in [rollout(status), rollout(serde_json::Value::Null)] {
            let cached = CachedRollout::new(original.clone());
            let mut expected = original;
            crate::operator::cache::trim(&mut expected);
            let back = serde_json::to_value(cached.rollout().unwrap()).unwrap();
            assert_eq!(back, serde_json::to_value(expected).unwrap());
            assert_eq!(cached.name_any(), "web");
            assert_eq!(cached.resource_version().as_deref(), Some("42"));
            assert_eq!(cached.annotations().len(), 1, "last-applied is dropped");
        }
    }

    #[test]
    fn a_cached_rollout_is_a_rollout_to_kubernetes() {
        assert_eq!(CachedRollout::kind(&()), "Rollout");
        assert_eq!(CachedRollout::api_version(&()), "kulta.io/v1alpha1");
        assert_eq!(CachedRollout::plural(&()), "rollouts");
        let read: CachedRollout =
            serde_json::from_value(serde_json::to_value(rollout(json!({}))).unwrap()).unwrap();
        assert_eq!(read.rollout().unwrap().spec.replicas, 3);
    }
}
