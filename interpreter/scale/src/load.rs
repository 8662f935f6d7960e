//! The load: the Rollout CRD, namespaces, N Rollouts (simple and canary, 2 replicas each) and
//! the Services the canaries name.

use std::time::Instant;

use kube::CustomResourceExt;
use serde_json::{Value, json};

use crate::api::Api;
use crate::error::BenchError;
use crate::track::Key;

/// The label that assigns a Rollout to a shard.
pub const SHARD_LABEL: &str = "kulta-scale/shard";

/// The canary's weights; each is followed by an indefinite pause, so that one promote request
/// moves every canary by exactly one weight step.
pub const CANARY_WEIGHTS: [i32; 2] = [25, 50];

/// Which strategy a Rollout has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `strategy.simple`.
    Simple,
    /// `strategy.canary`, without traffic routing.
    Canary,
}

/// One loaded Rollout.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Namespace and name.
    pub key: Key,
    /// Its strategy.
    pub kind: Kind,
    /// Its first revision (pod-template hash).
    pub revision: String,
}

/// The namespace of the `i`-th of the namespaces.
pub fn namespace(i: u32) -> String {
    format!("bench-{i}")
}

/// The Rollout CRD and the namespaces.
pub async fn cluster(api: &Api, namespaces: u32) -> Result<(), BenchError> {
    let crd = serde_json::to_value(kulta::Rollout::crd())
        .map_err(|error| BenchError::Io(format!("the Rollout CRD: {error}")))?;
    api.create(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &crd,
    )
    .await?;
    for i in 0..namespaces {
        let object =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(i)}});
        api.create("/api/v1/namespaces", &object).await?;
    }
    Ok(())
}

/// The `i`-th Rollout's manifest.
fn rollout(name: &str, namespace: &str, kind: Kind, shard: u32) -> Value {
    let strategy = match kind {
        Kind::Simple => json!({"simple": {"maxSurge": 1, "maxUnavailable": 0}}),
        Kind::Canary => {
            let mut steps = Vec::new();
            for weight in CANARY_WEIGHTS {
                steps.push(json!({"setWeight": weight}));
                steps.push(json!({"pause": {}}));
            }
            json!({"canary": {
                "stableService": format!("{name}-stable"),
                "canaryService": format!("{name}-canary"),
                "steps": steps,
            }})
        }
    };
    json!({
        "apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace, "labels": {SHARD_LABEL: shard.to_string()}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            "strategy": strategy,
        }
    })
}

fn service(name: &str, namespace: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}})
}

/// Load the `i`-th Rollout (and its Services, for a canary).
async fn one(api: &Api, i: u32, plan: &Plan) -> Result<Loaded, BenchError> {
    let namespace = namespace(i % plan.namespaces);
    let name = format!("app-{i}");
    // Spread evenly: the i-th is a canary when the running share of canaries steps up at i.
    let share = u64::from(plan.canary_percent);
    let kind = if (u64::from(i) + 1) * share / 100 > u64::from(i) * share / 100 {
        Kind::Canary
    } else {
        Kind::Simple
    };
    if kind == Kind::Canary {
        let path = format!("/api/v1/namespaces/{namespace}/services");
        for role in ["stable", "canary"] {
            api.create(
                &path,
                &service(&format!("{name}-{role}"), &namespace, &name),
            )
            .await?;
        }
    }
    let created = api
        .create(
            &format!("/apis/kulta.io/v1alpha1/namespaces/{namespace}/rollouts"),
            &rollout(&name, &namespace, kind, i % plan.shards),
        )
        .await?;
    Ok(Loaded {
        key: (namespace, name),
        kind,
        revision: revision(&created)?,
    })
}

/// The pod-template hash of a Rollout as the API returned it.
pub fn revision(object: &Value) -> Result<String, BenchError> {
    let rollout: kulta::Rollout = serde_json::from_value(object.clone()).map_err(|error| {
        BenchError::Io(format!(
            "the API returned a Rollout that does not parse: {error}"
        ))
    })?;
    Ok(kulta::pod_template_hash(&rollout.spec.template))
}

/// What to load.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Rollouts.
    pub rollouts: u32,
    /// Namespaces.
    pub namespaces: u32,
    /// Shards.
    pub shards: u32,
    /// Share of canaries, percent.
    pub canary_percent: u8,
    /// Requests in flight.
    pub concurrency: u16,
}

/// Load every Rollout, `plan.concurrency` at a time; returns them in index order and how
/// long it took.
pub async fn rollouts(api: &Api, plan: Plan) -> Result<(Vec<Loaded>, f64), BenchError> {
    let started = Instant::now();
    let workers = u32::from(plan.concurrency);
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut loaded = Vec::new();
            let mut i = worker;
            while i < plan.rollouts {
                loaded.push((i, one(&api, i, &plan).await?));
                i += workers;
            }
            Ok::<_, BenchError>(loaded)
        }));
    }
    let mut all = Vec::with_capacity(plan.rollouts as usize);
    for task in tasks {
        let loaded = task
            .await
            .map_err(|error| BenchError::Io(format!("a loading task ended: {error}")))??;
        all.extend(loaded);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok((
        all.into_iter().map(|(_, loaded)| loaded).collect(),
        started.elapsed().as_secs_f64(),
    ))
}
