//! Kubernetes Events (events.k8s.io/v1) on the Rollout, one object per distinct message.
//!
//! kube-runtime's recorder folds every Event with the same reason into one series and keeps
//! only the first note, so six different weight changes read as one `canary weight 0 -> 25`
//! seen six times; and it scans its whole cache on every Event. Here an Event is named after
//! what it says (the object, type, reason and note), so each distinct message is an object of
//! its own and a repeat of the same message bumps that object's series. The memory of counts is
//! bounded; after a restart (or an eviction) a repeat reads the stored count back.

use std::collections::{BTreeMap, VecDeque};
use std::hash::Hasher;
use std::sync::Mutex;

use chrono::Utc;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Patch;
use kube::{Api, Client};
use serde_json::json;

use kube::Resource;
use kulta::{KubeEvent, Rollout};

use crate::operator::context::Context;
use crate::operator::error::Failure;
use crate::operator::execute::{patch_params, post_params};

/// The API refuses notes over 1 kB.
const NOTE_LIMIT: usize = 1024;

/// Distinct Events whose count is remembered; older ones are read back when they repeat.
const REMEMBERED: usize = 4096;

/// Kind of Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Expected transitions.
    Normal,
    /// Failures and rollbacks.
    Warning,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Normal => "Normal",
            EventKind::Warning => "Warning",
        }
    }
}

/// Publishes Events for one controller instance.
pub struct Events {
    client: Client,
    controller: String,
    instance: String,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    by_name: BTreeMap<(String, String), i32>,
    order: VecDeque<(String, String)>,
}

impl Counts {
    fn remember(&mut self, key: (String, String), count: i32) {
        if self.by_name.insert(key.clone(), count).is_none() {
            self.order.push_back(key);
            while self.order.len() > REMEMBERED {
                if let Some(oldest) = self.order.pop_front() {
                    self.by_name.remove(&oldest);
                }
            }
        }
    }
}

impl Events {
    /// A publisher reporting as `controller` / `instance`.
    pub fn new(client: Client, controller: &str, instance: &str) -> Self {
        Events {
            client,
            controller: controller.to_string(),
            instance: instance.to_string(),
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Record one Event about `regarding`.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        kind: EventKind,
        reason: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        let namespace = regarding.namespace.clone().unwrap_or_default();
        let note = truncate(note, NOTE_LIMIT);
        let name = event_name(regarding, kind, reason, &note);
        let key = (namespace.clone(), name.clone());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let now = crate::operator::time::micro(Utc::now());
        let known = self.known(&key);
        let count = match known {
            Some(count) => count.saturating_add(1),
            None => {
                let event = Event {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    action: Some("Reconcile".into()),
                    event_time: Some(now.clone()),
                    note: Some(note.clone()),
                    reason: Some(reason.to_string()),
                    regarding: Some(regarding.clone()),
                    reporting_controller: Some(self.controller.clone()),
                    reporting_instance: Some(self.instance.clone()),
                    type_: Some(kind.as_str().to_string()),
                    ..Event::default()
                };
                match api.create(&post_params(), &event).await {
                    Ok(_) => {
                        self.remember(key, 1);
                        return Ok(());
                    }
                    Err(kube::Error::Api(response)) if response.code == 409 => {
                        // Recorded before (by an earlier process): carry its count on.
                        let stored = api.get(&name).await?;
                        stored.series.map_or(1, |s| s.count).saturating_add(1)
                    }
                    Err(error) => return Err(error),
                }
            }
        };
        let series = EventSeries {
            count,
            last_observed_time: now,
        };
        let patch = json!({ "series": series });
        api.patch(&name, &patch_params(), &Patch::Merge(&patch))
            .await?;
        self.remember(key, count);
        Ok(())
    }

    fn known(&self, key: &(String, String)) -> Option<i32> {
        self.counts
            .lock()
            .ok()
            .and_then(|counts| counts.by_name.get(key).copied())
    }

    fn remember(&self, key: (String, String), count: i32) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.remember(key, count);
        }
    }
}

/// `<object>.<16 hex digits>`: the same message about the same object gets the same name.
fn event_name(regarding: &ObjectReference, kind: EventKind, reason: &str, note: &str) -> String {
    let mut hasher = fnv::FnvHasher::default();
    for part in [
        regarding.uid.as_deref().unwrap_or_default(),
        regarding.name.as_deref().unwrap_or_default(),
        kind.as_str(),
        reason,
        note,
    ] {
        hasher.write(part.as_bytes());
        hasher.write_u8(0);
    }
    let object = regarding.name.as_deref().unwrap_or("object");
    // Room for the suffix within the 253 characters of a name.
    let object: String = object.chars().take(230).collect();
    format!("{object}.{:016x}", hasher.finish())
}

/// Cut on a character boundary, marked.
fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Record one Event.
pub async fn record(ctx: &Context, rollout: &Rollout, event: &KubeEvent) -> Result<(), Failure> {
    let kind = match event.type_ {
        kulta::EventType::Normal => EventKind::Normal,
        kulta::EventType::Warning => EventKind::Warning,
    };
    ctx.events
        .publish(
            &rollout.object_ref(&()),
            kind,
            &event.reason,
            &event.message,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout() -> ObjectReference {
        ObjectReference {
            name: Some("web".into()),
            namespace: Some("shop".into()),
            uid: Some("u-1".into()),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn each_distinct_message_gets_its_own_name_and_a_repeat_the_same() {
        let a = event_name(
            &rollout(),
            EventKind::Normal,
            "TrafficWeightChanged",
            "0 -> 25",
        );
        let b = event_name(
            &rollout(),
            EventKind::Normal,
            "TrafficWeightChanged",
            "25 -> 50",
        );
        let again = event_name(
            &rollout(),
            EventKind::Normal,
            "TrafficWeightChanged",
            "0 -> 25",
        );
        assert_ne!(a, b);
        assert_eq!(a, again);
        assert!(a.starts_with("web."));
    }

    #[test]
    fn the_memory_of_counts_is_bounded() {
        let mut counts = Counts::default();
        for i in 0..(REMEMBERED + 10) {
            counts.remember(("ns".into(), format!("e{i}")), 1);
        }
        assert_eq!(counts.by_name.len(), REMEMBERED);
        assert!(
            !counts
                .by_name
                .contains_key(&("ns".to_string(), "e0".to_string()))
        );
    }

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        let note = "é".repeat(NOTE_LIMIT);
        let cut = truncate(&note, NOTE_LIMIT);
        assert!(cut.len() <= NOTE_LIMIT);
        assert!(cut.ends_with("..."));
    }
}
