//! KULTA's core: the pure, deterministic decision function of a Kubernetes progressive
//! delivery controller.
//!
//! **This crate does no IO and reads no clock.** Time comes in as [`Observations::now`]; there
//! is no tokio, no Kubernetes client, no HTTP and no randomness here. **The same inputs give
//! byte-identical outputs**: nothing depends on hash-map iteration order. **Effects are
//! level-triggered**: each states an end state, so executing one twice is harmless and calling
//! [`step`] again with the same observations yields the same effects.
//!
//! The interpreter (the `kulta-interpreter` crate) runs the loop:
//!
//! ```no_run
//! use kulta::{Effect, Observations, RolloutSpec, RolloutStatus, step};
//!
//! fn reconcile(
//!     spec: &RolloutSpec,
//!     status: &RolloutStatus,
//!     observe: impl Fn() -> Observations,
//!     mut execute: impl FnMut(&Effect),
//!     mut write_status: impl FnMut(&RolloutStatus),
//! ) {
//!     // 1. Gather what the cluster looks like now (the only place that reads the clock).
//!     let observations = observe();
//!     // 2. Decide.
//!     let (next, effects) = step(spec, status, &observations);
//!     // 3. Carry the decisions out, in order; results come back in the next observations.
//!     for effect in &effects {
//!         execute(effect);
//!     }
//!     // 4. Persist the new status; `Effect::RequeueAfter` says when to run again.
//!     if &next != status {
//!         write_status(&next);
//!     }
//! }
//! ```
//!
//! Leadership is a second machine of the same shape: [`lease_step`].

#![warn(missing_docs)]

pub mod cdevents;
pub mod conditions;
pub mod duration;
pub mod effect;
pub mod leader;
pub mod observations;
pub mod request;
pub mod revision;
pub mod sim;
pub mod spec;
pub mod status;
mod step;
pub mod time;
pub mod trace;
pub mod validate;

pub use effect::{
    BackendWeight, CdEvent, CdEventKind, Effect, EffectKind, EventType, HeaderRouteRule, KubeEvent,
    MeasurementKey, MetricQuery, RouteRef, WakeReason,
};
pub use leader::{
    Leadership, LeaseConfig, LeaseEffect, LeaseObservation, ObservedLease, lease_step,
};
pub use observations::{
    EffectError, ErrorCause, MetricResult, MetricValue, Observations, ObservedBackend,
    ObservedHttpRoute, ObservedOrphan, ObservedReplicaSet, ObservedService, ObservedWorkload,
    RolloutRef,
};
pub use request::{ControlRequest, REQUEST_ANNOTATION, RequestAction};
pub use revision::{
    ADOPTING_ANNOTATION, FOREIGN_HASH_LABELS, POD_TEMPLATE_DIGEST_ANNOTATION,
    POD_TEMPLATE_HASH_LABEL, pod_template_hash, replica_set_name, template_digest,
    template_revision,
};
pub use spec::{Rollout, RolloutSpec, ScaleDown, WorkloadRef};
pub use status::{Phase, RolloutStatus};
pub use step::step;
pub use validate::{Plan, SpecError, validate};
