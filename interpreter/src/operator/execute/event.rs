//! Kubernetes Events on the Rollout, one object per distinct message (see `operator::events`).

use kube::Resource;
use kulta::{KubeEvent, Rollout};

use crate::operator::events::EventKind;

use super::EffectFailure;

/// Record one Event.
pub async fn record(
    ctx: &crate::operator::context::Context,
    rollout: &Rollout,
    event: &KubeEvent,
) -> Result<(), EffectFailure> {
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
