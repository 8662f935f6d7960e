//! Where the simulator must answer as a real API server does, because users met the
//! difference: dry runs keep nothing, field validation, `details.causes` on 422, the
//! annotation limit, name, label and int32 limits, Events in both APIs, `/scale`, and
//! `/openapi/v3`. Driven by the kube-rs client, and by raw HTTP where it hides the answer.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, ValidationDirective,
    WatchEvent, WatchParams,
};
use kube::{Api, Client, CustomResourceExt};
use kulta::Rollout;
use kulta_apisim::ApiSim;
use serde_json::{Value, json};

async fn client(sim: &ApiSim) -> Client {
    Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap()
}

fn replica_set(name: &str) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}
        }
    }))
    .unwrap()
}

fn rollout(spec_extra: Value) -> Value {
    let mut spec = json!({
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
        "strategy": {"canary": {"stableService": "web-stable", "canaryService": "web-canary", "steps": [{"setWeight": 50}]}}
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), spec_extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

async fn with_rollout_crd(sim: &ApiSim) -> Api<DynamicObject> {
    let client = client(sim).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Rollout::crd())
        .await
        .unwrap();
    Api::namespaced_with(
        client,
        "default",
        &kube::api::ApiResource::erase::<Rollout>(&()),
    )
}

/// A raw HTTP answer: status code, headers (lower-case names) and JSON body.
struct Answer {
    code: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// One request the typed client would not send, or whose answer it would not show whole.
async fn send(sim: &ApiSim, method: &str, path: &str, content_type: &str, body: &[u8]) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(sim.address()).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|status| status.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_lowercase(), value.to_string()))
        .collect();
    Answer {
        code,
        headers,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

fn api_error(error: kube::Error) -> kube::core::Status {
    match error {
        kube::Error::Api(status) => *status,
        other => panic!("not an API error: {other}"),
    }
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "data": {"colour": "blue"}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_dry_run_answers_as_if_written_and_keeps_nothing() {
    let sim = ApiSim::start().await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client(&sim).await, "default");
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let answered = config_maps.create(&dry, &config_map("web")).await.unwrap();
    assert_eq!(answered.metadata.name.as_deref(), Some("web"));
    assert!(answered.metadata.uid.is_some());
    let version = sim.store().lock().unwrap().resource_version();
    assert_eq!(
        api_error(config_maps.get("web").await.unwrap_err()).code,
        404
    );

    let mut watch = config_maps
        .watch(&WatchParams::default().disable_bookmarks(), "0")
        .await
        .unwrap()
        .boxed();
    config_maps
        .create(&PostParams::default(), &config_map("web"))
        .await
        .unwrap();
    let relabel = json!({"data": {"colour": "green"}});
    let patched = config_maps
        .patch(
            "web",
            &PatchParams {
                dry_run: true,
                ..PatchParams::default()
            },
            &Patch::Merge(&relabel),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["colour"], "green");
    let mut fetched = config_maps.get("web").await.unwrap();
    assert_eq!(fetched.data.clone().unwrap()["colour"], "blue");
    fetched
        .data
        .as_mut()
        .unwrap()
        .insert("colour".into(), "red".into());
    config_maps.replace("web", &dry, &fetched).await.unwrap();
    config_maps
        .delete(
            "web",
            &DeleteParams {
                dry_run: true,
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    let kept = config_maps.get("web").await.unwrap();
    assert_eq!(kept.data.unwrap()["colour"], "blue");
    assert_eq!(
        sim.store().lock().unwrap().resource_version(),
        version + 1,
        "one write: the real create"
    );
    // Watchers saw the one real change only.
    let seen = tokio::time::timeout(Duration::from_secs(2), watch.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(seen, Some(WatchEvent::Added(_))), "{seen:?}");
    let more = tokio::time::timeout(Duration::from_millis(300), watch.try_next()).await;
    assert!(more.is_err(), "nothing else was written: {more:?}");

    let refused = send(
        &sim,
        "POST",
        "/api/v1/namespaces/default/configmaps?dryRun=Some",
        "application/json",
        b"{}",
    )
    .await;
    assert_eq!(refused.code, 400);
}

#[tokio::test]
async fn strict_field_validation_refuses_unknown_fields_by_path_and_warn_names_them() {
    let sim = ApiSim::start().await.unwrap();
    let rollouts = with_rollout_crd(&sim).await;
    let bogus = rollout(
        json!({"bogus": 1, "strategy": {"canary": {"stableService": "s", "canaryService": "c", "steps": [], "surprise": true}}}),
    );
    let strict = send(
        &sim,
        "POST",
        "/apis/kulta.io/v1alpha1/namespaces/default/rollouts?fieldValidation=Strict",
        "application/json",
        bogus.to_string().as_bytes(),
    )
    .await;
    assert_eq!(strict.code, 400, "{}", strict.body);
    assert_eq!(
        strict.body["message"],
        "Rollout in version \"v1alpha1\" cannot be handled as a Rollout: strict decoding error: unknown field \"spec.bogus\", unknown field \"spec.strategy.canary.surprise\""
    );
    assert_eq!(api_error(rollouts.get("web").await.unwrap_err()).code, 404);

    let warned = send(
        &sim,
        "POST",
        "/apis/kulta.io/v1alpha1/namespaces/default/rollouts?fieldValidation=Warn",
        "application/json",
        bogus.to_string().as_bytes(),
    )
    .await;
    assert_eq!(warned.code, 201, "{}", warned.body);
    assert_eq!(
        warned.header("warning"),
        [
            "299 - \"unknown field \\\"spec.bogus\\\"\"",
            "299 - \"unknown field \\\"spec.strategy.canary.surprise\\\"\""
        ]
    );
    assert!(warned.body["spec"].get("bogus").is_none(), "pruned");

    // Server-side apply through kube-rs, Strict.
    let mut config = rollout(json!({"replicas": 3, "bogus": 1}));
    config["metadata"]["name"] = "web".into();
    let applied = rollouts
        .patch(
            "web",
            &PatchParams {
                field_validation: Some(ValidationDirective::Strict),
                ..PatchParams::apply("test")
            },
            &Patch::Apply(&config),
        )
        .await
        .unwrap_err();
    let status = api_error(applied);
    assert_eq!(status.code, 400);
    assert!(
        status.message.contains("unknown field \"spec.bogus\""),
        "{}",
        status.message
    );
    let ignored = send(
        &sim,
        "PUT",
        "/apis/kulta.io/v1alpha1/namespaces/default/rollouts/web?fieldValidation=Ignore",
        "application/json",
        bogus.to_string().as_bytes(),
    )
    .await;
    assert_eq!(ignored.code, 200, "{}", ignored.body);
    assert!(ignored.header("warning").is_empty());
}

#[tokio::test]
async fn an_invalid_object_is_answered_with_a_cause_per_field() {
    let sim = ApiSim::start().await.unwrap();
    with_rollout_crd(&sim).await;
    let bad = rollout(json!({"replicas": "two", "revisionHistoryLimit": 3_000_000_000_i64}));
    let answer = send(
        &sim,
        "POST",
        "/apis/kulta.io/v1alpha1/namespaces/default/rollouts",
        "application/json",
        bad.to_string().as_bytes(),
    )
    .await;
    assert_eq!(answer.code, 422, "{}", answer.body);
    let details = &answer.body["details"];
    assert_eq!(details["kind"], "Rollout");
    assert_eq!(details["group"], "kulta.io");
    assert_eq!(details["name"], "web");
    let causes: Vec<(&str, &str)> = details["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        [
            ("spec.replicas", "FieldValueInvalid"),
            ("spec.revisionHistoryLimit", "FieldValueInvalid")
        ]
    );
    assert!(
        answer.body["message"].as_str().unwrap().starts_with(
            "Rollout.kulta.io \"web\" is invalid: [spec.replicas: Invalid value: \"two\""
        ),
        "{}",
        answer.body["message"]
    );
}

#[tokio::test]
async fn names_labels_annotations_and_integers_the_api_server_refuses_are_refused() {
    let sim = ApiSim::start().await.unwrap();
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client(&sim).await, "default");
    let long = "w".repeat(264);
    let status = api_error(
        replica_sets
            .create(&PostParams::default(), &replica_set(&long))
            .await
            .unwrap_err(),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        format!(
            "ReplicaSet.apps \"{long}\" is invalid: metadata.name: Invalid value: \"{long}\": must be no more than 253 characters"
        )
    );
    // KULTA's own name for the ReplicaSet of the longest Rollout name fits.
    let kulta_name = kulta::replica_set_name(&"w".repeat(253), "bcdf245678");
    replica_sets
        .create(&PostParams::default(), &replica_set(&kulta_name))
        .await
        .unwrap();
    for bad in ["Web", "web_1", "-web"] {
        let status = api_error(
            replica_sets
                .create(&PostParams::default(), &replica_set(bad))
                .await
                .unwrap_err(),
        );
        assert_eq!(status.code, 422, "{bad}");
    }

    let mut labelled = replica_set("labelled");
    labelled
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("tier".into(), "front end".into());
    let status = api_error(
        replica_sets
            .create(&PostParams::default(), &labelled)
            .await
            .unwrap_err(),
    );
    assert!(
        status
            .message
            .contains("metadata.labels: Invalid value: \"front end\": a valid label must be"),
        "{}",
        status.message
    );

    let mut annotated = replica_set("annotated");
    annotated.metadata.annotations = Some(
        [("big".to_string(), "x".repeat(256 * 1024))]
            .into_iter()
            .collect(),
    );
    let status = api_error(
        replica_sets
            .create(&PostParams::default(), &annotated)
            .await
            .unwrap_err(),
    );
    assert!(
        status
            .message
            .ends_with("metadata.annotations: Too long: must have at most 262144 bytes"),
        "{}",
        status.message
    );

    let mut huge = serde_json::to_value(replica_set("huge")).unwrap();
    huge["spec"]["replicas"] = 3_000_000_000_i64.into();
    let answer = send(
        &sim,
        "POST",
        "/apis/apps/v1/namespaces/default/replicasets",
        "application/json",
        huge.to_string().as_bytes(),
    )
    .await;
    assert_eq!(answer.code, 400, "{}", answer.body);
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("cannot unmarshal number 3000000000 into Go struct field ReplicaSetSpec.spec.replicas of type int32"),
        "{}",
        answer.body
    );
    let listed = replica_sets.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1, "only KULTA's name was accepted");
}

#[tokio::test]
async fn events_written_as_events_k8s_io_read_as_core_v1() {
    let sim = ApiSim::start().await.unwrap();
    let client = client(&sim).await;
    let written: Api<Event> = Api::namespaced(client.clone(), "default");
    let core: Api<CoreEvent> = Api::namespaced(client, "default");
    let mut watch = core
        .watch(
            &WatchParams::default()
                .disable_bookmarks()
                .fields("involvedObject.name=web"),
            "0",
        )
        .await
        .unwrap()
        .boxed();
    for (name, regarding) in [("web.1", "web"), ("other.1", "other")] {
        let event: Event = serde_json::from_value(json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": name},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "kulta.io/operator", "reportingInstance": "kulta-0",
            "action": "Reconcile", "reason": "InitialRevision", "type": "Normal",
            "note": "first revision is stable",
            "regarding": {"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout", "name": regarding, "namespace": "default", "uid": "u1"},
        }))
        .unwrap();
        written
            .create(&PostParams::default(), &event)
            .await
            .unwrap();
    }
    let selected = core
        .list(&ListParams::default().fields("involvedObject.name=web,involvedObject.kind=Rollout"))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
    let event = &selected.items[0];
    assert_eq!(event.message.as_deref(), Some("first revision is stable"));
    assert_eq!(event.involved_object.name.as_deref(), Some("web"));
    assert_eq!(event.reason.as_deref(), Some("InitialRevision"));
    assert_eq!(
        event.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("kulta.io/operator")
    );
    let fetched = core.get("web.1").await.unwrap();
    assert_eq!(fetched.message.as_deref(), Some("first revision is stable"));
    let seen = tokio::time::timeout(Duration::from_secs(2), watch.try_next())
        .await
        .unwrap()
        .unwrap();
    match seen {
        Some(WatchEvent::Added(event)) => {
            assert_eq!(event.involved_object.name.as_deref(), Some("web"))
        }
        other => panic!("{other:?}"),
    }
    // One object in two views: deleting through one removes it from the other.
    core.delete("web.1", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(written.get("web.1").await.unwrap_err()).code, 404);
    assert_eq!(
        written
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn the_scale_subresource_reads_and_writes_the_replicas_the_crd_names() {
    let sim = ApiSim::start().await.unwrap();
    let rollouts = with_rollout_crd(&sim).await;
    let object: DynamicObject = serde_json::from_value(rollout(json!({}))).unwrap();
    rollouts
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
    rollouts
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"replicas": 2, "selector": "app=web"}})),
        )
        .await
        .unwrap();
    let scale = rollouts.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let status = scale.status.as_ref().unwrap();
    assert_eq!(
        (status.replicas, status.selector.as_deref()),
        (2, Some("app=web"))
    );
    let scaled = rollouts
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(5));
    let stored = rollouts.get("web").await.unwrap();
    assert_eq!(stored.data["spec"]["replicas"], 5);
    assert_eq!(stored.metadata.generation, Some(2));
    let status = api_error(
        rollouts
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"replicas": -1}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 422);
    let discovery = send(
        &sim,
        "GET",
        "/apis/kulta.io/v1alpha1",
        "application/json",
        b"",
    )
    .await;
    let scale = discovery.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "rollouts/scale")
        .cloned()
        .unwrap();
    assert_eq!(
        (scale["group"].as_str(), scale["kind"].as_str()),
        (Some("autoscaling"), Some("Scale"))
    );
    let none = send(
        &sim,
        "GET",
        "/api/v1/namespaces/default/services/x/scale",
        "application/json",
        b"",
    )
    .await;
    assert_eq!(none.code, 404);
}

#[tokio::test]
async fn openapi_v3_describes_each_group_version_with_its_crd_schema() {
    let sim = ApiSim::start().await.unwrap();
    with_rollout_crd(&sim).await;
    let root = send(&sim, "GET", "/openapi/v3", "application/json", b"").await;
    let url = root.body["paths"]["apis/kulta.io/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let document = send(&sim, "GET", &url, "application/json", b"").await;
    assert_eq!(document.code, 200);
    let schema = &document.body["components"]["schemas"]["io.kulta.v1alpha1.Rollout"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"],
        json!([{"group": "kulta.io", "version": "v1alpha1", "kind": "Rollout"}])
    );
    assert!(schema["properties"]["spec"]["properties"]["strategy"].is_object());
    let patch = &document.body["paths"]["/apis/kulta.io/v1alpha1/namespaces/{namespace}/rollouts/{name}"]
        ["patch"];
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
    let missing = send(
        &sim,
        "GET",
        "/openapi/v3/apis/nothing.example/v1",
        "application/json",
        b"",
    )
    .await;
    assert_eq!(missing.code, 404);
}
