//! Control requests (`promote`, `abort`, `pause`…): screened once per token, the ones every
//! strategy treats alike handled here, the rest handed to the strategy.

use crate::conditions::reason;
use crate::effect::{EventType, KubeEvent};
use crate::request::RequestAction;
use crate::status::{ConditionStatus, ConditionType, Phase};

use super::Cx;

impl Cx<'_> {
    /// Take the new request for the strategy to handle.
    pub fn take_request(&mut self) -> Option<RequestAction> {
        self.request.take()
    }
    /// A request made for another revision than the one the spec ships now (a stale
    /// `promote --full` meeting the next image) is ignored, and said so.
    pub(super) fn screen_request(&mut self) {
        let (Some(action), Some(request)) = (self.request, self.obs.request.as_ref()) else {
            return;
        };
        let Some(aimed) = request.revision.as_deref() else {
            return;
        };
        if aimed != self.revision {
            self.request = None;
            let why = format!(
                "it was made for revision {aimed}, and the rollout now ships {}",
                self.revision
            );
            self.ignore_request(action, &why);
        }
    }
    /// A request annotation that cannot be read is a Warning Event (once) and a condition
    /// until it is fixed or removed.
    pub(super) fn report_request_error(&mut self) {
        let Some(error) = self.obs.request_error.clone() else {
            self.status.clear_condition(ConditionType::InvalidRequest);
            return;
        };
        let already_said = self
            .status
            .condition(ConditionType::InvalidRequest)
            .is_some_and(|c| c.message == error);
        if already_said {
            return;
        }
        self.status.set_condition(
            ConditionType::InvalidRequest,
            ConditionStatus::True,
            reason::INVALID_REQUEST,
            &error,
            self.obs.now,
        );
        self.events.push(KubeEvent {
            type_: EventType::Warning,
            reason: reason::INVALID_REQUEST.into(),
            message: format!("{error}; nothing was done"),
        });
    }
    /// Say that a request did not apply.
    pub fn ignore_request(&mut self, action: RequestAction, why: &str) {
        self.status.last_request_ignored = Some(why.to_string());
        self.event(
            EventType::Normal,
            reason::REQUEST_IGNORED,
            format!("{action} ignored: {why}"),
        );
    }
    /// `promote --full`, the part every strategy shares: nothing holds the revision any more
    /// and no analysis judges it.
    pub fn promote_fully(&mut self) {
        self.status.paused_by_user = false;
        self.status.full_promotion = true;
        self.status.gate_analysis = None;
        if let Some(run) = self.status.background_analysis.as_mut() {
            super::analysis::stop(run);
            run.phase = crate::status::AnalysisPhase::Successful;
        }
    }

    /// Handle the requests every strategy treats alike; hand back the ones it must decide.
    pub fn common_request(&mut self, action: RequestAction) -> Option<RequestAction> {
        match action {
            RequestAction::Abort if self.is_settled() => {
                self.ignore_request(action, "the rollout is not in progress");
            }
            RequestAction::Abort => self.fail(reason::ABORTED, "aborted by request"),
            RequestAction::Pause if self.is_settled() => {
                self.ignore_request(action, "the rollout is not in progress");
            }
            RequestAction::Pause => self.pause_by_user(),
            RequestAction::Resume if self.status.paused_by_user => {
                self.status.paused_by_user = false;
                self.event(EventType::Normal, reason::RESUMED, "resumed by request");
            }
            RequestAction::Resume if self.status.analysis_inconclusive() => {
                self.resume_analyses();
                self.event(
                    EventType::Normal,
                    reason::RESUMED,
                    "resumed by request: measuring again after one interval",
                );
            }
            RequestAction::Resume => self.ignore_request(action, "the rollout is not paused"),
            RequestAction::Retry if self.first_in_flight() && self.is_settled() => {
                self.first_revision();
            }
            RequestAction::Retry => {
                let retryable = self.status.phase == Some(Phase::Failed)
                    && self.status.canary_revision.as_deref() == Some(self.revision.as_str());
                if retryable {
                    return Some(action);
                }
                self.ignore_request(action, "only a failed rollout can be retried");
            }
            RequestAction::Promote | RequestAction::PromoteFull if self.is_settled() => {
                self.ignore_request(action, "the rollout is not in progress");
            }
            RequestAction::Promote | RequestAction::PromoteFull => return Some(action),
        }
        None
    }
}
