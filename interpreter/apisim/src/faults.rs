//! Fault injection and accounting, programmable from tests and from a shell (the `--fault`
//! flag and the control endpoint): fail a share or a count of requests by verb and kind, add
//! latency, cut watch streams; count every request by verb, kind and outcome.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

    /// Every verb, in a fixed order.
    pub const ALL: [Verb; 7] = [
        Verb::Get,
        Verb::List,
        Verb::Watch,
        Verb::Create,
        Verb::Update,
        Verb::Patch,
        Verb::Delete,
    ];

    /// The verb's name as the command line and the JSON write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

impl FromStr for Verb {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Verb::ALL
            .into_iter()
            .find(|verb| verb.as_str() == text)
            .ok_or_else(|| RuleError::Verb(text.to_string()))
    }
}

/// Why a fault rule could not be read.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// An unknown verb.
    #[error("{0:?} is not a verb; use get, list, watch, create, update, patch or delete")]
    Verb(String),
    /// A part without `=`, or an unknown key.
    #[error(
        "{0:?} is not a part of a fault rule; use verb=, resource=, fail=CODE, latency=DURATION, timeout=DURATION, share=PERCENT, every=N, times=N"
    )]
    Part(String),
    /// A value that does not fit its key.
    #[error("{key}={value:?}: {why}")]
    Value {
        /// The key.
        key: String,
        /// What was given.
        value: String,
        /// What was expected.
        why: String,
    },
    /// No fail=, latency= or timeout=, or more than one.
    #[error("a fault rule needs exactly one of fail=CODE, latency=DURATION or timeout=DURATION")]
    Fault,
}

/// What a matching request suffers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Fault {
    /// Answer with this status code (500, 409, 429, ...) without doing anything.
    Fail(u16),
    /// Answer nothing for this long, then 504: a client with a shorter timeout times out.
    Timeout(#[serde(with = "crate::duration")] Duration),
    /// Wait this long, then serve the request normally.
    Latency(#[serde(with = "crate::duration")] Duration),
}

/// Which requests a fault applies to, and how many.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// Only this verb, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<Verb>,
    /// Only this resource (plural), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// What happens.
    pub fault: Fault,
    /// Apply to this many matching requests, then stop (unlimited if unset).
    #[serde(default, rename = "times", skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Apply to every `every`-th matching request (1: all of them).
    #[serde(default = "one")]
    pub every: u64,
    /// Apply to this percentage of matching requests, spread evenly (`25`: one in four).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<u8>,
    #[serde(skip)]
    seen: u64,
    /// Requests the rule has applied to so far.
    #[serde(default, skip_deserializing)]
    applied: u64,
}

fn one() -> u64 {
    1
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
            share: None,
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

    /// Only this percentage of matching requests (1 to 100), spread evenly.
    pub fn share(mut self, percent: u8) -> Self {
        self.share = Some(percent.clamp(1, 100));
        self
    }

    /// Requests the rule has applied to so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Whether the `seen`-th matching request is in the rule's share.
    fn in_share(&self) -> bool {
        if !self.seen.is_multiple_of(self.every) {
            return false;
        }
        match self.share {
            None => true,
            Some(percent) => {
                let percent = u64::from(percent);
                self.seen * percent / 100 > (self.seen - 1) * percent / 100
            }
        }
    }
}

/// The command line's form of a rule: comma-separated `key=value` parts, for example
/// `verb=patch,resource=replicasets,fail=500,share=25,times=10` or `latency=200ms`.
impl FromStr for FaultRule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut verb = None;
        let mut resource = None;
        let mut faults = Vec::new();
        let mut count = None;
        let mut every = 1;
        let mut share = None;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(RuleError::Part(part.to_string()));
            };
            let bad = |why: &str| RuleError::Value {
                key: key.to_string(),
                value: value.to_string(),
                why: why.to_string(),
            };
            let number = || value.parse::<u64>().map_err(|_| bad("not a whole number"));
            let duration = || crate::duration::parse(value).map_err(|why| bad(&why));
            match key {
                "verb" => verb = Some(value.parse()?),
                "resource" => resource = Some(value.to_string()),
                "fail" => match value.parse::<u16>() {
                    Ok(code) if (400..=599).contains(&code) => faults.push(Fault::Fail(code)),
                    _ => return Err(bad("not an HTTP error status from 400 to 599")),
                },
                "latency" => faults.push(Fault::Latency(duration()?)),
                "timeout" => faults.push(Fault::Timeout(duration()?)),
                "times" => count = Some(number()?),
                "every" => match number()? {
                    0 => return Err(bad("every=0 would never apply; use 1 or more")),
                    n => every = n,
                },
                "share" => match value.trim_end_matches('%').parse::<u8>() {
                    Ok(percent) if (1..=100).contains(&percent) => share = Some(percent),
                    _ => return Err(bad("not a percentage from 1 to 100")),
                },
                _ => return Err(RuleError::Part(part.to_string())),
            }
        }
        let [fault] = <[Fault; 1]>::try_from(faults).map_err(|_| RuleError::Fault)?;
        let mut rule = FaultRule::new(verb, resource.as_deref(), fault).every(every);
        rule.count = count;
        rule.share = share;
        Ok(rule)
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

    /// The rules, in the order they are tried.
    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
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
            if !rule.in_share() {
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
    fn a_share_spreads_evenly() {
        let mut faults = Faults::default();
        faults.add(FaultRule::new(None, None, Fault::Fail(429)).share(25));
        let failed = (0..100)
            .filter(|_| faults.decide(Verb::Get, "pods").is_some())
            .count();
        assert_eq!(failed, 25);
    }

    #[test]
    fn the_command_line_form_reads_every_part() {
        let rule: FaultRule = "verb=patch,resource=replicasets,fail=500,share=25%,times=10"
            .parse()
            .unwrap();
        assert_eq!(
            rule,
            FaultRule::new(Some(Verb::Patch), Some("replicasets"), Fault::Fail(500))
                .share(25)
                .times(10)
        );
        let latency: FaultRule = "latency=200ms".parse().unwrap();
        assert_eq!(latency.fault, Fault::Latency(Duration::from_millis(200)));
        assert_eq!(
            "verb=fetch,fail=500"
                .parse::<FaultRule>()
                .unwrap_err()
                .to_string(),
            "\"fetch\" is not a verb; use get, list, watch, create, update, patch or delete"
        );
        assert_eq!(
            "fail=500,latency=1s".parse::<FaultRule>(),
            Err(RuleError::Fault)
        );
        assert!(matches!(
            "fail=200".parse::<FaultRule>(),
            Err(RuleError::Value { .. })
        ));
    }

    #[test]
    fn the_json_form_names_the_fault_and_its_duration() {
        let rule: FaultRule =
            serde_json::from_str(r#"{"verb": "watch", "fault": {"timeout": "30s"}, "times": 2}"#)
                .unwrap();
        assert_eq!(
            rule,
            FaultRule::new(
                Some(Verb::Watch),
                None,
                Fault::Timeout(Duration::from_secs(30))
            )
            .times(2)
        );
        assert_eq!(
            serde_json::to_value(&rule).unwrap(),
            serde_json::json!({"verb": "watch", "fault": {"timeout": "30s"}, "times": 2, "every": 1, "applied": 0})
        );
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
