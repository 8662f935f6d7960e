//! The measured processes: `kulta-apisim` and one or more `kulta run`, started as children that
//! are killed when the benchmark ends, however it ends; their memory and CPU read from `/proc`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::BenchError;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// A child process, killed and reaped on drop.
pub struct Process {
    child: Child,
    /// What it is, for messages.
    pub what: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Memory and CPU of a process at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Resident set (VmRSS), MiB.
    pub rss_mib: f64,
    /// Peak resident set so far (VmHWM), MiB.
    pub peak_mib: f64,
    /// User and system CPU time so far, seconds.
    pub cpu_seconds: f64,
}

impl Process {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its memory and CPU now.
    pub fn usage(&self) -> Result<Usage, BenchError> {
        let pid = self.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|error| BenchError::Proc(format!("{} (pid {pid}): {error}", self.what)))?;
        let kib = |field: &str| -> f64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|error| BenchError::Proc(format!("{} (pid {pid}): {error}", self.what)))?;
        // Fields after the command name (which may hold spaces) start at the state, field 3;
        // utime and stime are fields 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |index: usize| -> f64 {
            fields
                .get(index)
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok(Usage {
            rss_mib: kib("VmRSS:") / 1024.0,
            peak_mib: kib("VmHWM:") / 1024.0,
            cpu_seconds: (ticks(11) + ticks(12)) / TICKS_PER_SECOND,
        })
    }

    /// Whether it exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// A binary next to this one, or where `given` says.
pub fn binary(given: Option<&Path>, name: &str) -> Result<PathBuf, BenchError> {
    let path = match given {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()
            .map_err(|error| BenchError::Binary(format!("cannot find this program: {error}")))?
            .with_file_name(name),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(BenchError::Binary(format!(
            "{} does not exist; build it first (cargo build -p kulta-apisim -p kulta-interpreter, with --release for release figures) or name it with --{}",
            path.display(),
            if name == "kulta" { "kulta" } else { "apisim" }
        )))
    }
}

/// Start `kulta-apisim`; returns the process and its URL.
pub fn start_apisim(
    binary: &Path,
    kubeconfig: &Path,
    ready_after: Duration,
) -> Result<(Process, String), BenchError> {
    let mut child = Command::new(binary)
        .args(["--port", "0", "--request-log", "0", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--ready-after")
        .arg(humantime::format_duration(ready_after).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| BenchError::Spawn(binary.display().to_string(), error))?;
    let stdout = child.stdout.take();
    let process = Process {
        child,
        what: "kulta-apisim".into(),
    };
    let mut line = String::new();
    if let Some(stdout) = stdout {
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|error| BenchError::Spawn(binary.display().to_string(), error))?;
    }
    let url = line.trim().to_string();
    if !url.starts_with("http://127.0.0.1:") {
        return Err(BenchError::Proc(format!(
            "kulta-apisim did not print its URL (it printed {url:?})"
        )));
    }
    Ok((process, url))
}

/// How one operator is started.
pub struct OperatorArgs<'a> {
    /// The `kulta` binary.
    pub binary: &'a Path,
    /// The simulator's kubeconfig.
    pub kubeconfig: &'a Path,
    /// `--namespace` flags (none: every namespace).
    pub namespaces: &'a [String],
    /// `--selector`, for a shard.
    pub selector: Option<String>,
    /// `--lease-name`, or no leader election.
    pub lease: Option<String>,
    /// Where its log goes.
    pub log: PathBuf,
    /// Extra arguments to `kulta run`.
    pub extra: &'a [String],
}

/// Start `kulta run`; returns the process and the address of its `/metrics`, once it logs that
/// it is running (at most `wait`).
pub fn start_operator(
    args: &OperatorArgs<'_>,
    wait: Duration,
) -> Result<(Process, String), BenchError> {
    let mut command = Command::new(args.binary);
    command.args(["run", "--listen", "127.0.0.1:0"]);
    for namespace in args.namespaces {
        command.arg("--namespace").arg(namespace);
    }
    if let Some(selector) = &args.selector {
        command.arg("--selector").arg(selector);
    }
    match &args.lease {
        Some(name) => {
            command
                .args(["--lease-namespace", "kube-system", "--lease-name"])
                .arg(name)
                .arg("--identity")
                .arg(name);
        }
        None => {
            command.arg("--no-leader-election");
        }
    }
    command.args(args.extra);
    let mut child = command
        .env("KUBECONFIG", args.kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| BenchError::Spawn(args.binary.display().to_string(), error))?;
    let stderr = child.stderr.take();
    let process = Process {
        child,
        what: "kulta run".into(),
    };
    let mut log = std::fs::File::create(&args.log)
        .map_err(|error| BenchError::Proc(format!("{}: {error}", args.log.display())))?;
    let (found, address) = mpsc::channel::<String>();
    if let Some(stderr) = stderr {
        // Copies the log to its file until the operator exits; tells where it listens.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("kulta is running")
                    && let Some(listen) = listen_address(&line)
                {
                    let _ = found.send(listen);
                }
                if writeln!(log, "{line}").is_err() {
                    break;
                }
            }
        });
    }
    let listen = address.recv_timeout(wait).map_err(|_| {
        BenchError::Proc(format!(
            "kulta run did not say it was running within {wait:?}; its log is {}",
            args.log.display()
        ))
    })?;
    Ok((process, listen))
}

/// `127.0.0.1:PORT` from the operator's start line (`health=Some(127.0.0.1:PORT)`).
fn listen_address(line: &str) -> Option<String> {
    let start = line.find("127.0.0.1:")?;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_address_is_read_from_the_start_line() {
        assert_eq!(
            listen_address("2026 INFO kulta is running health=Some(127.0.0.1:41234)"),
            Some("127.0.0.1:41234".into())
        );
        assert_eq!(listen_address("kulta is running health=None"), None);
    }
}
