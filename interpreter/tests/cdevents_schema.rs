//! Every CDEvent KULTA emits validates against the official CDEvents 0.5.1 JSON schema for its
//! type (copied into `tests/data/cdevents`, Apache-2.0).

use std::path::{Path, PathBuf};

use kulta::effect::{CdEventKind, Effect};
use kulta::sim::scenario::Scenario;

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cdevents")
        .join(path)
}

fn load(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn validator(kind: CdEventKind) -> jsonschema::Validator {
    let file = match kind {
        CdEventKind::ServiceDeployed => "servicedeployed.json",
        CdEventKind::ServiceUpgraded => "serviceupgraded.json",
        CdEventKind::ServiceRolledback => "servicerolledback.json",
        CdEventKind::ServicePublished => "servicepublished.json",
    };
    let mut options = jsonschema::options();
    for entry in std::fs::read_dir(data("links")).unwrap() {
        let schema = load(&entry.unwrap().path());
        let uri = schema["$id"].as_str().unwrap().to_string();
        options = options.with_resource(uri, jsonschema::Resource::from_contents(schema).unwrap());
    }
    options.build(&load(&data(file))).unwrap()
}

fn emitted(scenario: &str) -> Vec<kulta::CdEvent> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/scenarios")
        .join(scenario);
    let run = Scenario::from_yaml(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .run()
        .unwrap();
    run.records
        .iter()
        .flat_map(|r| r.effects.iter())
        .filter_map(|e| match e {
            Effect::EmitCdEvent(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_emitted_cdevent_validates_against_its_official_schema() {
    let mut events = emitted("canary-completes-over-http-route.yaml");
    events.extend(emitted(
        "canary-error-rate-goes-bad-and-traffic-returns-to-stable.yaml",
    ));
    let mut kinds = std::collections::BTreeSet::new();
    for event in &events {
        let json =
            kulta_interpreter::operator::system::cdevents::event::document(event, "/kulta/demo")
                .unwrap();
        assert_eq!(json["context"]["specversion"], "0.5.1");
        let validator = validator(event.kind);
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{:?} {json:#}\n{errors:#?}", event.kind);
        assert_eq!(json["context"]["id"], event.id.as_str());
        assert_eq!(json["subject"]["id"], "demo/app");
        assert_ne!(
            json["subject"]["id"],
            "00000000-0000-0000-0000-000000000000"
        );
        kinds.insert(format!("{:?}", event.kind));
    }
    assert_eq!(
        kinds.len(),
        4,
        "deployed, upgraded, rolledback and published all checked: {kinds:?}"
    );
}

#[test]
fn the_cloud_event_carries_the_cdevent_type_id_subject_and_purl() {
    let event = &emitted("canary-completes-over-http-route.yaml")[0];
    let cloud =
        kulta_interpreter::operator::system::cdevents::event::cloud_event(event, "/kulta/demo")
            .unwrap();
    use cloudevents::AttributesReader;
    assert_eq!(cloud.ty(), "dev.cdevents.service.deployed.0.3.0");
    assert_eq!(
        kulta_interpreter::operator::system::cdevents::event::type_name(event.kind),
        cloud.ty(),
        "the type named in logs is the one sent"
    );
    assert_eq!(cloud.id(), event.id);
    assert_eq!(cloud.subject(), Some("demo/app"));
    let Some(cloudevents::Data::Json(data)) = cloud.data() else {
        panic!(
            "the CloudEvent carries the CDEvent as JSON: {:?}",
            cloud.data()
        );
    };
    assert_eq!(data["context"]["specversion"], "0.5.1");
    // Built again (a re-send after a restart): the same bytes.
    let again =
        kulta_interpreter::operator::system::cdevents::event::cloud_event(event, "/kulta/demo")
            .unwrap();
    assert_eq!(
        serde_json::to_vec(&cloud).unwrap(),
        serde_json::to_vec(&again).unwrap()
    );
    assert!(
        event.artifact_id.starts_with("pkg:oci/web?repository_url="),
        "{}",
        event.artifact_id
    );
}
