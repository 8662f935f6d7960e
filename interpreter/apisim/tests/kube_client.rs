//! The simulator driven by the real kube-rs client.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use kulta::Rollout;
use kulta_apisim::ApiSim;
use serde_json::json;

async fn client(sim: &ApiSim) -> Client {
    let config = kube::Config::new(sim.url().parse().unwrap());
    Client::try_from(config).unwrap()
}

fn service(name: &str, app: &str) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}
    }))
    .unwrap()
}

fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn create_get_update_and_delete_round_trip() {
    let sim = ApiSim::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(client(&sim).await, "default");
    let created = services
        .create(&PostParams::default(), &service("web", "web"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let mut fetched = services.get("web").await.unwrap();
    assert_eq!(
        fetched.metadata.resource_version,
        created.metadata.resource_version
    );
    fetched.labels_mut().insert("tier".into(), "front".into());
    let updated = services
        .replace("web", &PostParams::default(), &fetched)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    let error = services.get("web").await.unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 404 && s.reason == "NotFound"),
        "{error}"
    );
}

#[tokio::test]
async fn a_stale_resource_version_is_a_conflict() {
    let sim = ApiSim::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(client(&sim).await, "default");
    let created = services
        .create(&PostParams::default(), &service("web", "web"))
        .await
        .unwrap();
    let mut first = created.clone();
    first.labels_mut().insert("a".into(), "1".into());
    services
        .replace("web", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created;
    stale.labels_mut().insert("b".into(), "2".into());
    let error = services
        .replace("web", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{error}"
    );
    let error = services
        .create(&PostParams::default(), &service("web", "web"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{error}"
    );
}

#[tokio::test]
async fn merge_json_and_apply_patches_change_what_they_say() {
    let sim = ApiSim::start().await.unwrap();
    let sets: Api<ReplicaSet> = Api::namespaced(client(&sim).await, "default");
    sets.create(&PostParams::default(), &replica_set("web-1", 1))
        .await
        .unwrap();
    let merged = sets
        .patch(
            "web-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.spec.unwrap().replicas, Some(3));
    let operations: kube_json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"}
    ]))
    .unwrap();
    let patched = sets
        .patch(
            "web-1",
            &PatchParams::default(),
            &Patch::<()>::Json(operations),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(5));
    assert_eq!(patched.metadata.labels.unwrap()["tier"], "front");
    // The merge and JSON patches above own spec.replicas: taking it over needs force.
    let applied = sets
        .patch(
            "web-1",
            &PatchParams::apply("kulta").force(),
            &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-1"}, "spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.spec.unwrap().replicas, Some(2));
}

#[tokio::test]
async fn list_pages_with_limit_and_continue() {
    let sim = ApiSim::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(client(&sim).await, "default");
    for i in 0..7 {
        services
            .create(&PostParams::default(), &service(&format!("svc-{i}"), "web"))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(3);
    loop {
        let page = services.list(&params).await.unwrap();
        names.extend(page.items.iter().map(|s| s.name_any()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(
        names,
        (0..7).map(|i| format!("svc-{i}")).collect::<Vec<_>>()
    );
    let selected = services
        .list(
            &ListParams::default()
                .labels("app=web")
                .fields("metadata.name=svc-3"),
        )
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
}

#[tokio::test]
async fn an_invalid_label_selector_is_a_bad_request() {
    let sim = ApiSim::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(client(&sim).await, "default");
    let error = services
        .list(&ListParams::default().labels("app in web"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref s) if s.code == 400),
        "{error}"
    );
}

#[tokio::test]
async fn a_watch_resumes_from_its_last_resource_version_after_a_cut() {
    let sim = ApiSim::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(client(&sim).await, "default");
    let first = services
        .create(&PostParams::default(), &service("a", "web"))
        .await
        .unwrap();
    let from = first.resource_version().unwrap();
    // A watch that the server cuts after one second.
    let stream = services
        .watch(&WatchParams::default().timeout(1), &from)
        .await
        .unwrap();
    services
        .create(&PostParams::default(), &service("b", "web"))
        .await
        .unwrap();
    let seen: Vec<_> = stream
        .try_filter(|e| std::future::ready(!matches!(e, WatchEvent::Bookmark(_))))
        .try_collect()
        .await
        .unwrap();
    let last = match seen.as_slice() {
        [WatchEvent::Added(svc)] => {
            assert_eq!(svc.name_any(), "b");
            svc.resource_version().unwrap()
        }
        other => panic!("{other:?}"),
    };
    // Changes made while nobody watched arrive when the watch resumes.
    services
        .create(&PostParams::default(), &service("c", "web"))
        .await
        .unwrap();
    services
        .delete("a", &DeleteParams::default())
        .await
        .unwrap();
    let resumed: Vec<_> = services
        .watch(&WatchParams::default().timeout(1), &last)
        .await
        .unwrap()
        .try_filter(|e| std::future::ready(!matches!(e, WatchEvent::Bookmark(_))))
        .try_collect()
        .await
        .unwrap();
    let names: Vec<String> = resumed
        .iter()
        .map(|e| match e {
            WatchEvent::Added(s) => format!("added {}", s.name_any()),
            WatchEvent::Deleted(s) => format!("deleted {}", s.name_any()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["added c", "deleted a"]);
}

#[tokio::test]
async fn a_watch_from_a_compacted_version_gets_410_gone() {
    let sim = ApiSim::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(client(&sim).await, "default");
    let old = services
        .create(&PostParams::default(), &service("a", "web"))
        .await
        .unwrap();
    for i in 0..5 {
        services
            .create(&PostParams::default(), &service(&format!("x{i}"), "web"))
            .await
            .unwrap();
    }
    sim.store().lock().unwrap().compact(2);
    let mut stream = services
        .watch(
            &WatchParams::default().timeout(1),
            &old.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    match stream.next().await {
        Some(Ok(WatchEvent::Error(status))) => assert_eq!(status.code, 410),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn watch_bookmarks_carry_the_current_resource_version() {
    let sim = ApiSim::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(client(&sim).await, "default");
    let created = services
        .create(&PostParams::default(), &service("a", "web"))
        .await
        .unwrap();
    let events: Vec<_> = services
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default().timeout(2)
            },
            &created.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(events.iter().any(|e| matches!(e, WatchEvent::Bookmark(b) if b.metadata.resource_version == created.resource_version().unwrap())));
}

#[tokio::test]
async fn a_crd_makes_its_kind_served_and_status_is_a_subresource() {
    let sim = ApiSim::start().await.unwrap();
    let client = client(&sim).await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    crds.create(&PostParams::default(), &Rollout::crd())
        .await
        .unwrap();
    let rollouts: Api<Rollout> = Api::namespaced(client, "default");
    let rollout: Rollout = serde_json::from_value(json!({
        "apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
            "strategy": {"canary": {"steps": [{"setWeight": 50}]}}
        },
        "status": {"phase": "Completed"}
    }))
    .unwrap();
    let created = rollouts
        .create(&PostParams::default(), &rollout)
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.status.is_none(), "status is ignored on create");
    // Status through the subresource; spec changes there are ignored.
    let status = rollouts
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Progressing"}, "spec": {"replicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(
        status.status.unwrap().phase,
        Some(kulta::Phase::Progressing)
    );
    assert_eq!(status.spec.replicas, 2);
    assert_eq!(
        status.metadata.generation,
        Some(1),
        "status changes do not bump generation"
    );
    // Spec through the main endpoint; status changes there are ignored.
    let spec = rollouts
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}, "status": {"phase": "Failed"}})),
        )
        .await
        .unwrap();
    assert_eq!(spec.spec.replicas, 3);
    assert_eq!(spec.status.unwrap().phase, Some(kulta::Phase::Progressing));
    assert_eq!(spec.metadata.generation, Some(2));
}

#[tokio::test]
async fn deleting_an_owner_collects_what_it_owns() {
    let sim = ApiSim::start().await.unwrap();
    let client = client(&sim).await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let owner = services
        .create(&PostParams::default(), &service("owner", "web"))
        .await
        .unwrap();
    let sets: Api<ReplicaSet> = Api::namespaced(client, "default");
    let mut owned = replica_set("owned", 1);
    owned.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: "owner".into(),
        uid: owner.uid().unwrap(),
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    sets.create(&PostParams::default(), &owned).await.unwrap();
    sets.create(&PostParams::default(), &replica_set("free", 1))
        .await
        .unwrap();
    services
        .delete("owner", &DeleteParams::default())
        .await
        .unwrap();
    let left: Vec<String> = sets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|r| r.name_any())
        .collect();
    assert_eq!(left, ["free"]);
}

#[tokio::test]
async fn bad_input_gets_the_status_a_real_server_returns() {
    let sim = ApiSim::start().await.unwrap();
    let http = reqwest_like(&sim).await;
    // Malformed JSON.
    let (code, body) = http
        .send(
            "POST",
            "/api/v1/namespaces/default/services",
            "application/json",
            b"{nope",
        )
        .await;
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")));
    // Wrong apiVersion.
    let (code, body) = http
        .send(
            "POST",
            "/api/v1/namespaces/default/services",
            "application/json",
            br#"{"apiVersion":"v2","kind":"Service","metadata":{"name":"x"}}"#,
        )
        .await;
    assert_eq!(code, 400, "{body}");
    // Unknown kind.
    let (code, _) = http
        .send(
            "GET",
            "/apis/example.com/v1/namespaces/default/widgets",
            "application/json",
            b"",
        )
        .await;
    assert_eq!(code, 404);
    // Oversized body.
    let big = vec![b' '; kulta_apisim::server::MAX_BODY + 1];
    let (code, body) = http
        .send(
            "POST",
            "/api/v1/namespaces/default/services",
            "application/json",
            &big,
        )
        .await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );
    // Unknown patch type.
    let (code, _) = http
        .send(
            "PATCH",
            "/api/v1/namespaces/default/services/x",
            "text/plain",
            b"{}",
        )
        .await;
    assert_eq!(code, 415);
    // Malformed YAML in a server-side apply.
    let (code, body) = http
        .send(
            "PATCH",
            "/api/v1/namespaces/default/services/x?fieldManager=t",
            "application/apply-patch+yaml",
            b"metadata: [unclosed",
        )
        .await;
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")));
    // Missing namespace.
    let (code, body) = http
        .send(
            "POST",
            "/api/v1/namespaces/nowhere/services",
            "application/json",
            br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}"#,
        )
        .await;
    assert_eq!(
        (code, body["details"]["kind"].as_str()),
        (404, Some("namespaces"))
    );
}

#[tokio::test]
async fn discovery_lists_what_is_served() {
    let sim = ApiSim::start().await.unwrap();
    let client = client(&sim).await;
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
    let groups = client.list_api_groups().await.unwrap();
    assert!(groups.groups.iter().any(|g| g.name == "apps"));
    let core = client.list_core_api_resources("v1").await.unwrap();
    assert!(core.resources.iter().any(|r| r.name == "services/status"));
    let _ = ConfigMap::default();
}

/// A minimal HTTP client for requests the typed client will not send.
struct Raw {
    address: std::net::SocketAddr,
}

async fn reqwest_like(sim: &ApiSim) -> Raw {
    Raw {
        address: sim.address(),
    }
}

impl Raw {
    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.address).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // The server may answer before reading all of an oversized body.
        let _ = stream.write_all(body).await;
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
            .await
            .unwrap()
            .ok();
        let text = String::from_utf8_lossy(&response);
        let code = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let json = text
            .split("\r\n\r\n")
            .nth(1)
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or_default();
        (code, json)
    }
}

#[tokio::test]
async fn a_crd_schema_rejects_wrong_types_prunes_unknown_fields_and_fills_defaults() {
    let sim = ApiSim::start().await.unwrap();
    let client = client(&sim).await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    crds.create(&PostParams::default(), &Rollout::crd())
        .await
        .unwrap();
    let rollouts: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client,
        "default",
        &kube::api::ApiResource::erase::<Rollout>(&()),
    );
    let rollout = |spec: serde_json::Value| -> kube::api::DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "kulta.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web"}, "spec": spec
        }))
        .unwrap()
    };
    let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}});
    let bad = rollout(json!({
        "replicas": "two", "selector": {"matchLabels": {"app": "web"}}, "template": template,
        "strategy": {"canary": {"steps": [{"setWeight": 50}]}}
    }));
    let error = rollouts
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    match error {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
            assert!(
                status
                    .message
                    .contains("spec.replicas: Invalid value: \"two\": must be of type integer"),
                "{}",
                status.message
            );
        }
        other => panic!("{other}"),
    }
    let good = rollout(json!({
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template,
        "strategy": {"canary": {"steps": [{"setWeight": 50}]}}, "bogus": {"x": 1}
    }));
    let created = rollouts
        .create(&PostParams::default(), &good)
        .await
        .unwrap();
    assert_eq!(
        created.data["spec"].get("bogus"),
        None,
        "unknown fields are pruned"
    );
    assert_eq!(
        created.data["spec"]["revisionHistoryLimit"], 2,
        "defaults are filled in"
    );
    assert_eq!(created.data["spec"]["progressDeadlineSeconds"], 600);
}

#[tokio::test]
async fn a_strategic_merge_patch_merges_containers_by_name() {
    let sim = ApiSim::start().await.unwrap();
    let sets: Api<ReplicaSet> = Api::namespaced(client(&sim).await, "default");
    let mut set = replica_set("web-1", 1);
    if let Some(template) = set
        .spec
        .as_mut()
        .and_then(|s| s.template.as_mut())
        .and_then(|t| t.spec.as_mut())
    {
        template
            .containers
            .push(serde_json::from_value(json!({"name": "proxy", "image": "proxy:1"})).unwrap());
    }
    sets.create(&PostParams::default(), &set).await.unwrap();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}});
    let patched = sets
        .patch("web-1", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let containers = patched
        .spec
        .unwrap()
        .template
        .unwrap()
        .spec
        .unwrap()
        .containers;
    let images: Vec<_> = containers
        .iter()
        .map(|c| c.image.clone().unwrap_or_default())
        .collect();
    assert_eq!(images, ["web:2", "proxy:1"]);
}

#[tokio::test]
async fn server_side_apply_conflicts_on_fields_another_manager_set_unless_forced() {
    let sim = ApiSim::start().await.unwrap();
    let sets: Api<ReplicaSet> = Api::namespaced(client(&sim).await, "default");
    let config = |replicas: i32| {
        let mut set = serde_json::to_value(replica_set("web-1", replicas)).unwrap();
        set["metadata"] = json!({"name": "web-1", "labels": {"app": "web"}});
        Patch::Apply(set)
    };
    let created = sets
        .patch("web-1", &PatchParams::apply("kulta"), &config(2))
        .await
        .unwrap();
    assert_eq!(created.spec.unwrap().replicas, Some(2));
    // Someone scales by hand: that manager owns spec.replicas now.
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    sets.patch(
        "web-1",
        &edit,
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    // Applying the same value as is set is no conflict.
    sets.patch("web-1", &PatchParams::apply("kulta"), &config(5))
        .await
        .unwrap();
    // A different value is.
    let error = sets
        .patch("web-1", &PatchParams::apply("kulta"), &config(3))
        .await
        .unwrap_err();
    match error {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert_eq!(
                status.message,
                "Apply failed with 1 conflict: conflict with \"kubectl-edit\": .spec.replicas"
            );
        }
        other => panic!("{other}"),
    }
    let forced = sets
        .patch("web-1", &PatchParams::apply("kulta").force(), &config(3))
        .await
        .unwrap();
    assert_eq!(forced.spec.unwrap().replicas, Some(3));
    // Ownership moved: applying again needs no force.
    sets.patch("web-1", &PatchParams::apply("kulta"), &config(4))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_field_a_manager_stops_applying_is_removed_unless_someone_else_owns_it() {
    let sim = ApiSim::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(client(&sim).await, "default");
    let apply = |labels: serde_json::Value| {
        Patch::Apply(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": labels}, "spec": {"ports": [{"port": 80}]}}),
        )
    };
    services
        .patch(
            "web",
            &PatchParams::apply("kulta"),
            &apply(json!({"a": "1", "b": "2"})),
        )
        .await
        .unwrap();
    let other = PatchParams {
        field_manager: Some("someone".into()),
        ..PatchParams::default()
    };
    services
        .patch(
            "web",
            &other,
            &Patch::Merge(json!({"metadata": {"labels": {"b": "9"}}})),
        )
        .await
        .unwrap();
    let after = services
        .patch(
            "web",
            &PatchParams::apply("kulta").force(),
            &apply(json!({"c": "3"})),
        )
        .await
        .unwrap();
    let labels = after.metadata.labels.unwrap();
    assert_eq!(labels.get("a"), None, "only kulta owned a");
    assert_eq!(
        labels.get("b").map(String::as_str),
        Some("9"),
        "someone owns b"
    );
    assert_eq!(labels.get("c").map(String::as_str), Some("3"));
}

#[tokio::test]
async fn the_gateway_api_httproute_crd_serves_httproutes_and_is_established() {
    use gateway_api::httproutes::HttpRoute as HTTPRoute;
    let sim = ApiSim::start().await.unwrap();
    let client = client(&sim).await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let crd = crds
        .create(&PostParams::default(), &HTTPRoute::crd())
        .await
        .unwrap();
    let established = crd.status.unwrap().conditions.unwrap_or_default();
    assert!(
        established
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    let routes: Api<HTTPRoute> = Api::namespaced(client, "default");
    let route: HTTPRoute = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [{"name": "web-stable", "port": 80, "weight": 100}, {"name": "web-canary", "port": 80, "weight": 0}]
        }]}
    }))
    .unwrap();
    routes.create(&PostParams::default(), &route).await.unwrap();
    let patch = json!({"spec": {"rules": [{
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [{"name": "web-stable", "port": 80, "weight": 80}, {"name": "web-canary", "port": 80, "weight": 20}]
    }]}});
    let patched = routes
        .patch("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let weights: Vec<Option<i32>> = patched.spec.rules.unwrap()[0]
        .backend_refs
        .as_ref()
        .unwrap()
        .iter()
        .map(|b| b.weight)
        .collect();
    assert_eq!(weights, [Some(80), Some(20)]);
}

#[tokio::test]
async fn generate_name_makes_a_unique_name() {
    let sim = ApiSim::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(client(&sim).await, "default");
    let mut template = service("", "web");
    template.metadata.name = None;
    template.metadata.generate_name = Some("web-".into());
    let a = services
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let b = services
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    assert!(
        a.name_any().starts_with("web-") && a.name_any().len() == "web-".len() + 5,
        "{}",
        a.name_any()
    );
    assert_ne!(a.name_any(), b.name_any());
}

#[tokio::test]
async fn kube_rs_accepts_the_simulators_kubeconfig() {
    let sim = ApiSim::start().await.unwrap();
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&sim.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = Client::try_from(config).unwrap();
    let services: Api<Service> = Api::default_namespaced(client);
    services
        .create(&PostParams::default(), &service("web", "web"))
        .await
        .unwrap();
}
