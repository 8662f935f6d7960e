//! Scale run: load 10,000 Rollouts and 20,000 ReplicaSets (through the HTTP API, 8 clients at
//! a time), then list each kind in full over HTTP and report memory and list latency.
//!
//! ```sh
//! cargo run --release -p kulta-apisim --example scale
//! ```

use std::time::Instant;

use kube::CustomResourceExt;
use kulta_apisim::ApiSim;
use serde_json::{Value, json};

const ROLLOUTS: usize = 10_000;
const REPLICA_SETS: usize = 20_000;
const NAMESPACES: usize = 20;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn rollout(i: usize) -> Value {
    json!({"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": format!("app-{i}"), "labels": {"team": format!("t{}", i % 7)}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": format!("app-{i}")}},
            "template": {"metadata": {"labels": {"app": format!("app-{i}")}},
                "spec": {"containers": [{"name": "app", "image": format!("registry.example.com/app-{i}:1.0.{}", i % 13),
                    "ports": [{"containerPort": 8080}], "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}},
            "strategy": {"canary": {"stableService": format!("app-{i}-stable"), "canaryService": format!("app-{i}-canary"),
                "trafficRouting": {"gatewayAPI": {"httpRoute": format!("app-{i}")}},
                "steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}}, {"setWeight": 50}, {"pause": {}}]}}},
        "status": {}})
}

fn replica_set(i: usize) -> Value {
    let app = i / 2;
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("app-{app}-rev{}", i % 2), "labels": {"app": format!("app-{app}"), "kulta.io/pod-template-hash": format!("rev{}", i % 2)}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": format!("app-{app}")}},
            "template": {"metadata": {"labels": {"app": format!("app-{app}")}},
                "spec": {"containers": [{"name": "app", "image": format!("registry.example.com/app-{app}:1.0.{}", i % 2)}]}}}})
}

async fn post(client: &reqwest_lite::Client, url: &str, body: &Value) {
    let status = client.post(url, body).await;
    assert!(status == 201, "POST {url}: {status}");
}

mod reqwest_lite {
    //! A tiny keep-alive HTTP/1.1 client over one TCP connection, enough for the run.
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;
    use tokio::sync::Mutex;

    pub struct Client {
        stream: Mutex<BufReader<TcpStream>>,
    }

    impl Client {
        pub async fn connect(address: std::net::SocketAddr) -> Self {
            let stream = TcpStream::connect(address).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            Client {
                stream: Mutex::new(BufReader::new(stream)),
            }
        }

        async fn send(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
            let mut stream = self.stream.lock().await;
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let mut request = head.into_bytes();
            request.extend_from_slice(body);
            stream.get_mut().write_all(&request).await.expect("write");
            let mut line = String::new();
            stream.read_line(&mut line).await.expect("status line");
            let code = line
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let mut length = 0usize;
            let mut chunked = false;
            loop {
                line.clear();
                stream.read_line(&mut line).await.expect("header");
                let header = line.trim_end();
                if header.is_empty() {
                    break;
                }
                let lower = header.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                    chunked = true;
                }
            }
            let mut body = Vec::new();
            if chunked {
                loop {
                    line.clear();
                    stream.read_line(&mut line).await.expect("chunk size");
                    let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
                    let mut chunk = vec![0; size + 2];
                    stream.read_exact(&mut chunk).await.expect("chunk");
                    if size == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..size]);
                }
            } else {
                body.resize(length, 0);
                stream.read_exact(&mut body).await.expect("body");
            }
            (code, body)
        }

        pub async fn post(&self, path: &str, body: &serde_json::Value) -> u16 {
            self.send("POST", path, &serde_json::to_vec(body).expect("json"))
                .await
                .0
        }

        pub async fn get(&self, path: &str) -> (u16, Vec<u8>) {
            self.send("GET", path, b"").await
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sim = ApiSim::start().await.expect("start");
    let baseline = rss_kib();
    let admin = reqwest_lite::Client::connect(sim.address()).await;
    post(
        &admin,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &serde_json::to_value(kulta::Rollout::crd()).expect("crd"),
    )
    .await;
    for n in 0..NAMESPACES {
        post(&admin, "/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("team-{n}")}})).await;
    }
    let started = Instant::now();
    let mut loaders = Vec::new();
    for worker in 0..8usize {
        let address = sim.address();
        loaders.push(tokio::spawn(async move {
            let client = reqwest_lite::Client::connect(address).await;
            for i in (worker..ROLLOUTS).step_by(8) {
                let ns = format!("team-{}", i % NAMESPACES);
                post(
                    &client,
                    &format!("/apis/kulta.io/v1alpha1/namespaces/{ns}/rollouts"),
                    &rollout(i),
                )
                .await;
            }
            for i in (worker..REPLICA_SETS).step_by(8) {
                let ns = format!("team-{}", (i / 2) % NAMESPACES);
                post(
                    &client,
                    &format!("/apis/apps/v1/namespaces/{ns}/replicasets"),
                    &replica_set(i),
                )
                .await;
            }
        }));
    }
    for loader in loaders {
        loader.await.expect("loader");
    }
    let load = started.elapsed();
    let loaded = rss_kib();
    println!(
        "loaded {ROLLOUTS} Rollouts and {REPLICA_SETS} ReplicaSets over HTTP in {:.2} s ({:.0} creates/s)",
        load.as_secs_f64(),
        (ROLLOUTS + REPLICA_SETS) as f64 / load.as_secs_f64()
    );
    println!(
        "resident memory: {} MiB before, {} MiB after ({:.1} KiB per object)",
        baseline / 1024,
        loaded / 1024,
        (loaded - baseline) as f64 / (ROLLOUTS + REPLICA_SETS) as f64
    );
    for (path, expected) in [
        ("/apis/kulta.io/v1alpha1/rollouts", ROLLOUTS),
        ("/apis/apps/v1/replicasets", REPLICA_SETS),
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let (code, body) = admin.get(path).await;
            times.push(started.elapsed());
            assert_eq!(code, 200);
            let list: Value = serde_json::from_slice(&body).expect("list");
            assert_eq!(list["items"].as_array().map(Vec::len), Some(expected));
            size = body.len();
        }
        times.sort();
        println!(
            "full list {path}: {expected} items, {:.1} MB, median {:.0} ms (min {:.0} ms, max {:.0} ms)",
            size as f64 / 1e6,
            times[2].as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times[4].as_secs_f64() * 1e3
        );
    }
    let started = Instant::now();
    let (code, body) = admin
        .get("/apis/kulta.io/v1alpha1/namespaces/team-3/rollouts?labelSelector=team%3Dt2&limit=100")
        .await;
    assert_eq!(code, 200);
    let page: Value = serde_json::from_slice(&body).expect("page");
    println!(
        "selected page (one namespace, label selector, limit 100): {} items in {:.1} ms",
        page["items"].as_array().map_or(0, Vec::len),
        started.elapsed().as_secs_f64() * 1e3
    );
}
