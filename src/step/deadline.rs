//! Waiting on the cluster: what a strategy waits for in this step, and the progress deadline,
//! enforced from a timestamp kept in the status so that a restart does not reset it.

use chrono::{DateTime, Utc};

use crate::conditions::reason;
use crate::effect::WakeReason;
use crate::status::Waiting;

use super::Cx;

/// What a strategy waits for in this step.
pub(crate) struct Wait {
    pub progress: i32,
    pub what: String,
    pub detail: String,
}

impl Cx<'_> {
    /// Record that this step waits on the cluster (pods, or a write to be observed): `what`
    /// names the wait (a new name is a new wait), `progress` grows as it makes headway, and
    /// `detail` says where it stands. The last wait recorded in a step is the one that counts.
    pub fn wait_for(&mut self, progress: i32, what: String, detail: String) {
        self.waiting = Some(Wait {
            progress,
            what,
            detail,
        });
    }
    /// Wait (under the deadline) while `revision` has fewer than `wanted` ready pods.
    pub fn wait_for_pods(&mut self, revision: Option<&str>, wanted: i32) {
        let Some(rs) = self.replica_set(revision) else {
            return;
        };
        let wanted = wanted.min(rs.replicas);
        if rs.ready_replicas < wanted {
            let (ready, name) = (rs.ready_replicas, rs.name.clone());
            self.wait_for(
                ready,
                format!("{wanted} ready pods of {name}"),
                format!("{ready} ready"),
            );
        }
    }
    /// Enforce the progress deadline from the persisted start of the wait. Only forward
    /// progress (more than the most seen in this wait) restarts it; a wait that relapses within
    /// a deadline of being satisfied resumes where it was.
    pub fn enforce_deadline(&mut self) -> bool {
        let now = self.obs.now;
        let deadline_of =
            |at: DateTime<Utc>| crate::duration::after(at, self.plan.progress_deadline);
        if self.is_settled() {
            self.status.waiting = None;
            self.waiting = None;
            return false;
        }
        let Some(wait) = self.waiting.take() else {
            // Satisfied: keep the record for a deadline, in case the wait relapses.
            if let Some(waiting) = self.status.waiting.as_mut() {
                let resolved = *waiting.resolved_at.get_or_insert(now);
                if now >= deadline_of(resolved) {
                    self.status.waiting = None;
                } else {
                    self.wake_at(deadline_of(resolved), WakeReason::ProgressDeadline);
                }
            }
            return false;
        };
        let (since, progress) = match &self.status.waiting {
            Some(waiting)
                if waiting.what == wait.what
                    && wait.progress <= waiting.progress
                    && waiting.resolved_at.is_none_or(|at| now < deadline_of(at)) =>
            {
                (waiting.since, waiting.progress)
            }
            _ => (now, wait.progress),
        };
        self.status.waiting = Some(Waiting {
            since,
            progress,
            what: wait.what.clone(),
            resolved_at: None,
        });
        let deadline = deadline_of(since);
        if now >= deadline {
            let seconds = self.plan.progress_deadline.num_seconds();
            let detail = if wait.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", wait.detail)
            };
            self.fail(
                reason::PROGRESS_DEADLINE_EXCEEDED,
                format!(
                    "waited for {}{detail}: no progress for {seconds}s",
                    wait.what
                ),
            );
            return true;
        }
        self.wake_at(deadline, WakeReason::ProgressDeadline);
        false
    }
}
