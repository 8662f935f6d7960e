//! CDEvents: what `step` decided to emit sits in the status's outbox; the reconcile offers the
//! outbox to the sink once the status is written (`offer`), so an event is sent only after the
//! transition that owes it is stored, and again after a restart until it is acknowledged.

pub mod event;
pub mod sink;

use kulta::CdEvent;

use crate::operator::context::Context;

use crate::operator::error::Failure;

/// The effect itself sends nothing: the outbox does, after the status write.
pub fn emit(_ctx: &Context, _event: &CdEvent) -> Result<(), Failure> {
    Ok(())
}

/// Offer a rollout's outbox to the sink (nothing to do without one).
pub fn offer(ctx: &Context, namespace: &str, name: &str, outbox: &[CdEvent]) {
    let Some(sink) = &ctx.sink else {
        return;
    };
    let source = &ctx.settings.cdevents_source;
    sink.offer(namespace, name, outbox, |event| {
        match event::cloud_event(event, source)
            .map_err(|error| error.to_string())
            .and_then(|cloud| serde_json::to_vec(&cloud).map_err(|error| error.to_string()))
        {
            Ok(body) => Some(body),
            Err(error) => {
                tracing::warn!(id = %event.id, rollout = %event.subject_id, %error, "a CDEvent could not be built; dropped");
                None
            }
        }
    });
}
