//! Services: which revision one selects, as `step` observes it, and pointing its selector at
//! a revision.

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Service;
use kube::api::Patch;
use kube::runtime::watcher::Event;
use kube::{Api, ResourceExt};
use kulta::{FOREIGN_HASH_LABELS, ObservedService, POD_TEMPLATE_HASH_LABEL};
use serde_json::{Map, Value};

use crate::operator::cache::Mirror;
use crate::operator::execute::patch_params;

/// Add (or change) the pod-template hash in the Service's selector; the user's other selector
/// keys stay, but a hash key a former controller left (an Argo Rollout's, a Deployment's) goes:
/// it would narrow the Service to that controller's pods only. A merge patch never creates: a
/// missing Service is a 404 for `step` to report.
pub async fn point(api: &Api<Service>, service: &str, revision: &str) -> Result<(), kube::Error> {
    let mut selector = Map::new();
    for label in FOREIGN_HASH_LABELS {
        selector.insert(label.to_string(), Value::Null);
    }
    selector.insert(
        POD_TEMPLATE_HASH_LABEL.to_string(),
        Value::String(revision.to_string()),
    );
    let patch = serde_json::json!({"spec": {"selector": selector}});
    api.patch(service, &patch_params(), &Patch::Merge(&patch))
        .await
        .map(drop)
}

/// The Service `name` as the API shows it now.
pub async fn read(api: &Api<Service>, name: &str) -> Result<Seen, kube::Error> {
    let found = crate::operator::observe::read(|| api.get_opt(name)).await?;
    Ok(found.as_ref().map_or(Seen::Absent, Seen::of))
}

/// What a Service looks like to `step`: absent, or selecting a revision (or none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// No such Service.
    Absent,
    /// It exists; its selector names this revision, if any.
    Selects(Option<String>),
}

/// The revision a Service's selector names, if any.
fn selected(service: &Service) -> Option<String> {
    service
        .spec
        .as_ref()
        .and_then(|spec| spec.selector.as_ref())
        .and_then(|selector| selector.get(POD_TEMPLATE_HASH_LABEL).cloned())
}

impl Seen {
    fn of(service: &Service) -> Self {
        Seen::Selects(selected(service))
    }

    /// As an observation of the Service `name`.
    pub fn observed(&self, name: &str) -> Option<ObservedService> {
        match self {
            Seen::Absent => None,
            Seen::Selects(revision) => Some(ObservedService {
                name: name.to_string(),
                revision: revision.clone(),
            }),
        }
    }
}

/// Services by (namespace, name): the revision each selects, if any.
type Services = BTreeMap<(String, String), Option<String>>;

/// The Services of one watched scope as its watch shows them: only which revision each
/// selects, a few dozen bytes a Service. A reconcile reads its Services here, unless the index
/// does not yet show what the controller itself last wrote (then it reads the API).
#[derive(Default)]
pub struct ServiceIndex {
    mirror: Mutex<Mirror<Services>>,
}

fn key(service: &Service) -> (String, String) {
    (service.namespace().unwrap_or_default(), service.name_any())
}

impl ServiceIndex {
    /// Apply one watch event.
    pub fn apply(&self, event: &Event<Service>) {
        if let Ok(mut mirror) = self.mirror.lock() {
            mirror.apply(
                event,
                |shown, service| {
                    shown.insert(key(service), selected(service));
                },
                |shown, service| {
                    shown.remove(&key(service));
                },
            );
        }
    }

    /// The Service as the index shows it, if the index has synced and shows `expected` (when
    /// given); `None` when it cannot tell.
    pub fn seen(&self, namespace: &str, name: &str, expected: Option<&Seen>) -> Option<Seen> {
        let mirror = self.mirror.lock().ok()?;
        if !mirror.synced {
            return None;
        }
        let seen = match mirror.shown.get(&(namespace.to_string(), name.to_string())) {
            Some(revision) => Seen::Selects(revision.clone()),
            None => Seen::Absent,
        };
        expected
            .is_none_or(|expected| *expected == seen)
            .then_some(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, revision: Option<&str>) -> Service {
        let mut selector = serde_json::json!({"app": "web"});
        if let Some(revision) = revision {
            selector[POD_TEMPLATE_HASH_LABEL] = revision.into();
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"selector": selector},
        }))
        .unwrap()
    }

    #[test]
    fn the_index_answers_once_synced_and_only_when_it_shows_what_is_expected() {
        let index = ServiceIndex::default();
        index.apply(&Event::Init);
        index.apply(&Event::InitApply(service("web-stable", Some("v1"))));
        assert_eq!(index.seen("shop", "web-stable", None), None, "not synced");
        index.apply(&Event::InitDone);
        assert_eq!(
            index.seen("shop", "web-stable", None),
            Some(Seen::Selects(Some("v1".into())))
        );
        assert_eq!(index.seen("shop", "web-canary", None), Some(Seen::Absent));
        // The controller pointed it at v2; the watch has not shown it yet.
        let v2 = Seen::Selects(Some("v2".into()));
        assert_eq!(index.seen("shop", "web-stable", Some(&v2)), None);
        index.apply(&Event::Apply(service("web-stable", Some("v2"))));
        assert_eq!(index.seen("shop", "web-stable", Some(&v2)), Some(v2));
        index.apply(&Event::Delete(service("web-stable", None)));
        assert_eq!(index.seen("shop", "web-stable", None), Some(Seen::Absent));
        // A restart of the watch replaces everything.
        index.apply(&Event::Init);
        index.apply(&Event::InitApply(service("web-canary", None)));
        index.apply(&Event::InitDone);
        assert_eq!(
            index.seen("shop", "web-canary", None),
            Some(Seen::Selects(None))
        );
        assert_eq!(
            Seen::Selects(Some("v1".into())).observed("web-canary"),
            Some(ObservedService {
                name: "web-canary".into(),
                revision: Some("v1".into())
            })
        );
    }
}
