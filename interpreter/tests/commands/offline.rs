//! Running the offline commands (`convert`, `lint`, `plan`) as a person or a CI job would: the
//! real binary, files on disk, stdout, stderr and the exit code.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::harness::Ran;

/// Run `kulta args…` and wait for it.
pub fn kulta(args: &[&str]) -> Ran {
    kulta_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Run `kulta args…` in `dir` (so that relative paths, and what the output says of them, do
/// not depend on where the repository is checked out).
pub fn kulta_in(dir: &Path, args: &[&str]) -> Ran {
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_kulta"))
        .current_dir(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// Run `kulta args…` with `input` on its standard input.
pub fn kulta_with_stdin(args: &[&str], input: &str) -> Ran {
    use std::io::Write;
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kulta"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// A file under `interpreter/tests/data/`.
pub fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Every `*.yaml` in a directory, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The repository's `examples/*.yaml`.
pub fn examples() -> Vec<PathBuf> {
    yaml_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"))
}

/// `text` written to a file in a fresh directory (kept alive by the returned guard).
pub fn file_with(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A path as an argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}
