//! `kulta simulate SCENARIO`: run a scenario file, print its timeline, optionally write its
//! trace.

use std::io::Write;
use std::path::Path;

use kulta::sim::scenario::{Scenario, ScenarioError};
use kulta::sim::timeline;
use kulta::trace::TraceEncoder;

use super::{CliError, Outcome};

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A readable timeline.
    Text,
    /// The timeline as JSON.
    Json,
}

/// Run the scenario at `path`.
pub fn simulate(
    path: &Path,
    trace: Option<&Path>,
    svg: Option<&Path>,
    format: Format,
    out: &mut impl Write,
) -> Result<Outcome, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let scenario = Scenario::from_yaml(&text).map_err(|error| CliError::Scenario {
        path: path.to_path_buf(),
        error,
    })?;
    let run = match scenario.run() {
        Ok(run) => run,
        Err(error @ (ScenarioError::Invariant { .. } | ScenarioError::StepCap(_))) => {
            writeln!(out, "{}: {error}", path.display())?;
            return Ok(Outcome::Found);
        }
        Err(error) => {
            return Err(CliError::Scenario {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    if let Some(trace_path) = trace {
        let mut encoder = TraceEncoder::new();
        let mut lines = String::new();
        for record in &run.records {
            lines.push_str(&encoder.encode(
                &record.spec,
                &record.before,
                &record.observations,
                &record.after,
                &record.effects,
            )?);
            lines.push('\n');
        }
        std::fs::write(trace_path, lines).map_err(|source| CliError::Io {
            path: trace_path.to_path_buf(),
            source,
        })?;
    }
    if let Some(svg_path) = svg {
        let frames: Vec<super::svg::Frame<'_>> = run
            .records
            .iter()
            .map(|record| super::svg::Frame {
                spec: &record.spec,
                after: &record.after,
                observations: &record.observations,
            })
            .collect();
        let title = path.file_stem().map_or_else(
            || path.display().to_string(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        let svg = super::svg::render(&title, &scenario.description, &frames, &run.aliases);
        super::svg::write(svg_path, &svg)?;
    }
    let entries = run.timeline();
    match format {
        Format::Text => {
            if !scenario.description.is_empty() {
                writeln!(out, "# {}", scenario.description)?;
            }
            out.write_all(timeline::render_text(&entries).as_bytes())?;
            writeln!(out, "{} steps", run.records.len())?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &entries)?;
            writeln!(out)?;
        }
    }
    Ok(Outcome::Ok)
}
