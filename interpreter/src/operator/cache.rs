//! An in-memory index of owned ReplicaSets, fed by a watch, so that a reconcile reads its
//! ReplicaSets without listing the namespace (which makes a large cluster quadratic).
//!
//! A cache may lag the controller's own writes. Expectations close that gap: after writing a
//! ReplicaSet, the controller expects to see the write (created with these replicas, scaled,
//! deleted); a reconcile waits briefly for the index to show every expectation met and, if it
//! does not in time, lists from the API instead. `step` never decides from a view older than
//! its own last effects.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::ResourceExt;
use kube::runtime::watcher::Event;
use kulta::ObservedReplicaSet;
use tokio::sync::Notify;

use super::system::replicaset::observed;

/// What a reconcile expects the index to show after its ReplicaSet writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Present with these desired replicas.
    Replicas(i32),
    /// Present (adopted: owned by the Rollout and labelled with its revision).
    Present,
    /// Gone.
    Deleted,
}

/// One owner's ReplicaSets, sorted by name. A rollout owns a handful, so a vector: a
/// `BTreeMap` allocates a node of eleven slots for each owner, ~1.4 KiB per rollout.
#[derive(Default)]
struct Owned(Vec<ObservedReplicaSet>);

impl Owned {
    fn get(&self, name: &str) -> Option<&ObservedReplicaSet> {
        let at = self
            .0
            .binary_search_by(|rs| rs.name.as_str().cmp(name))
            .ok()?;
        self.0.get(at)
    }

    fn upsert(&mut self, seen: ObservedReplicaSet) {
        match self.0.binary_search_by(|rs| rs.name.cmp(&seen.name)) {
            Ok(at) => self.0[at] = seen,
            Err(at) => self.0.insert(at, seen),
        }
    }

    fn remove(&mut self, name: &str) {
        if let Ok(at) = self.0.binary_search_by(|rs| rs.name.as_str().cmp(name)) {
            self.0.remove(at);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// ReplicaSets by owner uid.
type ByOwner = BTreeMap<String, Owned>;

/// A map kept from a watch: changes applied as they come; a re-list built aside and swapped in
/// whole when it ends, so that what it no longer lists is dropped. Trusted once synced.
#[derive(Default)]
pub struct Mirror<M> {
    /// What the watch shows.
    pub shown: M,
    /// Restart buffer between `Init` and `InitDone`.
    relist: Option<M>,
    /// A first list has completed.
    pub synced: bool,
}

impl<M: Default> Mirror<M> {
    /// Apply one watch event with `insert` (an object added or changed) and `remove`.
    pub fn apply<K>(
        &mut self,
        event: &Event<K>,
        insert: impl Fn(&mut M, &K),
        remove: impl Fn(&mut M, &K),
    ) {
        match event {
            Event::Apply(object) => insert(&mut self.shown, object),
            Event::Delete(object) => remove(&mut self.shown, object),
            Event::Init => self.relist = Some(M::default()),
            Event::InitApply(object) => {
                if let Some(relist) = self.relist.as_mut() {
                    insert(relist, object);
                }
            }
            Event::InitDone => {
                if let Some(relist) = self.relist.take() {
                    self.shown = relist;
                }
                self.synced = true;
            }
        }
    }
}

/// The index of one watched scope.
#[derive(Default)]
pub struct ReplicaSetIndex {
    index: Mutex<Mirror<ByOwner>>,
    /// Reconciles waiting for an owner's ReplicaSets, woken only by that owner's events (a
    /// single notifier would wake every waiting reconcile on every event).
    waiting: Mutex<BTreeMap<String, Arc<Notify>>>,
}

fn owners(rs: &ReplicaSet) -> impl Iterator<Item = &str> {
    rs.owner_references().iter().map(|owner| owner.uid.as_str())
}

fn insert(map: &mut ByOwner, rs: &ReplicaSet) {
    let Some(seen) = observed(rs) else { return };
    for owner in owners(rs) {
        map.entry(owner.to_string())
            .or_default()
            .upsert(seen.clone());
    }
}

fn remove(map: &mut ByOwner, rs: &ReplicaSet) {
    let name = rs.name_any();
    for owner in owners(rs) {
        if let Some(sets) = map.get_mut(owner) {
            sets.remove(&name);
            if sets.is_empty() {
                map.remove(owner);
            }
        }
    }
}

impl ReplicaSetIndex {
    /// Apply one watch event.
    pub fn apply(&self, event: &Event<ReplicaSet>) {
        let Ok(mut index) = self.index.lock() else {
            return;
        };
        let touched: Option<Vec<String>> = match event {
            Event::Apply(rs) | Event::Delete(rs) => Some(owners(rs).map(String::from).collect()),
            Event::InitApply(_) => Some(Vec::new()),
            Event::Init | Event::InitDone => None,
        };
        index.apply(event, insert, remove);
        drop(index);
        let Ok(waiting) = self.waiting.lock() else {
            return;
        };
        match touched {
            Some(owners) => {
                for owner in owners {
                    if let Some(notify) = waiting.get(&owner) {
                        notify.notify_waiters();
                    }
                }
            }
            None => waiting.values().for_each(|notify| notify.notify_waiters()),
        }
    }

    /// The owner's ReplicaSets, sorted by name, if the index shows every expectation met.
    fn owned_if(
        &self,
        uid: &str,
        expected: &BTreeMap<String, Expect>,
    ) -> Option<Vec<ObservedReplicaSet>> {
        let index = self.index.lock().ok()?;
        if !index.synced {
            return None;
        }
        let sets = index.shown.get(uid);
        let met = expected.iter().all(|(name, expect)| {
            let seen = sets.and_then(|sets| sets.get(name));
            match expect {
                Expect::Replicas(replicas) => seen.is_some_and(|rs| rs.replicas == *replicas),
                Expect::Present => seen.is_some(),
                Expect::Deleted => seen.is_none(),
            }
        });
        met.then(|| sets.map(|sets| sets.0.clone()).unwrap_or_default())
    }

    /// Wait up to `patience` for the index to show `expected`; `None` if it did not.
    pub async fn owned(
        &self,
        uid: &str,
        expected: &BTreeMap<String, Expect>,
        patience: Duration,
    ) -> Option<Vec<ObservedReplicaSet>> {
        let deadline = tokio::time::Instant::now() + patience;
        let notify = self
            .waiting
            .lock()
            .ok()?
            .entry(uid.to_string())
            .or_default()
            .clone();
        loop {
            let notified = notify.notified();
            if let Some(sets) = self.owned_if(uid, expected) {
                return Some(sets);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

/// What the index must show before it is trusted again, after the rollout's ReplicaSets were
/// listed because it had not caught up: each ReplicaSet the controller wrote, as the list
/// showed it (present with its replicas, or gone). A list does not bring the index up to date,
/// so clearing the expectations would let the next reconcile decide from the index it just
/// found behind (a ReplicaSet it created would look missing and be created again); keeping
/// the written values would wait forever on a ReplicaSet someone else has changed since.
pub fn confirmed(
    expected: &BTreeMap<String, Expect>,
    listed: &[ObservedReplicaSet],
) -> BTreeMap<String, Expect> {
    expected
        .keys()
        .map(|name| {
            let seen = listed.iter().find(|rs| &rs.name == name);
            let expect = seen.map_or(Expect::Deleted, |rs| Expect::Replicas(rs.replicas));
            (name.clone(), expect)
        })
        .collect()
}

/// kubectl's copy of the last applied object: often as large as the object itself.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drop from a watched Rollout what no decision reads before it enters the cache: the API
/// server's field bookkeeping (`managedFields`) and kubectl's last-applied copy. Status writes
/// go to the `/status` subresource, which takes nothing but the status from the object sent,
/// so nothing dropped here is ever written back.
pub fn trim(rollout: &mut kulta::Rollout) {
    rollout.managed_fields_mut().clear();
    rollout.annotations_mut().remove(LAST_APPLIED);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    fn replica_set(name: &str, owner: &str, replicas: i32) -> ReplicaSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": name,
                "labels": {kulta::POD_TEMPLATE_HASH_LABEL: name},
                "ownerReferences": [{"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
                                     "name": "web", "uid": owner, "controller": true}],
            },
            "spec": {"replicas": replicas, "selector": {}},
        }))
        .unwrap()
    }

    #[test]
    fn after_a_list_the_index_is_trusted_only_once_it_shows_what_the_list_showed() {
        let index = ReplicaSetIndex::default();
        index.apply(&Event::Init);
        index.apply(&Event::InitApply(replica_set("web-old", "uid", 2)));
        index.apply(&Event::InitDone);
        // The controller created web-new and scaled web-old down, and deleted web-gone; the
        // index shows none of it in time, so the reconcile listed.
        let expected = BTreeMap::from([
            ("web-new".to_string(), Expect::Replicas(1)),
            ("web-old".to_string(), Expect::Replicas(1)),
            ("web-gone".to_string(), Expect::Deleted),
        ]);
        assert_eq!(index.owned_if("uid", &expected), None);
        // Someone else scaled web-new to 3 before the list.
        let listed = [
            observed(&replica_set("web-new", "uid", 3)).unwrap(),
            observed(&replica_set("web-old", "uid", 1)).unwrap(),
        ];
        let confirmed = confirmed(&expected, &listed);
        assert_eq!(
            confirmed,
            BTreeMap::from([
                ("web-new".to_string(), Expect::Replicas(3)),
                ("web-old".to_string(), Expect::Replicas(1)),
                ("web-gone".to_string(), Expect::Deleted),
            ])
        );
        // The index still behind is not trusted: web-new would look missing.
        assert_eq!(index.owned_if("uid", &confirmed), None);
        index.apply(&Event::Apply(replica_set("web-new", "uid", 1)));
        index.apply(&Event::Apply(replica_set("web-old", "uid", 1)));
        assert_eq!(
            index.owned_if("uid", &confirmed),
            None,
            "web-new at 1, listed at 3"
        );
        index.apply(&Event::Apply(replica_set("web-new", "uid", 3)));
        let sets = index.owned_if("uid", &confirmed).unwrap();
        assert_eq!(
            sets.iter()
                .map(|rs| (rs.name.as_str(), rs.replicas))
                .collect::<Vec<_>>(),
            [("web-new", 3), ("web-old", 1)]
        );
    }

    #[test]
    fn a_cached_rollout_keeps_its_request_and_drops_what_no_decision_reads() {
        let mut rollout: kulta::Rollout = serde_json::from_value(serde_json::json!({
            "apiVersion": "kulta.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {
                "name": "web",
                "annotations": {
                    LAST_APPLIED: "{\"spec\": \"a copy of everything\"}",
                    kulta::REQUEST_ANNOTATION: "promote:1",
                },
                "labels": {"app": "web"},
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": {"simple": {}}
            }
        }))
        .unwrap();
        rollout.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some("kubectl".into()),
            ..ManagedFieldsEntry::default()
        }]);
        let spec = serde_json::to_value(&rollout.spec).unwrap();
        trim(&mut rollout);
        assert!(rollout.managed_fields().is_empty());
        assert_eq!(
            rollout.annotations().keys().collect::<Vec<_>>(),
            [kulta::REQUEST_ANNOTATION]
        );
        assert_eq!(rollout.labels().get("app").map(String::as_str), Some("web"));
        assert_eq!(serde_json::to_value(&rollout.spec).unwrap(), spec);
    }
}
