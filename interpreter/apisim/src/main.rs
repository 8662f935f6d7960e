//! `kulta-apisim`: run the Kubernetes API simulator on 127.0.0.1 until interrupted, with the
//! faults and workload behaviour the command line asks for (the control endpoint under
//! `/kulta-apisim/` changes them while it runs; see README.md).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kulta_apisim::faults::FaultRule;
use kulta_apisim::workload::ImageBehaviour;

/// An in-process Kubernetes API server simulator.
#[derive(Parser)]
#[command(name = "kulta-apisim", version, about)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write a kubeconfig for the simulator here.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Inject a fault (repeatable), as comma-separated parts: verb=, resource=, one of
    /// fail=CODE / latency=DURATION / timeout=DURATION, and optionally share=PERCENT, every=N,
    /// times=N. Example: verb=patch,resource=replicasets,fail=500,share=25
    #[arg(long = "fault", value_name = "RULE")]
    faults: Vec<FaultRule>,
    /// Time from a ReplicaSet's spec change to its pods being ready.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    ready_after: Option<Duration>,
    /// Pods of this image never become ready (repeatable).
    #[arg(long, value_name = "IMAGE")]
    never_ready: Vec<String>,
    /// Pods of this image become unready this long after their ReplicaSet changed
    /// (repeatable), as IMAGE=DURATION.
    #[arg(long, value_name = "IMAGE=DURATION", value_parser = crash_after)]
    crash_after: Vec<(String, Duration)>,
    /// End every open watch stream this often.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    cut_watches_every: Option<Duration>,
    /// Requests kept in the request log (0: count them only).
    #[arg(long, value_name = "N", default_value_t = kulta_apisim::requests::DEFAULT_LOG)]
    request_log: usize,
}

fn duration(text: &str) -> Result<Duration, String> {
    kulta_apisim::duration::parse(text)
}

fn crash_after(text: &str) -> Result<(String, Duration), String> {
    let (image, after) = text
        .rsplit_once('=')
        .filter(|(image, _)| !image.is_empty())
        .ok_or_else(|| format!("{text:?} is not IMAGE=DURATION, such as web:2=5s"))?;
    Ok((image.to_string(), duration(after)?))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    let sim = match kulta_apisim::ApiSim::bind_with(address, args.request_log).await {
        Ok(sim) => sim,
        Err(error) => return fail(&format!("cannot listen on port {}: {error}", args.port)),
    };
    for rule in args.faults {
        sim.inject(rule);
    }
    if let Some(delay) = args.ready_after {
        sim.set_ready_after(delay);
    }
    for image in args.never_ready {
        sim.set_image_behaviour(&image, ImageBehaviour::NeverReady);
    }
    for (image, after) in args.crash_after {
        sim.set_image_behaviour(&image, ImageBehaviour::CrashAfter(after));
    }
    if let Some(path) = &args.kubeconfig
        && let Err(error) = std::fs::write(path, sim.kubeconfig())
    {
        return fail(&format!("{}: {error}", path.display()));
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", sim.url())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    // Runs until interrupted (SIGINT or SIGTERM).
    let cuts = async {
        match args.cut_watches_every {
            Some(every) => {
                let mut ticks = tokio::time::interval(every);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    sim.cut_watches();
                }
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = cuts => {}
        () = interrupted() => {}
    }
    ExitCode::SUCCESS
}

async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "kulta-apisim: {message}");
    ExitCode::from(2)
}
