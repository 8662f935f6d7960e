//! `kulta replay TRACE`: run `step` again over every recorded input; print the timeline, or
//! with `--verify` stop at the first divergence and show it.
//!
//! Two stages run side by side: one thread reads the file in large blocks and parses lines
//! (each on its own), the other completes each line from the one before (a line may leave out
//! an unchanged spec or status), runs `step` again, compares and prints, in line order.
//! Batches pass between them through a bounded channel.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc;

use kulta::sim::timeline::{self, StepView};
use kulta::trace::{ParsedLine, Replayed, Replayer, TraceError, parse_line};

use super::{CliError, Outcome};

/// How to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Stop at the first divergence.
    pub verify: bool,
    /// Print JSON lines instead of text.
    pub json: bool,
    /// Print only the summary.
    pub quiet: bool,
}

/// Parsed lines handed over at a time.
const BATCH: usize = 128;
/// Batches in flight between the stages.
const IN_FLIGHT: usize = 8;
/// Bytes read from the file at a time.
const BLOCK: usize = 4 << 20;

/// Replay the trace at `path`.
pub fn replay(path: &Path, options: Options, out: &mut impl Write) -> Result<Outcome, CliError> {
    let file = std::fs::File::open(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let trace_error = |error| CliError::Trace {
        path: path.to_path_buf(),
        error,
    };
    let (sender, receiver) = mpsc::sync_channel::<Result<Vec<ParsedLine>, CliError>>(IN_FLIGHT);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            if let Err(error) = parse_file(path, file, &sender) {
                // The receiver may have stopped early; then nobody needs the error.
                let _ = sender.send(Err(error));
            }
        });
        let mut replayer = Replayer::new();
        let mut steps = 0usize;
        for batch in receiver {
            for parsed in batch? {
                let replayed = replayer.replay(parsed).map_err(trace_error)?;
                steps += 1;
                if let (Some(divergence), true) = (&replayed.divergence, options.verify) {
                    write!(out, "{}: {divergence}", path.display())?;
                    return Ok(Outcome::Found);
                }
                if !options.quiet {
                    out.write_all(render(&replayed, options.json).as_bytes())?;
                }
            }
        }
        let verdict = if options.verify {
            "no divergence"
        } else {
            "replayed"
        };
        if !options.json {
            writeln!(out, "{steps} steps, {verdict}")?;
        }
        Ok(Outcome::Ok)
    })
}

/// The first stage: read, split and parse lines, sending batches in order. Stops quietly when
/// the other stage has stopped listening.
fn parse_file(
    path: &Path,
    mut file: std::fs::File,
    sender: &mpsc::SyncSender<Result<Vec<ParsedLine>, CliError>>,
) -> Result<(), CliError> {
    let trace_error = |error| CliError::Trace {
        path: path.to_path_buf(),
        error,
    };
    let mut line_number = 0usize;
    let mut buffer: Vec<u8> = Vec::with_capacity(BLOCK);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let start = buffer.len();
        buffer.resize(start + BLOCK, 0);
        let read = read_full(&mut file, &mut buffer[start..]).map_err(|source| CliError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        buffer.truncate(start + read);
        let at_end = read == 0;
        // Whole lines only; a partial last line waits for the next block.
        let complete = if at_end {
            buffer.len()
        } else {
            buffer
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1)
        };
        let text = std::str::from_utf8(&buffer[..complete]).map_err(|error| {
            trace_error(TraceError::Malformed {
                line: line_number + 1,
                path: ".".into(),
                message: format!("not UTF-8: {error}"),
            })
        })?;
        for line in text.lines() {
            line_number += 1;
            if line.trim().is_empty() {
                continue;
            }
            batch.push(parse_line(line, line_number).map_err(trace_error)?);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if sender.send(Ok(full)).is_err() {
                    return Ok(());
                }
            }
        }
        buffer.drain(..complete);
        if at_end {
            break;
        }
    }
    if !batch.is_empty() {
        let _ = sender.send(Ok(batch));
    }
    Ok(())
}

/// Fill `buffer` as far as the file allows; 0 only at the end of the file.
fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// One replayed step as timeline text or a JSON line; empty when it decided nothing.
fn render(replayed: &Replayed, json: bool) -> String {
    let view = StepView {
        before: &replayed.before,
        observations: &replayed.observations,
        after: &replayed.after,
        effects: &replayed.effects,
    };
    let time = replayed.observations.now.to_rfc3339();
    let rollout = &replayed.observations.rollout.name;
    let Some(entry) = timeline::entry(&view, time, &BTreeMap::new(), rollout) else {
        return String::new();
    };
    if !json {
        return timeline::render_text(std::slice::from_ref(&entry));
    }
    let line = serde_json::json!({
        "line": replayed.line,
        "seq": replayed.seq,
        "time": entry.t,
        "phase": entry.phase,
        "step": entry.step,
        "weight": entry.weight,
        "effects": replayed.effects,
    });
    format!("{line}\n")
}
