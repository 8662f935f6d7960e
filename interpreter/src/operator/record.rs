//! `--record DIR`: every reconcile appended to `DIR/<namespace>.<rollout>.jsonl` as a trace
//! line (SPEC.md §6), so that `kulta replay --verify` can run it again offline.
//!
//! The first line this process writes for a rollout carries its spec and status in full, so
//! a file appended to by several controller runs still replays.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kulta::trace::TraceEncoder;
use kulta::{Effect, Observations, RolloutSpec, RolloutStatus};

use super::error::OperatorError;

/// Trace writers per rollout.
pub struct Recorder {
    dir: PathBuf,
    open: Mutex<BTreeMap<(String, String), (TraceEncoder, File)>>,
}

impl Recorder {
    /// Record into `dir`, creating it if needed.
    pub fn new(dir: &Path) -> Result<Self, OperatorError> {
        std::fs::create_dir_all(dir).map_err(|source| OperatorError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            open: Mutex::new(BTreeMap::new()),
        })
    }

    /// The file a rollout's trace goes to.
    pub fn path(&self, namespace: &str, name: &str) -> PathBuf {
        self.dir.join(format!("{namespace}.{name}.jsonl"))
    }

    /// Close a rollout's trace file (the Rollout was deleted); a new one with the same name
    /// starts a new encoder, whose first line carries the spec and status in full.
    pub fn close(&self, namespace: &str, name: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&(namespace.to_string(), name.to_string()));
        }
    }

    /// How many trace files are open.
    pub fn open_files(&self) -> usize {
        self.open.lock().map_or(0, |open| open.len())
    }

    /// Append one `step` call.
    pub fn record(
        &self,
        spec: &RolloutSpec,
        before: &RolloutStatus,
        observations: &Observations,
        after: &RolloutStatus,
        effects: &[Effect],
    ) -> Result<(), OperatorError> {
        let key = (
            observations.rollout.namespace.clone(),
            observations.rollout.name.clone(),
        );
        let path = self.path(&key.0, &key.1);
        let io = |source| OperatorError::Io {
            what: format!("writing {}", path.display()),
            source,
        };
        let mut open = self
            .open
            .lock()
            .map_err(|_| OperatorError::Missing("an unpoisoned trace lock"))?;
        let (encoder, file) = match open.entry(key) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io)?;
                entry.insert((TraceEncoder::new(), file))
            }
        };
        let mut line = encoder.encode(spec, before, observations, after, effects)?;
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(io)
    }
}
