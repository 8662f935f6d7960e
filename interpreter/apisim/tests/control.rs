//! The `kulta-apisim` binary driven from outside, as a shell would: faults, the workload model
//! and cut watches from flags and from the control endpoint, and the request log and counts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The simulator process, killed when the test ends (also when it fails).
struct Sim {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kulta-apisim"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let http = reqwest::Client::builder()
            .user_agent("control-test/1")
            .build()
            .unwrap();
        Sim {
            child,
            url: line.trim().to_string(),
            http,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(body) = body {
            let media = if method == reqwest::Method::PATCH && !path.starts_with("/kulta-apisim") {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            request = request.header("content-type", media).body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let code = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn post_text(&self, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let code = response.status().as_u16();
        (
            code,
            serde_json::from_str(&response.text().await.unwrap()).unwrap(),
        )
    }

    /// Poll (every 20 ms, at most 5 s) until the ReplicaSet's ready count is `ready`.
    async fn ready_becomes(&self, name: &str, ready: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        let path = format!("/apis/apps/v1/namespaces/default/replicasets/{name}");
        loop {
            let (_, set) = self.send(reqwest::Method::GET, &path, None).await;
            if set["status"]["readyReplicas"].as_i64() == Some(ready) || Instant::now() > deadline {
                return set;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn config_map(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

fn replica_set(name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_inject_faults_and_the_request_log_names_each_request_and_its_field_manager() {
    let sim = Sim::start(&[
        "--fault",
        "verb=create,resource=configmaps,fail=503,times=1",
        "--request-log",
        "100",
    ]);
    let (_, rules) = sim
        .send(reqwest::Method::GET, "/kulta-apisim/faults", None)
        .await;
    assert_eq!(
        rules,
        json!([{"verb": "create", "resource": "configmaps", "fault": {"fail": 503}, "times": 1, "every": 1, "applied": 0}])
    );
    let maps = "/api/v1/namespaces/default/configmaps";
    let (refused, _) = sim
        .send(reqwest::Method::POST, maps, Some(config_map("a")))
        .await;
    assert_eq!(refused, 503);
    let (created, _) = sim
        .send(reqwest::Method::POST, maps, Some(config_map("a")))
        .await;
    assert_eq!(created, 201);
    let (patched, _) = sim
        .send(
            reqwest::Method::PATCH,
            &format!("{maps}/a?fieldManager=kulta"),
            Some(json!({"data": {"k": "w"}})),
        )
        .await;
    assert_eq!(patched, 200);
    let (read, _) = sim
        .send(reqwest::Method::GET, &format!("{maps}/a"), None)
        .await;
    assert_eq!(read, 200);

    let log: Vec<Value> = sim
        .text("/kulta-apisim/requests/log")
        .await
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    // Verb, resource, name, field manager, code, injected.
    let seen: Vec<Value> = log
        .iter()
        .map(|r| {
            json!([
                r["verb"],
                r["resource"],
                r["name"],
                r["fieldManager"],
                r["code"],
                r["injected"].as_bool().unwrap_or(false)
            ])
        })
        .collect();
    assert_eq!(
        seen,
        [
            json!(["create", "configmaps", null, null, 503, true]),
            json!(["create", "configmaps", null, null, 201, false]),
            json!(["patch", "configmaps", "a", "kulta", 200, false]),
            json!(["get", "configmaps", "a", null, 200, false]),
        ]
    );
    assert!(
        log.iter()
            .all(|r| r["agent"] == "control-test" && r["namespace"] == "default")
    );
    let since = log[1]["seq"].as_u64().unwrap();
    let later = sim
        .text(&format!("/kulta-apisim/requests/log?since={since}&limit=1"))
        .await;
    assert_eq!(later.lines().count(), 1);
    assert!(later.contains(r#""verb":"patch""#), "{later}");

    let (_, counts) = sim
        .send(reqwest::Method::GET, "/kulta-apisim/requests", None)
        .await;
    assert_eq!(
        (&counts["total"], &counts["reads"], &counts["writes"]),
        (&json!(4), &json!(1), &json!(3))
    );
    assert!(
        counts["counts"].as_array().unwrap().contains(
            &json!({"agent": "control-test", "verb": "create", "resource": "configmaps", "code": 503, "count": 1})
        ),
        "{counts}"
    );
    let (cleared, _) = sim
        .send(reqwest::Method::DELETE, "/kulta-apisim/requests", None)
        .await;
    assert_eq!(cleared, 200);
    let (_, counts) = sim
        .send(reqwest::Method::GET, "/kulta-apisim/requests", None)
        .await;
    assert_eq!(counts["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_endpoint_adds_faults_and_latency_cuts_watches_and_answers_bad_rules_with_a_sentence()
 {
    let sim = Sim::start(&[]);
    let maps = "/api/v1/namespaces/default/configmaps";
    sim.send(reqwest::Method::POST, maps, Some(config_map("a")))
        .await;

    // The shell form, a latency on one read.
    let (added, rule) = sim
        .post_text(
            "/kulta-apisim/faults",
            "verb=get,resource=configmaps,latency=300ms,times=1",
        )
        .await;
    assert_eq!(added, 201, "{rule}");
    let started = Instant::now();
    let (read, _) = sim
        .send(reqwest::Method::GET, &format!("{maps}/a"), None)
        .await;
    assert_eq!(read, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // The JSON form, half of all patches refused with 429.
    let (added, _) = sim
        .send(
            reqwest::Method::POST,
            "/kulta-apisim/faults",
            Some(json!({"verb": "patch", "fault": {"fail": 429}, "share": 50})),
        )
        .await;
    assert_eq!(added, 201);
    let mut codes = Vec::new();
    for _ in 0..4 {
        let (code, _) = sim
            .send(
                reqwest::Method::PATCH,
                &format!("{maps}/a"),
                Some(json!({"data": {"k": "w"}})),
            )
            .await;
        codes.push(code);
    }
    assert_eq!(codes, [200, 429, 200, 429]);
    let (_, rules) = sim
        .send(reqwest::Method::GET, "/kulta-apisim/faults", None)
        .await;
    assert_eq!(rules[1]["applied"], 2);
    sim.send(reqwest::Method::DELETE, "/kulta-apisim/faults", None)
        .await;
    let (_, rules) = sim
        .send(reqwest::Method::GET, "/kulta-apisim/faults", None)
        .await;
    assert_eq!(rules, json!([]));

    let (bad, said) = sim
        .post_text("/kulta-apisim/faults", "verb=fetch,fail=500")
        .await;
    assert_eq!(bad, 400);
    assert_eq!(
        said["error"],
        "\"fetch\" is not a verb; use get, list, watch, create, update, patch or delete"
    );
    let (bad, said) = sim.post_text("/kulta-apisim/faults", "verb=get").await;
    assert_eq!(bad, 400);
    assert!(
        said["error"]
            .as_str()
            .unwrap()
            .contains("exactly one of fail=CODE"),
        "{said}"
    );
    let (unknown, _) = sim
        .send(reqwest::Method::GET, "/kulta-apisim/nothing", None)
        .await;
    assert_eq!(unknown, 404);

    // A watch stream ends when watches are cut.
    let mut watch = sim
        .http
        .get(format!("{}{maps}?watch=true", sim.url))
        .send()
        .await
        .unwrap();
    let first = watch.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("ADDED"));
    let (cut, _) = sim
        .send(reqwest::Method::POST, "/kulta-apisim/cut-watches", None)
        .await;
    assert_eq!(cut, 200);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while watch.chunk().await.unwrap().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the watch stream did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workload_model_follows_flags_and_the_control_endpoint() {
    let sim = Sim::start(&[
        "--ready-after",
        "50ms",
        "--never-ready",
        "web:bad",
        "--crash-after",
        "web:crash=400ms",
    ]);
    let (_, settings) = sim
        .send(reqwest::Method::GET, "/kulta-apisim/workload", None)
        .await;
    assert_eq!(
        settings,
        json!({"readyAfter": "50ms", "images": {"web:bad": "neverReady", "web:crash": {"crashAfter": "400ms"}}})
    );
    let sets = "/apis/apps/v1/namespaces/default/replicasets";
    for (name, image) in [
        ("good", "web:1"),
        ("bad", "web:bad"),
        ("crash", "web:crash"),
    ] {
        let (code, _) = sim
            .send(reqwest::Method::POST, sets, Some(replica_set(name, image)))
            .await;
        assert_eq!(code, 201);
    }
    assert_eq!(
        sim.ready_becomes("good", 2).await["status"]["readyReplicas"],
        2
    );
    assert_eq!(
        sim.ready_becomes("crash", 2).await["status"]["readyReplicas"],
        2
    );
    assert_eq!(
        sim.ready_becomes("crash", 0).await["status"]["readyReplicas"],
        0
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, bad) = sim
        .send(reqwest::Method::GET, &format!("{sets}/bad"), None)
        .await;
    assert_eq!(bad["status"]["readyReplicas"], 0);

    let (changed, settings) = sim
        .send(
            reqwest::Method::PATCH,
            "/kulta-apisim/workload",
            Some(json!({"readyAfter": "10ms", "images": {"web:bad": null}})),
        )
        .await;
    assert_eq!(changed, 200, "{settings}");
    assert_eq!(
        settings,
        json!({"readyAfter": "10ms", "images": {"web:crash": {"crashAfter": "400ms"}}})
    );
    // A spec change lets the model look at the ReplicaSet again.
    sim.send(
        reqwest::Method::PATCH,
        &format!("{sets}/bad"),
        Some(json!({"spec": {"replicas": 3}})),
    )
    .await;
    assert_eq!(
        sim.ready_becomes("bad", 3).await["status"]["readyReplicas"],
        3
    );

    let (bad, said) = sim
        .send(
            reqwest::Method::PATCH,
            "/kulta-apisim/workload",
            Some(json!({"readyAfter": "soon"})),
        )
        .await;
    assert_eq!(bad, 400);
    assert!(
        said["error"]
            .as_str()
            .unwrap()
            .contains("\"soon\" is not a duration"),
        "{said}"
    );
}

#[test]
fn bad_flags_are_refused_with_a_sentence() {
    let output = Command::new(env!("CARGO_BIN_EXE_kulta-apisim"))
        .args(["--fault", "verb=get,fail=200"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("not an HTTP error status from 400 to 599"),
        "{said}"
    );
}
