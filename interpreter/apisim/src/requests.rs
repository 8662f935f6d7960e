//! What clients asked: a bounded log of requests (verb, resource, name, field manager, outcome)
//! and counts by client, verb, resource and status code, served by the control endpoint.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use crate::faults::Verb;

/// Requests kept in the log unless the command line says otherwise.
pub const DEFAULT_LOG: usize = 10_000;

/// One request as the log shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Its place in the order requests finished, from 1.
    pub seq: u64,
    /// When it finished (RFC 3339, milliseconds).
    pub time: String,
    /// What it did.
    pub verb: Verb,
    /// The resource (plural), `discovery` for discovery, version and OpenAPI documents.
    pub resource: String,
    /// Its namespace, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name, if it named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `status` or `scale`, for a subresource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    /// The `fieldManager` query parameter, if sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_manager: Option<String>,
    /// The client, from its User-Agent (the part before the first `/`).
    pub agent: String,
    /// The status code answered (for a watch: when the stream started).
    pub code: u16,
    /// Whether an injected fault decided the answer or delayed it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub injected: bool,
    /// Time from the request's arrival to its answer, in milliseconds.
    pub millis: f64,
}

/// One line of the counts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CountKey {
    /// The client, from its User-Agent.
    pub agent: String,
    /// What the requests did.
    pub verb: Verb,
    /// The resource (plural).
    pub resource: String,
    /// The status code answered.
    pub code: u16,
}

/// The counts as the control endpoint serves them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Every request.
    pub total: u64,
    /// get and list.
    pub reads: u64,
    /// Watch streams started.
    pub watches: u64,
    /// create, update, patch and delete, any outcome.
    pub writes: u64,
    /// By client, verb, resource and status code.
    pub counts: Vec<Counted>,
}

/// Requests of one kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counted {
    /// Which requests.
    #[serde(flatten)]
    pub key: CountKey,
    /// How many.
    pub count: u64,
}

/// The log and the counts.
#[derive(Debug)]
pub struct Requests {
    log: VecDeque<Request>,
    capacity: usize,
    next: u64,
    counts: BTreeMap<CountKey, u64>,
}

impl Default for Requests {
    fn default() -> Self {
        Requests::with_capacity(DEFAULT_LOG)
    }
}

impl Requests {
    /// Keep the last `capacity` requests in the log (0: count only).
    pub fn with_capacity(capacity: usize) -> Self {
        Requests {
            log: VecDeque::new(),
            capacity,
            next: 1,
            counts: BTreeMap::new(),
        }
    }

    /// Note a finished request; its `seq` is assigned here.
    pub fn note(&mut self, mut request: Request) {
        request.seq = self.next;
        self.next += 1;
        *self
            .counts
            .entry(CountKey {
                agent: request.agent.clone(),
                verb: request.verb,
                resource: request.resource.clone(),
                code: request.code,
            })
            .or_default() += 1;
        if self.capacity == 0 {
            return;
        }
        if self.log.len() >= self.capacity {
            self.log.pop_front();
        }
        self.log.push_back(request);
    }

    /// Logged requests after `since` (a `seq`), oldest first, at most `limit`.
    pub fn log(&self, since: u64, limit: usize) -> impl Iterator<Item = &Request> {
        self.log.iter().filter(move |r| r.seq > since).take(limit)
    }

    /// The counts with their totals.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for (key, count) in &self.counts {
            counts.total += count;
            match key.verb {
                Verb::Get | Verb::List => counts.reads += count,
                Verb::Watch => counts.watches += count,
                _ => counts.writes += count,
            }
            counts.counts.push(Counted {
                key: key.clone(),
                count: *count,
            });
        }
        counts
    }

    /// Forget the log and the counts (sequence numbers keep growing).
    pub fn clear(&mut self) {
        self.log.clear();
        self.counts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(verb: Verb, code: u16) -> Request {
        Request {
            seq: 0,
            time: String::new(),
            verb,
            resource: "rollouts".into(),
            namespace: None,
            name: None,
            subresource: None,
            field_manager: None,
            agent: "kulta".into(),
            code,
            injected: false,
            millis: 0.0,
        }
    }

    #[test]
    fn the_log_keeps_the_newest_and_the_counts_keep_everything() {
        let mut requests = Requests::with_capacity(2);
        requests.note(request(Verb::Get, 200));
        requests.note(request(Verb::Patch, 200));
        requests.note(request(Verb::Patch, 409));
        let seqs: Vec<u64> = requests.log(0, 10).map(|r| r.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(requests.log(2, 10).count(), 1);
        let counts = requests.counts();
        assert_eq!(
            (counts.total, counts.reads, counts.writes, counts.watches),
            (3, 1, 2, 0)
        );
    }
}
