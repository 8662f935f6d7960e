//! What the benchmark knows of each Rollout, from two watch streams (Rollouts and ReplicaSets)
//! rather than from polling, so that waiting adds no reads to the counts and each moment is
//! taken when the simulator announced it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kulta::{Phase, RolloutStatus};
use serde_json::Value;

use crate::api::Api;
use crate::error::BenchError;

/// A Rollout, by namespace and name.
pub type Key = (String, String);

/// What a Rollout is waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `Completed` on the current revision.
    Completed,
    /// `Paused` at this canary weight on the current revision.
    Paused(i32),
}

/// One Rollout's progress towards its target.
#[derive(Clone, Debug)]
struct Track {
    /// The pod-template hash of the revision shipped last.
    revision: String,
    /// The generation that shipped it.
    generation: i64,
    target: Target,
    /// When it was shipped (or the operator started).
    since: Instant,
    /// When its ReplicaSet for `revision` appeared.
    new_set: Option<Instant>,
    /// When it reached `target`.
    reached: Option<Instant>,
    status: RolloutStatus,
}

impl Track {
    fn meets(&self) -> bool {
        let status = &self.status;
        let current = status.observed_generation.unwrap_or(0) >= self.generation;
        match self.target {
            Target::Completed => {
                current
                    && status.phase == Some(Phase::Completed)
                    && status.stable_revision.as_deref() == Some(self.revision.as_str())
            }
            Target::Paused(weight) => {
                current && status.phase == Some(Phase::Paused) && status.current_weight == weight
            }
        }
    }
}

/// Latencies of one round, milliseconds, for the Rollouts shipped in it.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    /// Shipped → its new ReplicaSet exists.
    pub new_set: Vec<f64>,
    /// Shipped → target reached.
    pub reached: Vec<f64>,
}

/// Every tracked Rollout.
#[derive(Clone, Default)]
pub struct Tracker {
    tracks: Arc<Mutex<BTreeMap<Key, Track>>>,
}

impl Tracker {
    /// From now on, wait for `key` to reach `target` on `revision` (generation `generation`).
    pub fn watch_for(
        &self,
        key: Key,
        revision: String,
        generation: i64,
        target: Target,
        since: Instant,
    ) {
        if let Ok(mut tracks) = self.tracks.lock() {
            let status = tracks
                .get(&key)
                .map(|t| t.status.clone())
                .unwrap_or_default();
            let mut track = Track {
                revision,
                generation,
                target,
                since,
                new_set: None,
                reached: None,
                status,
            };
            if track.meets() {
                track.reached = Some(Instant::now());
            }
            tracks.insert(key, track);
        }
    }

    /// Wait for the same revision to reach another target, from `since`.
    pub fn retarget(&self, key: &Key, target: Target, since: Instant) {
        if let Ok(mut tracks) = self.tracks.lock()
            && let Some(track) = tracks.get_mut(key)
        {
            track.target = target;
            track.since = since;
            track.reached = None;
            if track.meets() {
                track.reached = Some(Instant::now());
            }
        }
    }

    /// How many of `keys` reached their target.
    pub fn reached(&self, keys: &[Key]) -> usize {
        self.tracks.lock().map_or(0, |tracks| {
            keys.iter()
                .filter(|key| tracks.get(*key).is_some_and(|t| t.reached.is_some()))
                .count()
        })
    }

    /// Wait (at most `limit`) until every one of `keys` reached its target.
    pub async fn wait(
        &self,
        keys: &[Key],
        what: &str,
        limit: Duration,
    ) -> Result<Duration, BenchError> {
        let started = Instant::now();
        loop {
            let done = self.reached(keys);
            if done == keys.len() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                return Err(BenchError::Timeout(format!(
                    "{what}: {done} of {} Rollouts after {limit:?}",
                    keys.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The latencies of `keys`, milliseconds.
    pub fn latencies(&self, keys: &[Key]) -> Latencies {
        let mut latencies = Latencies::default();
        if let Ok(tracks) = self.tracks.lock() {
            for track in keys.iter().filter_map(|key| tracks.get(key)) {
                let since =
                    |at: Instant| at.saturating_duration_since(track.since).as_secs_f64() * 1000.0;
                if let Some(at) = track.new_set {
                    latencies.new_set.push(since(at));
                }
                if let Some(at) = track.reached {
                    latencies.reached.push(since(at));
                }
            }
        }
        latencies
    }

    fn on_rollout(&self, object: &Value) {
        let Some(key) = key_of(object) else { return };
        let status: RolloutStatus =
            serde_json::from_value(object["status"].clone()).unwrap_or_default();
        if let Ok(mut tracks) = self.tracks.lock()
            && let Some(track) = tracks.get_mut(&key)
        {
            track.status = status;
            if track.reached.is_none() && track.meets() {
                track.reached = Some(Instant::now());
            }
        }
    }

    fn on_replica_set(&self, object: &Value) {
        let Some((namespace, name)) = key_of(object) else {
            return;
        };
        let owner = object["metadata"]["ownerReferences"]
            .as_array()
            .and_then(|refs| refs.iter().find(|r| r["kind"] == "Rollout"))
            .and_then(|r| r["name"].as_str());
        let Some(owner) = owner else { return };
        if let Ok(mut tracks) = self.tracks.lock()
            && let Some(track) = tracks.get_mut(&(namespace, owner.to_string()))
            && track.new_set.is_none()
            && name.starts_with(&format!("{owner}-{}", track.revision))
        {
            track.new_set = Some(Instant::now());
        }
    }

    /// Follow Rollouts and ReplicaSets in every namespace until `stop` turns true.
    pub fn follow(
        &self,
        api: &Api,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let rollouts = self.clone();
        let sets = self.clone();
        vec![
            tokio::spawn(watch(
                api.clone(),
                "/apis/kulta.io/v1alpha1/rollouts",
                stop.clone(),
                move |object| rollouts.on_rollout(object),
            )),
            tokio::spawn(watch(
                api.clone(),
                "/apis/apps/v1/replicasets",
                stop,
                move |object| sets.on_replica_set(object),
            )),
        ]
    }
}

fn key_of(object: &Value) -> Option<Key> {
    let metadata = &object["metadata"];
    Some((
        metadata["namespace"].as_str()?.to_string(),
        metadata["name"].as_str()?.to_string(),
    ))
}

/// The most times a watch is started again after its stream ended.
const MAX_RESTARTS: usize = 1_000;

/// Watch `path`, handing every object to `seen`, resuming after a stream ends, until `stop`.
async fn watch(
    api: Api,
    path: &'static str,
    mut stop: tokio::sync::watch::Receiver<bool>,
    seen: impl Fn(&Value),
) {
    let mut resource_version = String::from("0");
    for _ in 0..MAX_RESTARTS {
        if *stop.borrow() {
            return;
        }
        let url = format!(
            "{}{path}?watch=true&resourceVersion={resource_version}&timeoutSeconds=3600",
            api.url()
        );
        let Ok(mut response) = api.http().get(url).send().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::select! {
                chunk = response.chunk() => chunk,
                _ = stop.changed() => return,
            };
            let Ok(Some(chunk)) = chunk else { break };
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                if event["type"] == "ERROR" {
                    // Too old: start over from the current state.
                    resource_version = String::from("0");
                    continue;
                }
                if let Some(rv) = event["object"]["metadata"]["resourceVersion"].as_str() {
                    resource_version = rv.to_string();
                }
                if event["type"] != "BOOKMARK" {
                    seen(&event["object"]);
                }
            }
        }
    }
}
