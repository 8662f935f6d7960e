//! The operator at scale: N simple Rollouts on the API simulator, each shipped a new image at
//! once; how long until every one is Completed again, how many reconciles and API requests it
//! took, and the reconcile duration distribution.
//!
//! `cargo run --release -p kulta-interpreter --example operator_scale -- 1000`

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use kulta::{Phase, Rollout};
use kulta_apisim::ApiSim;
use kulta_interpreter::operator::{self, Options, Retry, Settings};
use serde_json::json;

const NS: &str = "default";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1000);
    kulta_interpreter::cli::run::init_logging(kulta_interpreter::cli::run::LogFormat::Text);
    let sim = ApiSim::start().await?;
    sim.set_ready_after(Duration::from_millis(100));
    let client = Client::try_from(kube::Config::new(sim.url().parse()?))?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Rollout::crd()).await?;
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), NS);
    for i in 0..count {
        let rollout: Rollout = serde_json::from_value(json!({
            "apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": format!("app-{i}"), "namespace": NS},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": format!("app-{i}")}},
                "template": {"metadata": {"labels": {"app": format!("app-{i}")}},
                             "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
                "strategy": {"simple": {"maxSurge": 1, "maxUnavailable": 0}}
            }
        }))?;
        rollouts.create(&PostParams::default(), &rollout).await?;
    }
    let options = Options {
        namespaces: vec![NS.into()],
        selector: None,
        listen: Some("127.0.0.1:0".parse()?),
        record: None,
        cdevents_sink: None,
        sink_retry: Retry::default(),
        lease: None,
        workers: 32,
        settings: Settings {
            effect_timeout: Duration::from_secs(10),
            resync: Duration::from_secs(300),
            prometheus_token: None,
            cdevents_environment: None,
            cdevents_source: "/kulta".into(),
        },
    };
    let started = Instant::now();
    let running = operator::start(client.clone(), options).await?;
    let first = wait_all(&rollouts, count, "app:1").await?;
    println!(
        "{count} first revisions Completed in {:.2} s",
        first.as_secs_f64()
    );

    let requests_before: u64 = sim.request_counts().values().sum();
    let reconciles_before = reconciles(&running).await?;
    let shipped = Instant::now();
    for i in 0..count {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
        rollouts
            .patch(
                &format!("app-{i}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
    }
    let patched = shipped.elapsed();
    wait_all(&rollouts, count, "app:2").await?;
    let done = shipped.elapsed();
    let requests: u64 = sim.request_counts().values().sum::<u64>() - requests_before;
    let reconciled = reconciles(&running).await? - reconciles_before;
    println!(
        "{count} new revisions shipped (patching took {:.2} s), all Completed {:.2} s after the first patch: {:.0} rollouts/s",
        patched.as_secs_f64(),
        done.as_secs_f64(),
        count as f64 / done.as_secs_f64()
    );
    println!(
        "{reconciled} reconciles ({:.1} per rollout), {requests} API requests ({:.1} per rollout, the test's own polling included)",
        reconciled as f64 / count as f64,
        requests as f64 / count as f64
    );
    let text = metrics(&running).await?;
    for quantile in [0.5, 0.9, 0.99] {
        println!(
            "reconcile duration p{:.0} <= {}",
            quantile * 100.0,
            bucket_bound(&text, quantile).unwrap_or_else(|| "?".into())
        );
    }
    for line in text
        .lines()
        .filter(|l| l.starts_with("kulta_replicaset_reads_total"))
    {
        println!("{line}");
    }
    for ((verb, resource, code), n) in sim.request_counts() {
        println!("api {verb:?} {resource} {code}: {n}");
    }
    println!("total {:.2} s", started.elapsed().as_secs_f64());
    running.stop().await;
    Ok(())
}

/// Poll (every second, at most 10 minutes) until every Rollout runs `image` and is Completed.
async fn wait_all(
    rollouts: &Api<Rollout>,
    count: usize,
    image: &str,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(600) {
        let listed = rollouts.list(&ListParams::default()).await?;
        let done = listed
            .items
            .iter()
            .filter(|r| {
                let status = r.status.clone().unwrap_or_default();
                let current = kulta::pod_template_hash(&r.spec.template);
                let image_now = r
                    .spec
                    .template
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers[0].image.as_deref());
                status.phase == Some(Phase::Completed)
                    && status.stable_revision.as_deref() == Some(current.as_str())
                    && image_now == Some(image)
            })
            .count();
        if done == count {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err("rollouts did not complete within 10 minutes".into())
}

async fn metrics(running: &operator::Running) -> Result<String, Box<dyn std::error::Error>> {
    let address = running.health.ok_or("no metrics address")?;
    Ok(reqwest::get(format!("http://{address}/metrics"))
        .await?
        .text()
        .await?)
}

async fn reconciles(running: &operator::Running) -> Result<u64, Box<dyn std::error::Error>> {
    let text = metrics(running).await?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("kulta_reconcile_duration_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0))
}

/// The upper bound of the histogram bucket holding the quantile.
fn bucket_bound(text: &str, quantile: f64) -> Option<String> {
    let buckets: Vec<(String, f64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("kulta_reconcile_duration_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (bound, count) = rest.split_once("\"} ")?;
            Some((bound.to_string(), count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last()?.1;
    buckets
        .iter()
        .find(|(_, count)| *count >= total * quantile)
        .map(|(bound, _)| format!("{bound} s"))
}
