//! Running the binaries as a person would, with a kubeconfig for the simulated cluster.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use kulta_apisim::ApiSim;

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Ran {
    /// Both streams, for assertion messages.
    pub fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A kubeconfig for a simulator whose context names `namespace`.
pub struct Kubeconfig {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Kubeconfig {
    pub fn for_sim(sim: &ApiSim, namespace: &str) -> Self {
        Self::with_text(
            &sim.kubeconfig()
                .replace("namespace: default", &format!("namespace: {namespace}")),
        )
    }

    pub fn with_text(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, text).unwrap();
        Kubeconfig { _dir: dir, path }
    }

    /// Run `kulta args…` with this kubeconfig, off the async runtime.
    pub async fn kulta(&self, args: &[&str]) -> Ran {
        run(env!("CARGO_BIN_EXE_kulta"), Some(self.path.clone()), args).await
    }

    /// Run `kubectl-kulta args…` with this kubeconfig.
    pub async fn plugin(&self, args: &[&str]) -> Ran {
        run(
            env!("CARGO_BIN_EXE_kubectl-kulta"),
            Some(self.path.clone()),
            args,
        )
        .await
    }
}

/// Run a binary without blocking the runtime that serves the simulator.
pub async fn run(binary: &str, kubeconfig: Option<PathBuf>, args: &[&str]) -> Ran {
    let binary = binary.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(binary);
        command.args(&args).env_remove("RUST_LOG");
        if let Some(path) = kubeconfig {
            command.env("KUBECONFIG", path);
        }
        let started = Instant::now();
        let output = command.output().unwrap();
        Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            took: started.elapsed(),
        }
    })
    .await
    .unwrap()
}
