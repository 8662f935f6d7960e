//! `kulta-apisim`: run the Kubernetes API simulator on 127.0.0.1 until interrupted.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

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
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let sim = match kulta_apisim::ApiSim::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await
    {
        Ok(sim) => sim,
        Err(error) => return fail(&format!("cannot listen on port {}: {error}", args.port)),
    };
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
    // Runs until interrupted.
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "kulta-apisim: {message}");
    ExitCode::from(2)
}
