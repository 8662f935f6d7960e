//! CDEvents: built with cdevents-sdk, queued for the sink's worker; never waits for it.

use kulta::{CdEvent, ErrorCause};

use crate::operator::context::Context;

use super::EffectFailure;

/// Queue the event for delivery (nothing to do without a sink).
pub fn emit(ctx: &Context, event: &CdEvent) -> Result<(), EffectFailure> {
    let Some(sink) = &ctx.sink else {
        return Ok(());
    };
    let cloud_event =
        crate::cdevents::cloud_event(event, &ctx.settings.cdevents_source).map_err(|error| {
            EffectFailure {
                cause: ErrorCause::Invalid,
                message: error.to_string(),
            }
        })?;
    let body = serde_json::to_vec(&cloud_event).map_err(|error| EffectFailure {
        cause: ErrorCause::Invalid,
        message: error.to_string(),
    })?;
    sink.send(crate::operator::sink::Delivery {
        id: event.id.clone(),
        kind: crate::cdevents::type_name(event.kind).to_string(),
        rollout: event.subject_id.clone(),
        body,
    })
}
