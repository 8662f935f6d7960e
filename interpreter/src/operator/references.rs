//! Which Rollouts name an object (a Service, a Deployment, an HTTPRoute), kept from the
//! Rollout watch: an event on one of those objects finds its Rollouts in one lookup. Scanning
//! (and validating) every cached Rollout per event instead made a cluster's start quadratic:
//! at 10,000 canaries, each of their 20,000 Services' events validated all 10,000 specs.

use std::collections::BTreeMap;
use std::sync::Mutex;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;
use kulta::{Rollout, validate};

/// The kind of object a Rollout names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A Service of its strategy (stable, canary, active, preview).
    Service,
    /// Its `workloadRef` Deployment.
    Deployment,
    /// The HTTPRoute its traffic goes through.
    HttpRoute,
}

/// An object a Rollout names: kind, namespace, name.
type Key = (Kind, String, String);

/// A Rollout: namespace, name.
type Named = (String, String);

/// An object is named by one Rollout or a few, so each keeps a sorted vector of them (a
/// `BTreeSet` allocates a node of eleven slots per object).
#[derive(Default)]
struct Maps {
    by_object: BTreeMap<Key, Vec<Named>>,
    by_rollout: BTreeMap<Named, Vec<Key>>,
}

impl Maps {
    fn remove(&mut self, rollout: &Named) {
        for key in self.by_rollout.remove(rollout).unwrap_or_default() {
            if let Some(rollouts) = self.by_object.get_mut(&key) {
                rollouts.retain(|named| named != rollout);
                if rollouts.is_empty() {
                    self.by_object.remove(&key);
                }
            }
        }
    }

    fn insert(&mut self, rollout: &Rollout) {
        let named = named(rollout);
        self.remove(&named);
        let keys = keys(rollout);
        for key in &keys {
            let rollouts = self.by_object.entry(key.clone()).or_default();
            if let Err(at) = rollouts.binary_search(&named) {
                rollouts.insert(at, named.clone());
            }
        }
        if !keys.is_empty() {
            self.by_rollout.insert(named, keys);
        }
    }
}

fn named(rollout: &Rollout) -> Named {
    (rollout.namespace().unwrap_or_default(), rollout.name_any())
}

/// The objects a Rollout names. A spec that does not validate names no Service or route (its
/// reconcile reports the spec and touches nothing); its `workloadRef` still counts, so that
/// fixing the Deployment wakes it.
fn keys(rollout: &Rollout) -> Vec<Key> {
    let namespace = rollout.namespace().unwrap_or_default();
    let mut keys = Vec::new();
    if let Some(reference) = &rollout.spec.workload_ref {
        keys.push((Kind::Deployment, namespace.clone(), reference.name.clone()));
    }
    if let Ok(plan) = validate(&rollout.spec) {
        for service in plan.service_names() {
            keys.push((Kind::Service, namespace.clone(), service.to_string()));
        }
        if let Some(routing) = plan.routing() {
            let route_namespace = routing.namespace.unwrap_or(&namespace).to_string();
            keys.push((Kind::HttpRoute, route_namespace, routing.route.to_string()));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The objects every watched Rollout names.
#[derive(Default)]
pub struct References {
    maps: Mutex<Maps>,
    /// What a re-list has brought so far, between `Init` and `InitDone`.
    pending: Mutex<Option<Maps>>,
}

impl References {
    /// Apply one event of the Rollout watch.
    pub fn apply(&self, event: &Event<Rollout>) {
        match event {
            Event::Apply(rollout) => {
                if let Ok(mut maps) = self.maps.lock() {
                    maps.insert(rollout);
                }
            }
            Event::Delete(rollout) => {
                if let Ok(mut maps) = self.maps.lock() {
                    maps.remove(&named(rollout));
                }
            }
            Event::Init => {
                if let Ok(mut pending) = self.pending.lock() {
                    *pending = Some(Maps::default());
                }
            }
            Event::InitApply(rollout) => {
                if let Ok(mut pending) = self.pending.lock()
                    && let Some(pending) = pending.as_mut()
                {
                    pending.insert(rollout);
                }
            }
            Event::InitDone => {
                let relisted = self.pending.lock().ok().and_then(|mut p| p.take());
                if let (Some(relisted), Ok(mut maps)) = (relisted, self.maps.lock()) {
                    *maps = relisted;
                }
            }
        }
    }

    /// The Rollouts that name this object.
    pub fn naming<K>(&self, kind: Kind, namespace: &str, name: &str) -> Vec<ObjectRef<K>>
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let key = (kind, namespace.to_string(), name.to_string());
        let Ok(maps) = self.maps.lock() else {
            return Vec::new();
        };
        maps.by_object
            .get(&key)
            .into_iter()
            .flatten()
            .map(|(namespace, name)| ObjectRef::new(name).within(namespace))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rollout(name: &str, strategy: serde_json::Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "kulta.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                             "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": strategy
            }
        }))
        .unwrap()
    }

    fn routed(name: &str, stable: &str) -> Rollout {
        rollout(
            name,
            json!({"canary": {
                "stableService": stable, "canaryService": format!("{name}-canary"),
                "trafficRouting": {"gatewayAPI": {"httpRoute": "edge", "namespace": "gateways"}},
                "steps": [{"setWeight": 50}]
            }}),
        )
    }

    fn names(refs: Vec<ObjectRef<Rollout>>) -> Vec<String> {
        refs.into_iter().map(|r| r.name).collect()
    }

    #[test]
    fn an_object_finds_the_rollouts_that_name_it_as_they_change() {
        let references = References::default();
        references.apply(&Event::Init);
        references.apply(&Event::InitApply(routed("web", "shared-stable")));
        references.apply(&Event::InitApply(routed("api", "shared-stable")));
        references.apply(&Event::InitDone);
        let services =
            |name: &str| names(references.naming::<Rollout>(Kind::Service, "shop", name));
        assert_eq!(services("shared-stable"), ["api", "web"]);
        assert_eq!(services("web-canary"), ["web"]);
        assert!(services("other").is_empty());
        // The route is named in its own namespace.
        assert_eq!(
            names(references.naming::<Rollout>(Kind::HttpRoute, "gateways", "edge")),
            ["api", "web"]
        );
        assert!(
            references
                .naming::<Rollout>(Kind::HttpRoute, "shop", "edge")
                .is_empty()
        );

        // web moves to its own stable Service; api is deleted.
        references.apply(&Event::Apply(routed("web", "web-stable")));
        references.apply(&Event::Delete(routed("api", "shared-stable")));
        assert!(services("shared-stable").is_empty());
        assert_eq!(services("web-stable"), ["web"]);

        // A re-list replaces everything once it is done.
        references.apply(&Event::Init);
        references.apply(&Event::InitApply(rollout("batch", json!({"simple": {}}))));
        assert_eq!(
            services("web-stable"),
            ["web"],
            "kept until the re-list is done"
        );
        references.apply(&Event::InitDone);
        assert!(services("web-stable").is_empty());
    }

    #[test]
    fn a_workload_ref_counts_even_when_the_spec_does_not_validate() {
        let references = References::default();
        let mut broken = rollout("web", json!({"canary": {"steps": [{"setWeight": 500}]}}));
        broken.spec.workload_ref = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "web"
        }))
        .unwrap();
        references.apply(&Event::Apply(broken));
        assert_eq!(
            names(references.naming::<Rollout>(Kind::Deployment, "shop", "web")),
            ["web"]
        );
    }
}
