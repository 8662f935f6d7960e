//! `kulta demo`: the whole product on an embedded default. It starts the API simulator
//! in-process, installs the Rollout and HTTPRoute CRDs, creates a namespace, the canary's
//! Services and an HTTPRoute, and runs the real operator against it. Metrics come from a
//! scripted Prometheus-compatible endpoint (or `--prometheus URL`). It ships a good revision
//! through a canary, then a bad one that is rolled back, drawing the live view as it goes.
//!
//! The demo is fast because its Rollout asks for short pauses and intervals and its
//! simulator makes pods ready quickly; the operator runs exactly as `kulta run` does.

pub mod metrics;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use gateway_api::httproutes::HttpRoute;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Patch;
use kube::{Api, Client, CustomResourceExt};
use kulta::Rollout;
use kulta_apisim::ApiSim;
use serde_json::json;

use super::Outcome;
use super::cluster::{ControlError, Session};
use super::get::draw;
use super::run::RunArgs;
use super::view::{self, Snapshot};
use super::wait::{Verdict, state_line, verdict};

/// The Rollout the demo ships.
const NAME: &str = "web";
/// Its image repository.
const IMAGE: &str = "shop/web";

/// Arguments of `kulta demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Leave the simulated cluster and the operator running at the end, and print the
    /// KUBECONFIG to use with `kubectl` and `kubectl kulta` (stop with Ctrl-C).
    #[arg(long)]
    pub keep: bool,
    /// Query this Prometheus instead of the demo's simulated metrics.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// Namespace the demo creates.
    #[arg(long, default_value = "demo")]
    pub namespace: String,
    /// How long the simulated pods take to become ready.
    #[arg(long, default_value = "300ms", value_parser = humantime::parse_duration)]
    pub pods_ready_after: Duration,
    /// The canary's timed pause step.
    #[arg(long, default_value = "3s")]
    pub pause: String,
    /// The analysis interval.
    #[arg(long, default_value = "1s")]
    pub interval: String,
    /// Seconds a revision keeps its pods after the route took its traffic away (the Rollout's
    /// `scaleDownDelaySeconds` and `abortScaleDownDelaySeconds`; 30 on a real cluster).
    #[arg(long, default_value_t = 2)]
    pub scale_down_delay_seconds: i32,
    /// Give up when one act (first revision, good canary, bad canary) takes longer.
    #[arg(long, default_value = "45s", value_parser = humantime::parse_duration)]
    pub act_timeout: Duration,
}

/// Why the demo could not run to its end.
#[derive(thiserror::Error, Debug)]
pub enum DemoError {
    /// A local server could not start.
    #[error("the demo could not start its {what}: {source}")]
    Start {
        /// Which server.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// Setting up the simulated cluster failed.
    #[error("the demo could not {what} on the simulated cluster: {message}")]
    Setup {
        /// What it was doing.
        what: String,
        /// The error, as a sentence.
        message: String,
    },
    /// The operator could not start.
    #[error("the operator could not start: {0}")]
    Operator(#[from] crate::operator::OperatorError),
    /// Reading the rollout failed.
    #[error("{0}")]
    Control(#[from] ControlError),
    /// An act did not finish in time.
    #[error("{act}: nothing conclusive after {limit}; last state: {state}")]
    Stalled {
        /// Which act.
        act: &'static str,
        /// The limit.
        limit: humantime::FormattedDuration,
        /// The last state seen.
        state: String,
    },
    /// An act ended otherwise than the demo expects.
    #[error("{act}: expected {expected}, but the rollout ended {state}")]
    Unexpected {
        /// Which act.
        act: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The state it ended in.
        state: String,
    },
    /// Output could not be written.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// How an act is expected to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Completed,
    RolledBack,
}

/// Run the demo.
pub async fn demo(args: &DemoArgs, out: &mut impl Write) -> Result<Outcome, DemoError> {
    let started = std::time::Instant::now();
    let terminal = std::io::stdout().is_terminal();
    let sim = ApiSim::start().await.map_err(|source| DemoError::Start {
        what: "Kubernetes API simulator",
        source,
    })?;
    sim.set_ready_after(args.pods_ready_after);
    let scripted = match &args.prometheus {
        Some(_) => None,
        None => Some(
            metrics::ScriptedPrometheus::start()
                .await
                .map_err(|source| DemoError::Start {
                    what: "simulated metrics endpoint",
                    source,
                })?,
        ),
    };
    let prometheus = match (&args.prometheus, &scripted) {
        (Some(url), _) => url.clone(),
        (None, Some(scripted)) => scripted.url(),
        (None, None) => String::new(),
    };
    writeln!(
        out,
        "KULTA demo: the real operator against an in-process Kubernetes API simulator at {} (no real cluster is touched).",
        sim.url()
    )?;
    match &scripted {
        Some(scripted) => writeln!(
            out,
            "Metrics are SIMULATED: a scripted Prometheus-compatible endpoint at {} answers the error rate ({}% for a good revision; a bad one climbs from {}% by {} points per query). Use --prometheus URL for a real one.",
            scripted.url(),
            metrics::GOOD_RATE * 100.0,
            metrics::BAD_START * 100.0,
            metrics::BAD_CLIMB * 100.0
        )?,
        None => writeln!(out, "Metrics come from the Prometheus at {prometheus}.")?,
    }
    let config = kube::Config::new(sim.url().parse().map_err(|error| DemoError::Setup {
        what: "connect".into(),
        message: format!("{error}"),
    })?);
    let client = Client::try_from(config).map_err(|error| DemoError::Setup {
        what: "connect".into(),
        message: error.to_string(),
    })?;
    let namespace = args.namespace.as_str();
    setup(&client, namespace, args, &prometheus).await?;
    writeln!(
        out,
        "Created namespace {namespace}, Services web-stable and web-canary, HTTPRoute web and Rollout web ({IMAGE}:1)."
    )?;
    let run = RunCommand::try_parse_from([
        "kulta-run",
        "--namespace",
        namespace,
        "--no-leader-election",
        "--listen",
        "127.0.0.1:0",
        "--resync",
        "2s",
        "--effect-timeout",
        "3s",
    ])
    .map_err(|error| DemoError::Setup {
        what: "configure the operator".into(),
        message: error.to_string(),
    })?;
    let running = crate::operator::start(client.clone(), run.args.options()?).await?;
    let session = Session {
        client: client.clone(),
        namespace: namespace.to_string(),
        server: sim.url(),
    };
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), namespace);

    let mut act = Act {
        session: &session,
        namespace,
        limit: args.act_timeout,
        terminal,
    };
    writeln!(
        out,
        "\n== 1/3  The first revision ({IMAGE}:1) goes straight to full scale"
    )?;
    let v1 = revision(&rollouts).await?;
    act.follow("the first revision", &v1, Expect::Completed, out)
        .await?;

    writeln!(
        out,
        "\n== 2/3  Ship {IMAGE}:2, a good revision: a canary over the HTTPRoute, weights 25% → 50% (with an analysis) → 75%, a timed pause, error rate checked every {}",
        args.interval
    )?;
    let v2 = ship(&rollouts, 2).await?;
    act.follow("the good canary", &v2, Expect::Completed, out)
        .await?;

    writeln!(
        out,
        "\n== 3/3  Ship {IMAGE}:3, a bad revision: its error rate climbs past the bound, and KULTA rolls back on its own"
    )?;
    let v3 = revision_for(&rollouts, 3).await?;
    if let Some(scripted) = &scripted {
        scripted.mark_bad(&v3);
    }
    ship(&rollouts, 3).await?;
    let expect = if scripted.is_some() {
        Expect::RolledBack
    } else {
        // A real Prometheus decides for itself whether the third revision is bad.
        Expect::Completed
    };
    let ended = act.follow("the bad canary", &v3, expect, out).await;
    let third = match (ended, scripted.is_some()) {
        (Ok(()), true) => {
            format!("{IMAGE}:3 was rolled back and {IMAGE}:2 still serves all traffic")
        }
        (Ok(()), false) => format!("your Prometheus let {IMAGE}:3 through"),
        (Err(DemoError::Unexpected { state, .. }), false) => {
            format!("with your Prometheus, {IMAGE}:3 ended {state}")
        }
        (Err(error), _) => return Err(error),
    };
    writeln!(
        out,
        "\nDone in {:.1}s: {IMAGE}:2 shipped through its canary; {third}.",
        started.elapsed().as_secs_f64()
    )?;
    if args.keep {
        keep(&sim, namespace, out).await?;
    }
    running.stop().await;
    Ok(Outcome::Ok)
}

/// `kulta run`'s own argument parser, so the demo's operator has the production defaults.
#[derive(Parser)]
struct RunCommand {
    #[command(flatten)]
    args: RunArgs,
}

/// Following one act until the rollout settles on `revision`.
struct Act<'a> {
    session: &'a Session,
    namespace: &'a str,
    limit: Duration,
    terminal: bool,
}

impl Act<'_> {
    async fn follow(
        &mut self,
        act: &'static str,
        revision: &str,
        expect: Expect,
        out: &mut impl Write,
    ) -> Result<(), DemoError> {
        let deadline = tokio::time::Instant::now() + self.limit;
        let mut frame: Option<String> = None;
        let mut line = String::new();
        loop {
            let snapshot = Snapshot::read(self.session, self.namespace, NAME).await?;
            let now = chrono::Utc::now();
            let rendered = view::render(&snapshot, now);
            if self.terminal {
                if frame.as_deref() != Some(rendered.as_str()) {
                    draw(out, &rendered, frame.as_deref(), true)?;
                    frame = Some(rendered.clone());
                }
            } else {
                let next = state_line(&snapshot.rollout);
                if next != line {
                    writeln!(out, "  {} {next}", now.format("%H:%M:%S"))?;
                    out.flush()?;
                    line = next;
                }
            }
            let status = snapshot.rollout.status.clone().unwrap_or_default();
            let about_it = status.canary_revision.as_deref() == Some(revision)
                || status.stable_revision.as_deref() == Some(revision);
            // An act ends once the route is observed carrying what was decided, so that the
            // last view shows where the traffic really is.
            let settled = status
                .observed_weight
                .is_none_or(|observed| observed == status.current_weight);
            let verdict = if about_it && settled {
                verdict(&snapshot.rollout)
            } else {
                Verdict::Pending
            };
            let finished = match (&verdict, expect) {
                (Verdict::Completed, Expect::Completed)
                    if status.stable_revision.as_deref() == Some(revision) =>
                {
                    Some(Ok(format!(
                        "✔ {act}: Completed, revision {revision} is stable"
                    )))
                }
                (Verdict::Failed(why), Expect::RolledBack) => Some(Ok(format!(
                    "✖ {act}: rolled back, reason {why}; all traffic is back on revision {}",
                    status.stable_revision.as_deref().unwrap_or("-")
                ))),
                (Verdict::Pending, _) => None,
                (Verdict::Completed, Expect::Completed) => None,
                (other, _) => Some(Err(DemoError::Unexpected {
                    act,
                    expected: match expect {
                        Expect::Completed => "it to complete",
                        Expect::RolledBack => "a rollback",
                    },
                    state: match other {
                        Verdict::Completed => "Completed".to_string(),
                        Verdict::Failed(why) => format!("Failed ({why})"),
                        Verdict::NeedsPerson(why) => format!("waiting for a person ({why})"),
                        Verdict::InvalidSpec(why) => format!("with an invalid spec ({why})"),
                        Verdict::Pending => "pending".to_string(),
                    },
                })),
            };
            if let Some(finished) = finished {
                if !self.terminal {
                    write!(out, "{rendered}")?;
                }
                let summary = finished?;
                writeln!(out, "{summary}")?;
                out.flush()?;
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DemoError::Stalled {
                    act,
                    limit: humantime::format_duration(self.limit),
                    state: state_line(&snapshot.rollout),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Keep the simulator and the operator running until Ctrl-C, with a kubeconfig to reach it.
async fn keep(sim: &ApiSim, namespace: &str, out: &mut impl Write) -> Result<(), DemoError> {
    let dir = std::env::temp_dir().join(format!("kulta-demo-{}", std::process::id()));
    let path: PathBuf = dir.join("kubeconfig");
    let kubeconfig = sim
        .kubeconfig()
        .replace("namespace: default", &format!("namespace: {namespace}"));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, kubeconfig))
        .map_err(|error| DemoError::Setup {
            what: format!("write {}", path.display()),
            message: error.to_string(),
        })?;
    writeln!(
        out,
        "\nThe simulated cluster keeps running (Ctrl-C stops it). In another shell:\n\n  export KUBECONFIG={}\n  kubectl get rollouts\n  kubectl kulta get rollout {NAME} -w\n  kubectl kulta abort {NAME} --wait",
        path.display()
    )?;
    out.flush()?;
    // Waiting for Ctrl-C is the point of --keep; an error here means no signal can come.
    if let Err(error) = tokio::signal::ctrl_c().await {
        writeln!(out, "cannot listen for Ctrl-C ({error}); stopping")?;
    }
    Ok(())
}

/// The demo's Rollout, Services, HTTPRoute and namespace.
async fn setup(
    client: &Client,
    namespace: &str,
    args: &DemoArgs,
    prometheus: &str,
) -> Result<(), DemoError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let httproute = super::crds::httproute_crd().map_err(|error| DemoError::Setup {
        what: "read the vendored HTTPRoute CRD".into(),
        message: error.to_string(),
    })?;
    for crd in [Rollout::crd(), httproute] {
        let name = crd.metadata.name.clone().unwrap_or_default();
        create(&crds, &crd, &format!("install the CRD {name}")).await?;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let object = parse::<Namespace>(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )?;
    create(
        &namespaces,
        &object,
        &format!("create namespace {namespace}"),
    )
    .await?;
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    for name in ["web-stable", "web-canary"] {
        let service = parse::<Service>(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
        }))?;
        create(&services, &service, &format!("create Service {name}")).await?;
    }
    let routes: Api<HttpRoute> = Api::namespaced(client.clone(), namespace);
    let route = parse::<HttpRoute>(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {"parentRefs": [{"name": "gateway"}], "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
             "backendRefs": [{"name": "web-stable", "port": 80, "weight": 100},
                             {"name": "web-canary", "port": 80, "weight": 0}]}
        ]}
    }))?;
    create(&routes, &route, "create HTTPRoute web").await?;
    let analysis = json!({
        "interval": args.interval,
        "failureLimit": 1,
        "inconclusiveLimit": 3,
        "prometheus": {"address": prometheus},
        "metrics": [{
            "name": "error-rate",
            "query": "sum(rate(http_requests_total{namespace=\"{{namespace}}\",revision=\"{{revision}}\",code=~\"5..\"}[1m])) / sum(rate(http_requests_total{namespace=\"{{namespace}}\",revision=\"{{revision}}\"}[1m]))",
            "thresholdRange": {"max": 0.05}
        }]
    });
    let mut step_analysis = analysis.clone();
    step_analysis["count"] = json!(2);
    let rollout = parse::<Rollout>(json!({
        "apiVersion": "kulta.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": format!("{IMAGE}:1")}]}},
            "strategy": {"canary": {
                "stableService": "web-stable",
                "canaryService": "web-canary",
                "trafficRouting": {"gatewayAPI": {"httpRoute": "web"}},
                "scaleDownDelaySeconds": args.scale_down_delay_seconds,
                "abortScaleDownDelaySeconds": args.scale_down_delay_seconds,
                "analysis": analysis,
                "steps": [
                    {"setWeight": 25},
                    {"pause": {"duration": args.pause}},
                    {"setWeight": 50},
                    {"analysis": step_analysis},
                    {"setWeight": 75}
                ]
            }}
        }
    }))?;
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    create(&rollouts, &rollout, "create Rollout web").await
}

fn parse<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, DemoError> {
    serde_json::from_value(value).map_err(|error| DemoError::Setup {
        what: "build the demo's objects".into(),
        message: error.to_string(),
    })
}

async fn create<K>(api: &Api<K>, object: &K, what: &str) -> Result<(), DemoError>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&super::post_params(), object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) => Err(DemoError::Setup {
            what: what.to_string(),
            message: format!(
                "{} (HTTP {}, {})",
                status.message, status.code, status.reason
            ),
        }),
        Err(error) => Err(DemoError::Setup {
            what: what.to_string(),
            message: error.to_string(),
        }),
    }
}

/// The revision the Rollout's template has now.
async fn revision(rollouts: &Api<Rollout>) -> Result<String, DemoError> {
    let rollout = rollouts.get(NAME).await.map_err(|error| DemoError::Setup {
        what: format!("read Rollout {NAME}"),
        message: error.to_string(),
    })?;
    Ok(rollout.template_revision())
}

/// The revision the template would have with image `:version`.
async fn revision_for(rollouts: &Api<Rollout>, version: u32) -> Result<String, DemoError> {
    let rollout = rollouts.get(NAME).await.map_err(|error| DemoError::Setup {
        what: format!("read Rollout {NAME}"),
        message: error.to_string(),
    })?;
    let mut template = rollout.spec.template;
    if let Some(container) = template
        .spec
        .as_mut()
        .and_then(|spec| spec.containers.first_mut())
    {
        container.image = Some(format!("{IMAGE}:{version}"));
    }
    let collisions = rollout.status.map_or(0, |status| status.collision_count);
    Ok(kulta::template_revision(&template, collisions))
}

/// Ship image `:version`; returns the new revision.
async fn ship(rollouts: &Api<Rollout>, version: u32) -> Result<String, DemoError> {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": format!("{IMAGE}:{version}")}]}}}});
    let rollout = rollouts
        .patch(NAME, &super::patch_params(), &Patch::Merge(&patch))
        .await
        .map_err(|error| DemoError::Setup {
            what: format!("ship {IMAGE}:{version}"),
            message: error.to_string(),
        })?;
    Ok(rollout.template_revision())
}
