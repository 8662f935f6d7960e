//! Kubernetes Events on the Rollout (events.k8s.io/v1), with kube-runtime's recorder, which
//! folds repeats into a series.

use kube::Resource;
use kube::runtime::events::{Event, EventType};
use kulta::{KubeEvent, Rollout};

use super::EffectFailure;

/// Record one Event.
pub async fn record(
    ctx: &crate::operator::context::Context,
    rollout: &Rollout,
    event: &KubeEvent,
) -> Result<(), EffectFailure> {
    let type_ = match event.type_ {
        kulta::EventType::Normal => EventType::Normal,
        kulta::EventType::Warning => EventType::Warning,
    };
    let published = Event {
        type_,
        reason: event.reason.clone(),
        note: Some(truncate(&event.message, 1024)),
        action: "Reconcile".into(),
        secondary: None,
    };
    ctx.events
        .publish(&published, &rollout.object_ref(&()))
        .await?;
    Ok(())
}

/// The API refuses notes over 1 kB; cut on a character boundary.
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
