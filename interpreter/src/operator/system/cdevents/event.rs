//! The core's CDEvent effects as real CDEvents (spec 0.5.1, built with `cdevents-sdk`) and as
//! the CloudEvents that carry them to a sink.

use cdevents_sdk::spec_0_5_1::{
    service_deployed, service_published, service_rolledback, service_upgraded,
};
use cdevents_sdk::{CDEvent, Id, Subject, UriReference};
use kulta::CdEventKind;

/// Why an effect cannot become a CDEvent.
#[derive(thiserror::Error, Debug)]
pub enum CdEventError {
    /// An id, subject or artifact is empty.
    #[error("CDEvent field {field} is empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// The source is not a URI reference.
    #[error("CDEvent source {0:?} is not a URI reference")]
    Source(String),
    /// The timestamp is out of range.
    #[error("CDEvent timestamp {0} is out of range")]
    Timestamp(String),
    /// The CloudEvent could not be built.
    #[error("building the CloudEvent: {0}")]
    CloudEvent(String),
}

fn id(value: &str, field: &'static str) -> Result<Id, CdEventError> {
    value.parse().map_err(|_| CdEventError::Empty { field })
}

/// The CDEvent for a core effect; `source` names this controller (a URI reference).
pub fn build(event: &kulta::CdEvent, source: &str) -> Result<CDEvent, CdEventError> {
    let artifact = id(&event.artifact_id, "artifactId")?;
    let environment = id(&event.environment, "environment.id")?;
    let subject: Subject = match event.kind {
        CdEventKind::ServiceDeployed => service_deployed::Content {
            artifact_id: artifact,
            environment: service_deployed::ContentEnvironment {
                id: environment,
                source: None,
            },
        }
        .into(),
        CdEventKind::ServiceUpgraded => service_upgraded::Content {
            artifact_id: artifact,
            environment: service_upgraded::ContentEnvironment {
                id: environment,
                source: None,
            },
        }
        .into(),
        CdEventKind::ServiceRolledback => service_rolledback::Content {
            artifact_id: artifact,
            environment: service_rolledback::ContentEnvironment {
                id: environment,
                source: None,
            },
        }
        .into(),
        CdEventKind::ServicePublished => service_published::Content {
            environment: Some(service_published::ContentEnvironment {
                id: environment,
                source: None,
            }),
        }
        .into(),
    };
    let subject = subject.with_id(id(&event.subject_id, "subject.id")?);
    let source: UriReference = source
        .parse()
        .map_err(|_| CdEventError::Source(source.to_string()))?;
    let nanos = event
        .timestamp
        .timestamp_nanos_opt()
        .ok_or_else(|| CdEventError::Timestamp(event.timestamp.to_rfc3339()))?;
    let timestamp = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|_| CdEventError::Timestamp(event.timestamp.to_rfc3339()))?;
    Ok(CDEvent::from(subject)
        .with_id(id(&event.id, "context.id")?)
        .with_source(source)
        .with_timestamp(timestamp))
}

/// The CDEvents specification version KULTA's events follow. cdevents-sdk 0.4 builds 0.5.1
/// events but writes `0.5.0` in `context.specversion`; the document is corrected here.
pub const SPEC_VERSION: &str = "0.5.1";

/// The CDEvent for a core effect as the JSON document sent: `context.specversion` is
/// [`SPEC_VERSION`], and every field comes from the effect (the timestamp is the transition's,
/// not the send time), so a re-sent event is byte-identical to the first.
pub fn document(event: &kulta::CdEvent, source: &str) -> Result<serde_json::Value, CdEventError> {
    let cdevent = build(event, source)?;
    let mut json = serde_json::to_value(&cdevent)
        .map_err(|error| CdEventError::CloudEvent(error.to_string()))?;
    if let Some(context) = json.get_mut("context").and_then(|c| c.as_object_mut()) {
        context.insert("specversion".into(), SPEC_VERSION.into());
    }
    Ok(json)
}

/// The CloudEvent (binary mode payload: the CDEvent as JSON data) for a core effect.
pub fn cloud_event(
    event: &kulta::CdEvent,
    source: &str,
) -> Result<cloudevents::Event, CdEventError> {
    let cdevent = build(event, source)?;
    let data = document(event, source)?;
    let mut cloud = cloudevents::Event::try_from(cdevent)
        .map_err(|error| CdEventError::CloudEvent(error.to_string()))?;
    cloud.set_data("application/json", data);
    Ok(cloud)
}

/// The CDEvents type of a kind, as it appears in `context.type`.
pub fn type_name(kind: CdEventKind) -> &'static str {
    match kind {
        CdEventKind::ServiceDeployed => "dev.cdevents.service.deployed.0.3.0",
        CdEventKind::ServiceUpgraded => "dev.cdevents.service.upgraded.0.3.0",
        CdEventKind::ServiceRolledback => "dev.cdevents.service.rolledback.0.3.0",
        CdEventKind::ServicePublished => "dev.cdevents.service.published.0.3.0",
    }
}
