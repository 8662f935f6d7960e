//! The simulator's state: every object, one resourceVersion counter for all of them (as etcd
//! has), and a bounded history of changes from which watches resume.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::error::{ApiError, Cause};
use crate::ownership::{self, Owners};
use crate::resource::{ResourceType, builtins, from_crd};
use crate::selector::Selector;
use crate::workload::{ImageBehaviour, Workload};

/// How a watched object changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Deleted.
    Deleted,
}

impl EventKind {
    /// The watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Clone, Debug)]
pub struct Event {
    /// The resourceVersion the change produced.
    pub resource_version: u64,
    /// API group of the object.
    pub group: String,
    /// Resource (plural) of the object.
    pub plural: String,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// What happened.
    pub kind: EventKind,
    /// The object after the change (before, for deletions).
    pub object: Arc<Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    group: String,
    plural: String,
    namespace: String,
    name: String,
}

/// How a server-side apply is made.
pub struct ApplyOptions<'a> {
    /// The field manager applying.
    pub manager: &'a str,
    /// Take fields over from other managers instead of failing with a conflict.
    pub force: bool,
    /// Apply to the `/status` subresource.
    pub status_only: bool,
}

/// A page of a list.
pub struct Page {
    /// The objects.
    pub items: Vec<Arc<Value>>,
    /// The resourceVersion the list is consistent with.
    pub resource_version: u64,
    /// Token for the next page, if any.
    pub continue_token: Option<String>,
    /// Items after this page.
    pub remaining: usize,
}

/// What a new watch starts from.
pub struct Subscription {
    /// Changes after the requested resourceVersion that are already past.
    pub backlog: Vec<Event>,
    /// Changes from now on.
    pub live: broadcast::Receiver<Event>,
    /// The store's resourceVersion when the watch began.
    pub resource_version: u64,
}

/// The simulator's state.
pub struct Store {
    types: Vec<ResourceType>,
    /// Shared with the watch history: a change is stored once, not copied per event.
    objects: BTreeMap<Key, Arc<Value>>,
    resource_version: u64,
    history: VecDeque<Event>,
    history_limit: usize,
    /// Every change up to this resourceVersion has left the history.
    compacted: u64,
    uids: u64,
    events: broadcast::Sender<Event>,
    /// The ReplicaSet status model.
    pub workload: Workload,
    /// Field managers of each object.
    owners: BTreeMap<Key, Owners>,
    /// When each ReplicaSet's spec last changed, for its model.
    spec_changed: BTreeMap<(String, String), std::time::Instant>,
    /// The objects that name each uid in their `ownerReferences`, so that a delete finds what
    /// it cascades to without reading every stored object.
    dependents: BTreeMap<String, BTreeSet<Key>>,
    /// The objects carrying each label (key, value), so that a list selecting by a label reads
    /// only those, not every stored object of its kind.
    labelled: BTreeMap<(String, String), BTreeSet<Key>>,
}

impl Store {
    /// A store with the built-in kinds and the `default` and `kube-system` namespaces.
    pub fn new(history_limit: usize) -> Self {
        let (events, _) = broadcast::channel(4096);
        let mut store = Store {
            types: builtins(),
            objects: BTreeMap::new(),
            resource_version: 0,
            history: VecDeque::new(),
            history_limit,
            compacted: 0,
            uids: 0,
            events,
            workload: Workload::default(),
            owners: BTreeMap::new(),
            spec_changed: BTreeMap::new(),
            dependents: BTreeMap::new(),
            labelled: BTreeMap::new(),
        };
        for name in ["default", "kube-system"] {
            let namespace =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            if let Some(rt) = store.resource("", "v1", "namespaces") {
                // The built-in catalogue always has namespaces; creating one cannot fail.
                let _ = store.create(&rt, "", namespace);
            }
        }
        store
    }

    /// A copy to try a write on without keeping it (`dryRun=All`): the same objects, kinds,
    /// owners and counters, but no history and no watchers, so nothing it does is seen.
    pub fn scratch(&self) -> Store {
        let (events, _) = broadcast::channel(16);
        Store {
            types: self.types.clone(),
            objects: self.objects.clone(),
            resource_version: self.resource_version,
            history: VecDeque::new(),
            history_limit: self.history_limit,
            compacted: self.resource_version,
            uids: self.uids,
            events,
            workload: self.workload.clone(),
            owners: self.owners.clone(),
            spec_changed: BTreeMap::new(),
            dependents: self.dependents.clone(),
            labelled: self.labelled.clone(),
        }
    }

    /// The served kinds.
    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// The served kind at `group/version/plural`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// Objects stored, all kinds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// No objects at all.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    fn key(rt: &ResourceType, namespace: &str, name: &str) -> Key {
        Key {
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            namespace: if rt.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    /// Read one object.
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Self::key(rt, namespace, name))
            .map(|object| Value::clone(object))
            .ok_or_else(|| ApiError::not_found(&rt.plural, name))
    }

    /// List objects of a kind, in one namespace or all, in name order, a page at a time.
    pub fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        selector: &Selector,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> Result<Page, ApiError> {
        let after = match continue_token {
            Some(token) => Some(decode_continue(token)?),
            None => None,
        };
        let start = Key {
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            namespace: namespace.unwrap_or_default().to_string(),
            name: String::new(),
        };
        let in_scope = |key: &Key| {
            key.group == rt.group
                && key.plural == rt.plural
                && namespace.is_none_or(|ns| key.namespace == ns)
        };
        let past_token = |key: &Key| {
            after
                .as_ref()
                .is_none_or(|(ns, name)| (&key.namespace, &key.name) > (ns, name))
        };
        // Both in key order: the objects carrying the selector's rarest required label, or
        // every object of the kind.
        let candidates: Box<dyn Iterator<Item = (&Key, &Arc<Value>)>> =
            match self.narrowest(selector) {
                Some(keys) => Box::new(
                    keys.iter()
                        .filter(|key| in_scope(key))
                        .filter_map(|key| self.objects.get_key_value(key)),
                ),
                None => Box::new(
                    self.objects
                        .range(start..)
                        .take_while(|(key, _)| in_scope(key)),
                ),
            };
        let matching = candidates
            .filter(|(key, _)| past_token(key))
            .filter(|(_, object)| selector.matches(object));
        let mut items = Vec::new();
        let mut remaining = 0;
        let mut last = None;
        for (key, object) in matching {
            if limit.is_some_and(|limit| items.len() >= limit) {
                remaining += 1;
                continue;
            }
            last = Some(key);
            items.push(Arc::clone(object));
        }
        let continue_token = match (remaining, last) {
            (0, _) | (_, None) => None,
            (_, Some(key)) => Some(encode_continue(&key.namespace, &key.name)),
        };
        Ok(Page {
            items,
            resource_version: self.resource_version,
            continue_token,
            remaining,
        })
    }

    /// Start a watch of changes after `from` (0: the current state first, as ADDED events).
    pub fn subscribe(
        &self,
        rt: &ResourceType,
        from: u64,
        namespace: Option<&str>,
    ) -> Result<Subscription, ApiError> {
        let live = self.events.subscribe();
        let backlog = if from == 0 {
            self.objects
                .iter()
                .filter(|(key, _)| {
                    key.group == rt.group
                        && key.plural == rt.plural
                        && namespace.is_none_or(|ns| key.namespace == ns)
                })
                .map(|(key, object)| Event {
                    resource_version: object_resource_version(object),
                    group: key.group.clone(),
                    plural: key.plural.clone(),
                    namespace: key.namespace.clone(),
                    kind: EventKind::Added,
                    object: Arc::clone(object),
                })
                .collect()
        } else {
            if from < self.compacted {
                return Err(ApiError::gone(format!(
                    "too old resource version: {from} ({})",
                    self.compacted + 1
                )));
            }
            self.history
                .iter()
                .filter(|event| event.resource_version > from)
                .cloned()
                .collect()
        };
        Ok(Subscription {
            backlog,
            live,
            resource_version: self.resource_version,
        })
    }

    fn record(&mut self, rt: &ResourceType, namespace: &str, kind: EventKind, object: Arc<Value>) {
        let event = Event {
            resource_version: self.resource_version,
            group: rt.group.clone(),
            plural: rt.plural.clone(),
            namespace: namespace.to_string(),
            kind,
            object,
        };
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.resource_version;
            }
        }
        // Nobody listening is fine.
        let _ = self.events.send(event);
    }

    fn next_resource_version(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("5a1e0000-0000-4000-8000-{:012x}", self.uids)
    }

    /// Forget history older than the newest `keep` changes, as etcd compaction does.
    pub fn compact(&mut self, keep: usize) {
        while self.history.len() > keep {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.resource_version;
            }
        }
    }

    /// Create an object.
    pub fn create(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        check_kind(rt, &object)?;
        crate::validation::decode(rt, &object)?;
        enforce_schema(rt, &mut object)?;
        let namespace = if rt.namespaced { namespace } else { "" };
        if rt.namespaced {
            let ns_type = self.resource("", "v1", "namespaces");
            let exists =
                ns_type.is_some_and(|t| self.objects.contains_key(&Self::key(&t, "", namespace)));
            if !exists {
                return Err(ApiError::not_found("namespaces", namespace));
            }
        }
        let metadata = metadata_mut(&mut object)?;
        if let Some(given) = metadata.get("namespace").and_then(Value::as_str)
            && rt.namespaced
            && given != namespace
        {
            return Err(ApiError::bad_request(format!(
                "the namespace of the provided object ({given}) does not match the namespace sent on the request ({namespace})"
            )));
        }
        let name = match metadata.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => match metadata.get("generateName").and_then(Value::as_str) {
                Some(prefix) => format!("{prefix}{}", suffix(self.uids + 1)),
                None => {
                    return Err(ApiError::invalid(
                        &rt.plural,
                        "",
                        "metadata.name: Required value: name or generateName is required",
                    ));
                }
            },
        };
        crate::validation::object(rt, &name, &object)?;
        let key = Self::key(rt, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(&rt.plural, &name));
        }
        let uid = self.next_uid();
        let rv = self.next_resource_version();
        let metadata = metadata_mut(&mut object)?;
        metadata.insert("name".into(), name.clone().into());
        if rt.namespaced {
            metadata.insert("namespace".into(), namespace.into());
        } else {
            metadata.remove("namespace");
        }
        metadata.insert("uid".into(), uid.into());
        metadata.insert("resourceVersion".into(), rv.to_string().into());
        metadata.insert("generation".into(), 1.into());
        metadata.insert("creationTimestamp".into(), now().into());
        if rt.status_subresource
            && let Some(map) = object.as_object_mut()
        {
            map.remove("status");
        }
        if rt.plural == "customresourcedefinitions" && rt.group == "apiextensions.k8s.io" {
            self.register(&object);
            // Accepted and served at once, as the API server reports it.
            object["status"] = json!({
                "acceptedNames": object["spec"]["names"],
                "storedVersions": object["spec"]["versions"].as_array().map(|versions| {
                    versions.iter().filter(|v| v["storage"].as_bool() == Some(true)).map(|v| v["name"].clone()).collect::<Vec<_>>()
                }),
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now()},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now()},
                ],
            });
        }
        let stored = Arc::new(object);
        self.index_owners(&key, None, Some(&*stored));
        self.objects.insert(key, Arc::clone(&stored));
        self.record(rt, namespace, EventKind::Added, Arc::clone(&stored));
        let object = Value::clone(&stored);
        self.schedule(rt, namespace, &name);
        Ok(object)
    }

    /// Replace an object. With `status_only`, only its status changes (the `/status`
    /// subresource); otherwise its status is kept when the kind has that subresource. A
    /// resourceVersion in the new object must match (409 Conflict otherwise).
    pub fn update(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        mut object: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        check_kind(rt, &object)?;
        crate::validation::decode(rt, &object)?;
        enforce_schema(rt, &mut object)?;
        let namespace = if rt.namespaced { namespace } else { "" };
        let key = Self::key(rt, namespace, name);
        let current = self
            .objects
            .get(&key)
            .map(|object| Value::clone(object))
            .ok_or_else(|| ApiError::not_found(&rt.plural, name))?;
        let wanted_rv = object["metadata"]["resourceVersion"]
            .as_str()
            .map(String::from);
        if let Some(wanted) = wanted_rv
            && Some(wanted.as_str()) != current["metadata"]["resourceVersion"].as_str()
        {
            return Err(ApiError::conflict(&rt.plural, name));
        }
        if object["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n != name)
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                object["metadata"]["name"].as_str().unwrap_or_default()
            )));
        }
        if status_only {
            let status = object.get("status").cloned();
            object = current.clone();
            match status {
                Some(status) => object["status"] = status,
                None => {
                    if let Some(map) = object.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
        } else if rt.status_subresource {
            match current.get("status") {
                Some(status) => object["status"] = status.clone(),
                None => {
                    if let Some(map) = object.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
        }
        // Fields the server owns come from the stored object.
        let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
        let changed_spec =
            without(&current, &["metadata", "status"]) != without(&object, &["metadata", "status"]);
        if object == current {
            return Ok(current);
        }
        crate::validation::object(rt, name, &object)?;
        let rv = self.next_resource_version();
        let metadata = metadata_mut(&mut object)?;
        for owned in ["uid", "creationTimestamp", "namespace", "name"] {
            match current["metadata"].get(owned) {
                Some(value) => {
                    metadata.insert(owned.into(), value.clone());
                }
                None => {
                    metadata.remove(owned);
                }
            }
        }
        metadata.insert("resourceVersion".into(), rv.to_string().into());
        let generation = if changed_spec && !status_only {
            generation + 1
        } else {
            generation
        };
        metadata.insert("generation".into(), generation.into());
        if rt.plural == "customresourcedefinitions" && rt.group == "apiextensions.k8s.io" {
            self.unregister(&current);
            self.register(&object);
        }
        let stored = Arc::new(object);
        self.index_owners(&key, Some(&current), Some(&*stored));
        self.objects.insert(key, Arc::clone(&stored));
        self.record(rt, namespace, EventKind::Modified, Arc::clone(&stored));
        let object = Value::clone(&stored);
        if changed_spec && !status_only {
            self.schedule(rt, namespace, name);
        }
        Ok(object)
    }

    /// An ordinary (non-apply) update by `manager`, which then owns the fields it changed.
    pub fn update_by(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        object: Value,
        status_only: bool,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let before = self.get(rt, namespace, name)?;
        let updated = self.update(rt, namespace, name, object, status_only)?;
        self.note_writer(rt, namespace, name, manager, Some(&before), &updated);
        Ok(updated)
    }

    /// `manager` wrote `after` (created when `before` is `None`) with an ordinary write: the
    /// fields it changed are its own now.
    pub fn note_writer(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        manager: &str,
        before: Option<&Value>,
        after: &Value,
    ) {
        let key = Self::key(rt, namespace, name);
        let changed = ownership::changed(before, after);
        self.owners.entry(key).or_default().take(manager, changed);
    }

    /// Server-side apply: `manager` declares `config` as the fields it wants, with these
    /// values. Fields another manager owns with another value conflict (409) unless `force`;
    /// fields `manager` applied before but no longer does are removed unless someone else
    /// owns them. Returns the object and whether it was created.
    pub fn apply(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        config: Value,
        how: &ApplyOptions<'_>,
    ) -> Result<(Value, bool), ApiError> {
        let namespace = if rt.namespaced { namespace } else { "" };
        let key = Self::key(rt, namespace, name);
        let applied = ownership::fields(&config);
        let current = match self.objects.get(&key) {
            Some(current) => Value::clone(current),
            None if how.status_only => return Err(ApiError::not_found(&rt.plural, name)),
            None => {
                let created = self.create(rt, namespace, config)?;
                self.owners
                    .entry(key)
                    .or_default()
                    .set(how.manager, applied);
                return Ok((created, true));
            }
        };
        let owners = self.owners.get(&key).cloned().unwrap_or_default();
        let conflicts = owners.conflicts(how.manager, &current, &config);
        if !conflicts.is_empty() && !how.force {
            let listed: Vec<String> = conflicts
                .iter()
                .map(|(other, field)| {
                    format!("conflict with \"{other}\": {}", ownership::show(field))
                })
                .collect();
            let mut error = ApiError::conflict(&rt.plural, name);
            error.message = format!(
                "Apply failed with {} conflict{}: {}",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                listed.join(", ")
            );
            return Err(error);
        }
        let mut object = current.clone();
        for dropped in owners.owned_by(how.manager).difference(&applied) {
            if !owners.owned_by_other(how.manager, dropped) {
                ownership::remove(&mut object, dropped);
            }
        }
        json_patch::merge(&mut object, &config);
        if let Some(map) = object.as_object_mut()
            && let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut)
        {
            // Apply is not conditional on the version read.
            metadata.remove("resourceVersion");
        }
        let updated = self.update(rt, namespace, name, object, how.status_only)?;
        let forced = conflicts.into_iter().map(|(_, field)| field).collect();
        self.owners
            .entry(key)
            .or_default()
            .apply(how.manager, applied, &forced);
        Ok((updated, false))
    }

    /// Delete an object, and (as the garbage collector would) every object it owns.
    pub fn delete(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let namespace = if rt.namespaced { namespace } else { "" };
        let key = Self::key(rt, namespace, name);
        let object = self
            .objects
            .remove(&key)
            .ok_or_else(|| ApiError::not_found(&rt.plural, name))?;
        self.next_resource_version();
        self.index_owners(&key, Some(&*object), None);
        self.owners.remove(&key);
        self.record(rt, namespace, EventKind::Deleted, Arc::clone(&object));
        if rt.plural == "customresourcedefinitions" && rt.group == "apiextensions.k8s.io" {
            self.unregister(&object);
        }
        if let Some(uid) = object["metadata"]["uid"].as_str() {
            self.collect_garbage(uid);
        }
        Ok(Value::clone(&object))
    }

    /// A ReplicaSet's spec changed: its status follows now (pods going away) and after the
    /// workload delay (pods becoming ready).
    fn schedule(&mut self, rt: &ResourceType, namespace: &str, name: &str) {
        if !(rt.group == "apps" && rt.plural == "replicasets") {
            return;
        }
        let now = std::time::Instant::now();
        let key = (namespace.to_string(), name.to_string());
        self.spec_changed.insert(key.clone(), now);
        self.workload.due.insert(key, now);
    }

    /// Bring every ReplicaSet that is due up to date with its model.
    pub fn converge(&mut self, now: std::time::Instant) {
        let Some(rt) = self.resource("apps", "v1", "replicasets") else {
            return;
        };
        for (namespace, name) in self.workload.take_due(now) {
            let Ok(object) = self.get(&rt, &namespace, &name) else {
                self.spec_changed.remove(&(namespace, name));
                continue;
            };
            let changed = self
                .spec_changed
                .get(&(namespace.clone(), name.clone()))
                .copied()
                .unwrap_or(now);
            let desired = object["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
            let image = object["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default();
            let ready_at = changed + self.workload.ready_after;
            let previous = object["status"]["readyReplicas"].as_i64().unwrap_or(0);
            let (ready, next) = match self.workload.images.get(image) {
                Some(ImageBehaviour::NeverReady) => (0, None),
                Some(ImageBehaviour::CrashAfter(crash)) if now >= changed + *crash => (0, None),
                Some(ImageBehaviour::CrashAfter(crash)) if now >= ready_at => {
                    (desired, Some(changed + *crash))
                }
                _ if now >= ready_at => (desired, None),
                // Until then, pods that went away are gone and new ones are not ready.
                _ => (previous.min(desired), Some(ready_at)),
            };
            if let Some(next) = next {
                self.workload
                    .due
                    .insert((namespace.clone(), name.clone()), next);
            }
            let generation = object["metadata"]["generation"].clone();
            let mut updated = object.clone();
            updated["status"] = json!({
                "replicas": desired,
                "fullyLabeledReplicas": desired,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": generation,
            });
            if updated != object {
                // The object was just read under the same lock; the update cannot conflict.
                let _ = self.update(&rt, &namespace, &name, updated, true);
            }
        }
    }

    fn collect_garbage(&mut self, owner_uid: &str) {
        let owned = self.dependents.remove(owner_uid).unwrap_or_default();
        for key in owned {
            let rt = self
                .types
                .iter()
                .find(|t| t.group == key.group && t.plural == key.plural)
                .cloned();
            if let Some(rt) = rt {
                // Already gone is fine: a cascade may reach an object twice.
                let _ = self.delete(&rt, &key.namespace, &key.name);
            }
        }
    }

    /// The keys of the objects carrying the selector's rarest required label (`key=value`),
    /// if it requires one.
    fn narrowest(&self, selector: &Selector) -> Option<&BTreeSet<Key>> {
        static NONE: BTreeSet<Key> = BTreeSet::new();
        selector
            .equalities()
            .map(|(key, value)| {
                self.labelled
                    .get(&(key.to_string(), value.to_string()))
                    .unwrap_or(&NONE)
            })
            .min_by_key(|keys| keys.len())
    }

    /// Keep the owner and label indexes in step with one object's change from `before` to
    /// `after` (`None`: absent).
    fn index_owners(&mut self, key: &Key, before: Option<&Value>, after: Option<&Value>) {
        let old = before.map(labels).unwrap_or_default();
        let new = after.map(labels).unwrap_or_default();
        for label in old.difference(&new) {
            if let Some(keys) = self.labelled.get_mut(label) {
                keys.remove(key);
                if keys.is_empty() {
                    self.labelled.remove(label);
                }
            }
        }
        for label in new.difference(&old) {
            self.labelled
                .entry(label.clone())
                .or_default()
                .insert(key.clone());
        }
        let old = before.map(owner_uids).unwrap_or_default();
        let new = after.map(owner_uids).unwrap_or_default();
        for uid in old.difference(&new) {
            if let Some(keys) = self.dependents.get_mut(uid) {
                keys.remove(key);
                if keys.is_empty() {
                    self.dependents.remove(uid);
                }
            }
        }
        for uid in new.difference(&old) {
            self.dependents
                .entry(uid.clone())
                .or_default()
                .insert(key.clone());
        }
    }

    /// Objects that name `owner_uid` among their owners (the owner index, for tests).
    pub fn dependents_of(&self, owner_uid: &str) -> usize {
        self.dependents.get(owner_uid).map_or(0, BTreeSet::len)
    }

    fn register(&mut self, crd: &Value) {
        for rt in from_crd(crd) {
            self.types.retain(|t| {
                !(t.group == rt.group && t.version == rt.version && t.plural == rt.plural)
            });
            self.types.push(rt);
        }
    }

    fn unregister(&mut self, crd: &Value) {
        for rt in from_crd(crd) {
            self.types.retain(|t| {
                !(t.group == rt.group && t.version == rt.version && t.plural == rt.plural)
            });
        }
    }
}

/// The uids an object names in its `ownerReferences`.
fn labels(object: &Value) -> BTreeSet<(String, String)> {
    object["metadata"]["labels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn owner_uids(object: &Value) -> BTreeSet<String> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn object_resource_version(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

/// A custom kind's schema, applied as the API server applies it (422 Invalid on violations,
/// one cause per field).
fn enforce_schema(rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    let Some(schema) = &rt.schema else {
        return Ok(());
    };
    crate::schema::apply(schema, object)
        .map(|_pruned| ())
        .map_err(|errors| {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let causes = errors.iter().map(|line| Cause::from_line(line)).collect();
            ApiError::invalid_fields(&rt.kind, &rt.group, name, causes)
        })
}

fn check_kind(rt: &ResourceType, object: &Value) -> Result<(), ApiError> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    if api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    Ok(())
}

fn metadata_mut(object: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let map = object
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the object is not a JSON object"))?;
    let metadata = map.entry("metadata").or_insert_with(|| json!({}));
    metadata
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata is not an object"))
}

fn without(object: &Value, keys: &[&str]) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        for key in keys {
            map.remove(*key);
        }
    }
    object
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Five characters for `generateName`, as Kubernetes uses (no vowels, no look-alikes).
fn suffix(seed: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut value = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..5)
        .map(|_| {
            let c = ALPHABET[(value % 27) as usize];
            value /= 27;
            char::from(c)
        })
        .collect()
}

fn encode_continue(namespace: &str, name: &str) -> String {
    let raw = serde_json::to_string(&(namespace, name)).unwrap_or_default();
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request(format!("invalid continue token {token:?}"));
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect();
    let bytes = bytes.map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}
