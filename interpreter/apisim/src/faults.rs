//! Fault injection and accounting, programmable from tests: fail a share or a count of
//! requests by verb and kind, add latency, cut watch streams; count every request by verb,
//! kind and outcome.

use std::collections::BTreeMap;
use std::time::Duration;

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    /// GET one object (or a discovery document).
    Get,
    /// GET a collection.
    List,
    /// GET a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Verb {
    /// Whether the verb changes objects.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete
        )
    }
}

/// What a matching request suffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status code (500, 409, 429, ...) without doing anything.
    Fail(u16),
    /// Answer nothing for this long, then 504: a client with a shorter timeout times out.
    Timeout(Duration),
    /// Wait this long, then serve the request normally.
    Latency(Duration),
}

/// Which requests a fault applies to, and how many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// Only this verb, if set.
    pub verb: Option<Verb>,
    /// Only this resource (plural), if set.
    pub resource: Option<String>,
    /// What happens.
    pub fault: Fault,
    /// Apply to this many matching requests, then stop (unlimited if unset).
    pub count: Option<u64>,
    /// Apply to every `every`-th matching request (1: all of them).
    pub every: u64,
    seen: u64,
    applied: u64,
}

impl FaultRule {
    /// A rule for every request of `verb` on `resource` (either may be `None` for any).
    pub fn new(verb: Option<Verb>, resource: Option<&str>, fault: Fault) -> Self {
        FaultRule {
            verb,
            resource: resource.map(String::from),
            fault,
            count: None,
            every: 1,
            seen: 0,
            applied: 0,
        }
    }

    /// Only the first `count` matching requests.
    pub fn times(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// Only a share of matching requests: every `n`-th one (`n = 4` is 25%).
    pub fn every(mut self, n: u64) -> Self {
        self.every = n.max(1);
        self
    }
}

/// How long a write hangs once writes are frozen: longer than any test waits for it, so the
/// client gives up (or is killed) first.
const FROZEN: Duration = Duration::from_secs(600);

/// The fault rules and the request counts.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<FaultRule>,
    counts: BTreeMap<(Verb, String, u16), u64>,
    /// Writes still let through before every write hangs, if writes are to freeze.
    freeze_after: Option<u64>,
    /// Writes that met the freeze.
    frozen: u64,
}

impl Faults {
    /// Add a rule.
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    /// Remove every rule and lift a freeze.
    pub fn clear(&mut self) {
        self.rules.clear();
        self.freeze_after = None;
        self.frozen = 0;
    }

    /// Let `writes` more writes through, then hang every write (and answer 504 without acting
    /// when the hang ends): the cluster as a controller killed right after a given write left
    /// it. Reads go on.
    pub fn freeze_writes_after(&mut self, writes: u64) {
        self.freeze_after = Some(writes);
        self.frozen = 0;
    }

    /// Writes that met the freeze so far.
    pub fn frozen(&self) -> u64 {
        self.frozen
    }

    /// The fault a request suffers, if any (a freeze first, then the first matching rule that
    /// applies).
    pub fn decide(&mut self, verb: Verb, resource: &str) -> Option<Fault> {
        if verb.is_write()
            && let Some(left) = self.freeze_after.as_mut()
        {
            if *left == 0 {
                self.frozen += 1;
                return Some(Fault::Timeout(FROZEN));
            }
            *left -= 1;
        }
        for rule in &mut self.rules {
            let matches = rule.verb.is_none_or(|v| v == verb)
                && rule.resource.as_deref().is_none_or(|r| r == resource);
            if !matches || rule.count.is_some_and(|count| rule.applied >= count) {
                continue;
            }
            rule.seen += 1;
            if rule.seen % rule.every != 0 {
                continue;
            }
            rule.applied += 1;
            return Some(rule.fault.clone());
        }
        None
    }

    /// Count a request's outcome.
    pub fn count(&mut self, verb: Verb, resource: &str, code: u16) {
        *self
            .counts
            .entry((verb, resource.to_string(), code))
            .or_default() += 1;
    }

    /// Requests so far by (verb, resource, status code).
    pub fn counts(&self) -> &BTreeMap<(Verb, String, u16), u64> {
        &self.counts
    }

    /// Requests of `verb` on `resource`, any outcome.
    pub fn total(&self, verb: Verb, resource: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((v, r, _), _)| *v == verb && r == resource)
            .map(|(_, n)| n)
            .sum()
    }

    /// Writes (create, update, patch, delete) so far, any kind, any outcome.
    pub fn writes(&self) -> u64 {
        self.counts
            .iter()
            .filter(|((v, _, _), _)| v.is_write())
            .map(|(_, n)| n)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_and_a_count_select_which_requests_fail() {
        let mut faults = Faults::default();
        faults.add(
            FaultRule::new(Some(Verb::Patch), Some("replicasets"), Fault::Fail(500))
                .every(2)
                .times(2),
        );
        let outcomes: Vec<bool> = (0..8)
            .map(|_| faults.decide(Verb::Patch, "replicasets").is_some())
            .collect();
        assert_eq!(
            outcomes,
            [false, true, false, true, false, false, false, false]
        );
        assert_eq!(faults.decide(Verb::Get, "replicasets"), None);
    }

    #[test]
    fn a_freeze_lets_a_number_of_writes_through_then_hangs_every_write_but_no_read() {
        let mut faults = Faults::default();
        faults.freeze_writes_after(2);
        assert_eq!(faults.decide(Verb::Create, "replicasets"), None);
        assert_eq!(faults.decide(Verb::Get, "replicasets"), None);
        assert_eq!(faults.decide(Verb::Patch, "services"), None);
        assert_eq!(
            faults.decide(Verb::Update, "rollouts"),
            Some(Fault::Timeout(FROZEN))
        );
        assert_eq!(faults.decide(Verb::Watch, "rollouts"), None);
        assert_eq!(faults.frozen(), 1);
        faults.clear();
        assert_eq!(faults.decide(Verb::Update, "rollouts"), None);
    }
}
