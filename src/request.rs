//! Manual control as data: a person's request is recorded on the Rollout (annotation
//! [`REQUEST_ANNOTATION`]) with a unique token, and `step` handles each token exactly once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The annotation that carries a request, as `<action>:<token>[:<revision>]`.
///
/// The revision is the pod-template hash the request was made for (what the CLI saw in the
/// spec); a request that meets another revision is ignored and said so. A request without a
/// revision applies to the revision current when `step` first sees it.
pub const REQUEST_ANNOTATION: &str = "kulta.io/request";

/// A request with its unique token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ControlRequest {
    /// What is asked.
    pub action: RequestAction,
    /// Unique per request; the status remembers the last one handled.
    pub token: String,
    /// The revision (pod-template hash) the request was made for, when the requester named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// What a person can ask of a rollout.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RequestAction {
    /// Skip the current step or pause; accept an inconclusive analysis; promote a preview.
    Promote,
    /// Skip every remaining step and analysis.
    PromoteFull,
    /// Roll back now, as a failed analysis would.
    Abort,
    /// Start a failed rollout again from the first step.
    Retry,
    /// Hold the rollout where it is.
    Pause,
    /// Release a user pause, or measure an inconclusive analysis again.
    Resume,
}

impl RequestAction {
    /// Every action, in a fixed order.
    pub const ALL: [RequestAction; 6] = [
        RequestAction::Promote,
        RequestAction::PromoteFull,
        RequestAction::Abort,
        RequestAction::Retry,
        RequestAction::Pause,
        RequestAction::Resume,
    ];

    /// The word used in the annotation and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestAction::Promote => "promote",
            RequestAction::PromoteFull => "promote-full",
            RequestAction::Abort => "abort",
            RequestAction::Retry => "retry",
            RequestAction::Pause => "pause",
            RequestAction::Resume => "resume",
        }
    }
}

impl fmt::Display for RequestAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request annotation could not be read.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// No `:` between action and token, or more parts than action, token and revision.
    #[error("request {0:?} is not <action>:<token> or <action>:<token>:<revision>")]
    Shape(String),
    /// The action is not one of the known words.
    #[error(
        "request action {0:?} is not one of promote, promote-full, abort, retry, pause, resume"
    )]
    UnknownAction(String),
    /// The token is empty.
    #[error("request {0:?} has an empty token")]
    EmptyToken(String),
    /// The revision part is present but empty.
    #[error("request {0:?} has an empty revision")]
    EmptyRevision(String),
}

impl FromStr for ControlRequest {
    type Err = RequestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let shape = || RequestError::Shape(text.to_string());
        let (action, rest) = text.trim().split_once(':').ok_or_else(shape)?;
        let (token, revision) = match rest.split_once(':') {
            Some((_, revision)) if revision.contains(':') => return Err(shape()),
            Some((_, "")) => return Err(RequestError::EmptyRevision(text.to_string())),
            Some((token, revision)) => (token, Some(revision.to_string())),
            None => (rest, None),
        };
        let action = RequestAction::ALL
            .into_iter()
            .find(|known| known.as_str() == action)
            .ok_or_else(|| RequestError::UnknownAction(action.to_string()))?;
        if token.is_empty() {
            return Err(RequestError::EmptyToken(text.to_string()));
        }
        Ok(ControlRequest {
            action,
            token: token.to_string(),
            revision,
        })
    }
}

impl fmt::Display for ControlRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.action, self.token)?;
        match &self.revision {
            Some(revision) => write!(f, ":{revision}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_through_its_annotation() {
        for action in RequestAction::ALL {
            let request = ControlRequest {
                action,
                token: "t-1".into(),
                revision: None,
            };
            assert_eq!(request.to_string().parse(), Ok(request));
            let aimed = ControlRequest {
                action,
                token: "t-2".into(),
                revision: Some("5d8f9c7b6a".into()),
            };
            assert_eq!(aimed.to_string(), format!("{action}:t-2:5d8f9c7b6a"));
            assert_eq!(aimed.to_string().parse(), Ok(aimed));
        }
    }

    #[test]
    fn malformed_annotations_are_named_errors() {
        assert_eq!(
            "promote".parse::<ControlRequest>(),
            Err(RequestError::Shape("promote".into()))
        );
        assert_eq!(
            "launch:1".parse::<ControlRequest>(),
            Err(RequestError::UnknownAction("launch".into()))
        );
        assert_eq!(
            "abort:".parse::<ControlRequest>(),
            Err(RequestError::EmptyToken("abort:".into()))
        );
        assert_eq!(
            "abort:t:".parse::<ControlRequest>(),
            Err(RequestError::EmptyRevision("abort:t:".into()))
        );
        assert_eq!(
            "abort:t:r:x".parse::<ControlRequest>(),
            Err(RequestError::Shape("abort:t:r:x".into()))
        );
    }
}
