//! What differs between canary, blue-green and simple. Each strategy answers the same
//! questions; [`run`] asks them in one order, so the pipeline is written once.

use crate::request::RequestAction;

use super::{Cx, Desired};

/// One strategy's part of a `step`. A value lives for one `step` call, so it may carry what
/// it decided in one phase of the pipeline to a later one.
pub(crate) trait Strategy {
    /// Decide which revision is being shipped (a new template, a revert, a superseded one).
    fn settle_revision(&mut self, cx: &mut Cx<'_>);

    /// A request the common handling (`abort`, `pause`, `resume`) left to the strategy:
    /// `promote`, `promote --full`, `retry`.
    fn handle_request(&mut self, cx: &mut Cx<'_>, action: RequestAction);

    /// Before anything moves, whatever holds the rollout: what it waits on.
    fn watch(&mut self, _cx: &mut Cx<'_>) {}

    /// The shipment may go forward (the template's revision, not held): move it.
    fn advance(&mut self, cx: &mut Cx<'_>);

    /// The shipment may not go forward (finished, rolled back, held, draining), perhaps since
    /// just now: what still moves toward its target.
    fn hold(&mut self, _cx: &mut Cx<'_>) {}

    /// In every state, last: keep traffic off pods that stopped serving it.
    fn guard(&mut self, _cx: &mut Cx<'_>) {}

    /// The desired world, derived from the new status.
    fn desired(&self, cx: &Cx<'_>) -> Desired;
}

/// The pipeline: settle the revision, handle a request, settle a first revision, watch,
/// advance or hold, guard, enforce the progress deadline, and derive the desired world.
pub(crate) fn run(cx: &mut Cx<'_>, strategy: &mut impl Strategy) -> Desired {
    strategy.settle_revision(cx);
    if let Some(action) = cx.take_request()
        && let Some(action) = cx.common_request(action)
    {
        strategy.handle_request(cx, action);
    }
    if !cx.settle_first_revision() {
        strategy.watch(cx);
        if cx.may_advance() {
            strategy.advance(cx);
        }
        if !cx.may_advance() {
            strategy.hold(cx);
        }
    }
    strategy.guard(cx);
    cx.enforce_deadline();
    strategy.desired(cx)
}
