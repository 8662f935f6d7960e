//! Which name the spec's template ships under: its hash, unless that name is taken.
//!
//! A name is taken when an owned ReplicaSet carries it but was made from another template
//! (their digests differ), or when creating it failed because another object holds it. Either
//! way the collision count goes up, the template hashes to a new name, and an Event says so.
//! Templates are compared only when the spec changed or a create was refused, so a settled
//! rollout does no hashing beyond its name.

use crate::conditions::reason;
use crate::effect::{EffectKind, EventType, KubeEvent};
use crate::observations::{ErrorCause, Observations};
use crate::revision::{replica_set_name, template_digest, template_revision};
use crate::spec::RolloutSpec;
use crate::status::RolloutStatus;

/// How many renames one step tries before leaving the rest to the next: each is one more
/// name found taken in the same observations, which only a crafted cluster produces.
const MAX_RENAMES: u32 = 8;

/// The revision the spec's template ships as, the collision count it was named under, and the
/// Event to record when the count went up.
pub(crate) fn settle(
    spec: &RolloutSpec,
    prior: &RolloutStatus,
    obs: &Observations,
) -> (String, u32, Option<KubeEvent>) {
    let mut count = prior.collision_count;
    let mut revision = template_revision(&spec.template, count);
    let name_taken = |error: &&crate::observations::EffectError| {
        error.kind == EffectKind::ReplicaSet && error.cause == ErrorCause::NameTaken
    };
    let refused = |revision: &str| {
        let mut taken = obs.effect_errors.iter().filter(name_taken).peekable();
        taken.peek().is_some() && {
            let target = format!(
                "ReplicaSet {}",
                replica_set_name(&obs.rollout.name, revision)
            );
            taken.any(|error| error.target == target)
        }
    };
    let spec_changed = prior.observed_generation != Some(obs.rollout.generation);
    if !spec_changed && !refused(&revision) {
        return (revision, count, None);
    }
    let digest = template_digest(&spec.template);
    let other_template = |revision: &str| {
        obs.replica_sets.iter().any(|rs| {
            rs.revision == revision
                && rs
                    .template_digest
                    .as_deref()
                    .is_some_and(|held| held != digest)
        })
    };
    let first = revision.clone();
    while count - prior.collision_count < MAX_RENAMES
        && (refused(&revision) || other_template(&revision))
    {
        count = count.saturating_add(1);
        revision = template_revision(&spec.template, count);
    }
    let event = (count != prior.collision_count).then(|| KubeEvent {
        type_: EventType::Warning,
        reason: reason::REVISION_NAME_COLLISION.into(),
        message: format!(
            "ReplicaSet {} is held by another pod template or owner; this template ships as \
             revision {revision} (collision count {count})",
            replica_set_name(&obs.rollout.name, &first)
        ),
    });
    (revision, count, event)
}
