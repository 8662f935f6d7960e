//! Condition reasons and Event reasons: one CamelCase word each, appearing verbatim in status,
//! Kubernetes Events and snapshots.

/// Reasons for conditions and Kubernetes Events.
pub mod reason {
    /// The spec cannot be acted on.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// A first revision was deployed at full scale.
    pub const INITIAL_REVISION: &str = "InitialRevision";
    /// A new revision started rolling out.
    pub const NEW_REVISION: &str = "NewRevision";
    /// A new template arrived mid-rollout; traffic returns to stable before it starts.
    pub const SUPERSEDED: &str = "Superseded";
    /// The template went back to the stable revision.
    pub const REVERTED_TO_STABLE: &str = "RevertedToStable";
    /// A canary step finished.
    pub const STEP_COMPLETED: &str = "StepCompleted";
    /// Traffic weights moved.
    pub const WEIGHT_CHANGED: &str = "TrafficWeightChanged";
    /// A pause step is holding the rollout.
    pub const PAUSED_BY_STEP: &str = "PausedByStep";
    /// A person paused the rollout.
    pub const PAUSED_BY_USER: &str = "PausedByUser";
    /// A metric was inconclusive too often; a person must promote or abort.
    pub const ANALYSIS_INCONCLUSIVE: &str = "AnalysisInconclusive";
    /// A metric failed too often; the rollout was rolled back.
    pub const ANALYSIS_FAILED: &str = "AnalysisFailed";
    /// An analysis passed.
    pub const ANALYSIS_PASSED: &str = "AnalysisPassed";
    /// Pods were not ready within `progressDeadlineSeconds`; the rollout was rolled back.
    pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
    /// A person aborted the rollout; it was rolled back.
    pub const ABORTED: &str = "Aborted";
    /// A person retried a failed rollout.
    pub const RETRIED: &str = "RolloutRetried";
    /// A person promoted the rollout.
    pub const PROMOTED: &str = "RolloutPromoted";
    /// A person resumed the rollout.
    pub const RESUMED: &str = "RolloutResumed";
    /// A request did not apply in the rollout's current state, or was made for another
    /// revision.
    pub const REQUEST_IGNORED: &str = "RequestIgnored";
    /// The request annotation cannot be read.
    pub const INVALID_REQUEST: &str = "InvalidRequest";
    /// A canary lost the ready pods that carried its traffic; traffic returns to stable.
    pub const CANARY_UNAVAILABLE: &str = "CanaryUnavailable";
    /// Blue-green: the active Service now selects the new revision.
    pub const ACTIVE_SWITCHED: &str = "ActiveServiceSwitched";
    /// The new revision is stable.
    pub const COMPLETED: &str = "RolloutCompleted";
    /// The rollout is not progressing because it ended or failed.
    pub const ROLLOUT_FAILED: &str = "RolloutFailed";
    /// Enough ready pods.
    pub const AVAILABLE: &str = "AvailableReplicas";
    /// Not enough ready pods.
    pub const UNAVAILABLE: &str = "MinimumReplicasUnavailable";
    /// Nothing is paused.
    pub const NOT_PAUSED: &str = "NotPaused";
    /// An effect failed: its target does not exist.
    pub const TARGET_NOT_FOUND: &str = "TargetNotFound";
    /// An effect failed: the controller is not allowed to do it.
    pub const FORBIDDEN: &str = "Forbidden";
    /// An effect failed: the object changed under the write.
    pub const WRITE_CONFLICT: &str = "WriteConflict";
    /// An effect failed: the API refused what was written.
    pub const WRITE_REJECTED: &str = "WriteRejected";
    /// An effect failed: nothing answered.
    pub const UNREACHABLE: &str = "Unreachable";
    /// An effect failed: no answer in time.
    pub const TIMED_OUT: &str = "TimedOut";
    /// An effect failed: the other side reported an error.
    pub const SERVER_ERROR: &str = "ServerError";
    /// An effect failed: the name it wanted is held by another object.
    pub const NAME_TAKEN: &str = "NameTaken";
    /// A revision's name was taken, so the collision count went up and the revision renamed.
    pub const REVISION_NAME_COLLISION: &str = "RevisionNameCollision";
    /// Every effect succeeded again.
    pub const RECONCILE_RECOVERED: &str = "ReconcileRecovered";
    /// A running ReplicaSet no controller owned was taken over as the first revision.
    pub const ADOPTED: &str = "ReplicaSetAdopted";
}
