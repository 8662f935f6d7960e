//! A rollout's run as an SVG timeline (`kulta simulate … --svg`, `kulta replay … --svg`):
//! the traffic weight of each revision over time, steps and pauses marked, analysis
//! measurements as points against their bounds, and the rollback moment.
//!
//! Plain SVG text: the picture has a handful of element kinds, and every series carries a
//! `data-series` attribute so tests (and scripts) can find it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use kulta::trace::{Replayer, parse_line};
use kulta::{MetricValue, Observations, Phase, RolloutSpec, RolloutStatus};

use super::CliError;
use super::view::{analysis_spec, step_text};

/// One call of `step`, as the picture needs it.
pub struct Frame<'a> {
    /// The spec it was called with.
    pub spec: &'a RolloutSpec,
    /// The status it returned.
    pub after: &'a RolloutStatus,
    /// What it observed (time and metric results).
    pub observations: &'a Observations,
}

const WIDTH: f64 = 960.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 230.0;
const WEIGHT_TOP: f64 = 64.0;
const WEIGHT_BOTTOM: f64 = 270.0;
const METRIC_TOP: f64 = 320.0;
const METRIC_BOTTOM: f64 = 460.0;
const HEIGHT: f64 = 500.0;

/// Colours for revisions, in order of first appearance.
const PALETTE: [&str; 6] = [
    "#2b6cb0", "#dd6b20", "#2f855a", "#805ad5", "#b7791f", "#00a3c4",
];

/// A measured point.
struct Point {
    t: f64,
    value: f64,
    metric: String,
    inside: bool,
}

/// Characters of the subtitle kept on its one line.
const SUBTITLE_CHARS: usize = 140;

/// Draw `frames` (in time order) under `title` and a one-line `subtitle`. `aliases` names
/// revisions (hash → image).
pub fn render(
    title: &str,
    subtitle: &str,
    frames: &[Frame<'_>],
    aliases: &BTreeMap<String, String>,
) -> String {
    let start = frames.first().map(|f| f.observations.now);
    let seconds = |time: DateTime<Utc>| {
        start.map_or(0.0, |start| {
            (time - start).num_milliseconds() as f64 / 1000.0
        })
    };
    let end = frames
        .last()
        .map_or(1.0, |f| seconds(f.observations.now))
        .max(1.0);
    let x = |t: f64| LEFT + (WIDTH - LEFT - RIGHT) * (t / end);
    let weight_y = |w: f64| WEIGHT_BOTTOM - (WEIGHT_BOTTOM - WEIGHT_TOP) * (w / 100.0);

    // Weight per revision: the canary gets the decided weight, stable the rest.
    let mut order: Vec<String> = Vec::new();
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut steps: Vec<(f64, String)> = Vec::new();
    let mut pauses: Vec<(f64, f64)> = Vec::new();
    let mut pause_from: Option<f64> = None;
    let mut rollbacks: Vec<(f64, String)> = Vec::new();
    let mut points: Vec<Point> = Vec::new();
    let mut bounds: BTreeMap<String, (Option<f64>, Option<f64>)> = BTreeMap::new();
    let mut last_step: Option<i32> = None;
    let mut last_phase: Option<Phase> = None;
    for frame in frames {
        let t = seconds(frame.observations.now);
        let status = frame.after;
        let mut now: BTreeMap<String, f64> = BTreeMap::new();
        let canary_weight = f64::from(status.current_weight);
        if let Some(canary) = &status.canary_revision {
            now.insert(canary.clone(), canary_weight);
        }
        if let Some(stable) = &status.stable_revision {
            let rest = if status.canary_revision.is_some() {
                100.0 - canary_weight
            } else {
                100.0
            };
            now.insert(stable.clone(), rest);
        }
        for revision in now.keys() {
            if !order.contains(revision) {
                order.push(revision.clone());
            }
        }
        for revision in &order {
            let weight = now.get(revision).copied().unwrap_or(0.0);
            let line = series.entry(revision.clone()).or_default();
            if line.last().is_none_or(|(_, last)| *last != weight) {
                line.push((t, weight));
            }
        }
        if status.current_step_index != last_step {
            if let (Some(index), Some(canary)) =
                (status.current_step_index, &frame.spec.strategy.canary)
                && let Some(step) = usize::try_from(index)
                    .ok()
                    .and_then(|i| canary.steps.get(i))
            {
                steps.push((t, format!("{index}: {}", step_text(step))));
            }
            last_step = status.current_step_index;
        }
        let paused = status.phase == Some(Phase::Paused) || status.pause_start_time.is_some();
        match (paused, pause_from) {
            (true, None) => pause_from = Some(t),
            (false, Some(from)) => {
                pauses.push((from, t));
                pause_from = None;
            }
            _ => {}
        }
        if status.phase == Some(Phase::Failed) && last_phase != Some(Phase::Failed) {
            rollbacks.push((t, super::view::reason(status)));
        }
        last_phase = status.phase;
        for result in &frame.observations.metric_results {
            let MetricValue::Sample(value) = result.value else {
                continue;
            };
            if !value.is_finite() {
                continue;
            }
            let range = analysis_spec(frame.spec, result.key.analysis, result.key.step_index)
                .and_then(|a| a.metrics.iter().find(|m| m.name == result.key.metric))
                .map(|m| m.threshold_range);
            if let Some(range) = range {
                bounds.insert(result.key.metric.clone(), (range.min, range.max));
            }
            let inside = range.is_none_or(|r| {
                r.min.is_none_or(|min| value >= min) && r.max.is_none_or(|max| value <= max)
            });
            points.push(Point {
                t: seconds(result.time).max(0.0),
                value,
                metric: result.key.metric.clone(),
                inside,
            });
        }
    }
    if let Some(from) = pause_from {
        pauses.push((from, end));
    }

    let mut svg = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<title>{title}</title>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{title}</text>
<text x="{LEFT}" y="38" font-size="11" fill="#4a5568">{subtitle}</text>
<text x="{LEFT}" y="{}" fill="#4a5568">traffic weight per revision (%)</text>
"##,
        WEIGHT_TOP - 8.0,
        title = escape(title),
        subtitle = escape(&shorten(subtitle, SUBTITLE_CHARS))
    );
    for (from, to) in &pauses {
        let _ = writeln!(
            svg,
            r##"<rect data-series="pause" x="{:.1}" y="{WEIGHT_TOP}" width="{:.1}" height="{}" fill="#fefcbf"/>"##,
            x(*from),
            (x(*to) - x(*from)).max(1.0),
            WEIGHT_BOTTOM - WEIGHT_TOP
        );
    }
    for w in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e2e8f0"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#718096">{w}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            weight_y(w) + 4.0,
            y = weight_y(w)
        );
    }
    for (i, (t, label)) in steps.iter().enumerate() {
        // Alternate labels between the bottom and the middle so close steps stay readable.
        let label_y = if i % 2 == 0 {
            WEIGHT_BOTTOM - 4.0
        } else {
            (WEIGHT_TOP + WEIGHT_BOTTOM) / 2.0
        };
        let _ = writeln!(
            svg,
            r##"<line data-series="step" x1="{x:.1}" x2="{x:.1}" y1="{WEIGHT_TOP}" y2="{WEIGHT_BOTTOM}" stroke="#a0aec0" stroke-dasharray="2 3"/><text x="{:.1}" y="{:.1}" fill="#4a5568" font-size="10" transform="rotate(-90 {:.1} {:.1})">{}</text>"##,
            x(*t) + 3.0,
            label_y,
            x(*t) + 3.0,
            label_y,
            escape(label),
            x = x(*t)
        );
    }
    let mut legend_y = WEIGHT_TOP + 10.0;
    for (i, revision) in order.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut path = String::new();
        let line = series.get(revision).map(Vec::as_slice).unwrap_or_default();
        let mut previous: Option<f64> = None;
        for (t, weight) in line {
            if let Some(before) = previous {
                let _ = write!(path, "{:.1},{:.1} ", x(*t), weight_y(before));
            }
            let _ = write!(path, "{:.1},{:.1} ", x(*t), weight_y(*weight));
            previous = Some(*weight);
        }
        if let Some(last) = previous {
            let _ = write!(path, "{:.1},{:.1}", x(end), weight_y(last));
        }
        // An image is shown without its registry path: `checkout:1.5.0`.
        let name = aliases.get(revision).map_or_else(
            || revision.clone(),
            |image| image.rsplit('/').next().unwrap_or(image).to_string(),
        );
        let _ = writeln!(
            svg,
            r##"<polyline data-series="weight" data-revision="{}" points="{}" fill="none" stroke="{colour}" stroke-width="2.5"/>"##,
            escape(revision),
            path.trim_end()
        );
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="12" height="4" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            WIDTH - RIGHT + 12.0,
            legend_y - 4.0,
            WIDTH - RIGHT + 30.0,
            legend_y,
            escape(&name)
        );
        legend_y += 18.0;
    }
    if !pauses.is_empty() {
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="12" height="10" fill="#fefcbf" stroke="#d69e2e"/><text x="{:.1}" y="{:.1}">paused</text>"##,
            WIDTH - RIGHT + 12.0,
            legend_y - 9.0,
            WIDTH - RIGHT + 30.0,
            legend_y
        );
    }
    draw_metrics(&mut svg, &points, &bounds, &x);
    for (t, reason) in &rollbacks {
        let _ = writeln!(
            svg,
            r##"<line data-series="rollback" x1="{x:.1}" x2="{x:.1}" y1="{WEIGHT_TOP}" y2="{METRIC_BOTTOM}" stroke="#c53030" stroke-width="2"/><text x="{:.1}" y="{:.1}" fill="#c53030" font-weight="bold">rollback: {}</text>"##,
            x(*t) + 4.0,
            WEIGHT_TOP + 12.0,
            escape(reason),
            x = x(*t)
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#718096">{}</text>
<text x="{LEFT}" y="{:.1}" fill="#718096">0s</text>
</svg>"##,
        WIDTH - RIGHT,
        HEIGHT - 10.0,
        humantime::format_duration(std::time::Duration::from_secs_f64(end.max(0.0))),
        HEIGHT - 10.0
    );
    svg
}

fn draw_metrics(
    svg: &mut String,
    points: &[Point],
    bounds: &BTreeMap<String, (Option<f64>, Option<f64>)>,
    x: &impl Fn(f64) -> f64,
) {
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="{:.1}" fill="#4a5568">analysis measurements (● inside bounds, ✖ outside; dashed: bounds)</text>
<line x1="{LEFT}" x2="{:.1}" y1="{METRIC_BOTTOM}" y2="{METRIC_BOTTOM}" stroke="#e2e8f0"/>"##,
        METRIC_TOP - 8.0,
        WIDTH - RIGHT
    );
    let mut top = bounds
        .values()
        .flat_map(|(min, max)| [*min, *max])
        .flatten()
        .chain(points.iter().map(|p| p.value))
        .fold(0.0_f64, f64::max);
    if top <= 0.0 {
        top = 1.0;
    }
    top *= 1.15;
    let y = |v: f64| METRIC_BOTTOM - (METRIC_BOTTOM - METRIC_TOP) * (v.max(0.0) / top);
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#718096">{}</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#718096">0</text>"##,
        LEFT - 6.0,
        METRIC_TOP + 4.0,
        format_value(top),
        LEFT - 6.0,
        METRIC_BOTTOM + 4.0
    );
    for (metric, (min, max)) in bounds {
        for bound in [min, max].into_iter().flatten() {
            let _ = writeln!(
                svg,
                r##"<line data-series="bound" data-metric="{}" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#c53030" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" fill="#c53030">{} bound {}</text>"##,
                escape(metric),
                WIDTH - RIGHT,
                WIDTH - RIGHT + 12.0,
                y(*bound) + 4.0,
                escape(metric),
                format_value(*bound),
                yy = y(*bound)
            );
        }
    }
    for point in points {
        let (cx, cy) = (x(point.t), y(point.value));
        if point.inside {
            let _ = writeln!(
                svg,
                r##"<circle data-series="measurement" data-metric="{}" data-value="{}" cx="{cx:.1}" cy="{cy:.1}" r="3.5" fill="#2f855a"/>"##,
                escape(&point.metric),
                point.value
            );
        } else {
            let _ = writeln!(
                svg,
                r##"<path data-series="measurement" data-metric="{}" data-value="{}" d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" stroke="#c53030" stroke-width="2"/>"##,
                escape(&point.metric),
                point.value,
                cx - 4.0,
                cy - 4.0
            );
        }
    }
}

/// `text`, cut to `limit` characters with an ellipsis.
fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn format_value(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Escape text for XML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Write `svg` to `path`.
pub fn write(path: &Path, svg: &str) -> Result<(), CliError> {
    std::fs::write(path, svg).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Replay the trace at `trace` and draw it to `path`. The spec is carried from the lines that
/// record it (a line leaves out an unchanged spec).
pub fn replay_to_file(trace: &Path, path: &Path) -> Result<(), CliError> {
    let text = std::fs::read_to_string(trace).map_err(|source| CliError::Io {
        path: trace.to_path_buf(),
        source,
    })?;
    let trace_error = |error| CliError::Trace {
        path: trace.to_path_buf(),
        error,
    };
    let mut replayer = Replayer::new();
    let mut steps: Vec<(RolloutSpec, RolloutStatus, Observations)> = Vec::new();
    let mut spec: Option<RolloutSpec> = None;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let parsed = parse_line(line, number).map_err(trace_error)?;
        if let Ok(SpecOnly {
            spec: Some(recorded),
        }) = serde_json::from_str::<SpecOnly>(line)
        {
            spec = Some(recorded);
        }
        let replayed = replayer.replay(parsed).map_err(trace_error)?;
        if let Some(spec) = &spec {
            steps.push((
                spec.clone(),
                (*replayed.after).clone(),
                replayed.observations,
            ));
        }
    }
    let frames: Vec<Frame<'_>> = steps
        .iter()
        .map(|(spec, after, observations)| Frame {
            spec,
            after,
            observations,
        })
        .collect();
    let title = frames.first().map_or_else(
        || trace.display().to_string(),
        |f| {
            format!(
                "{}/{}",
                f.observations.rollout.namespace, f.observations.rollout.name
            )
        },
    );
    let subtitle = format!("replayed from {}", trace.display());
    write(path, &render(&title, &subtitle, &frames, &BTreeMap::new()))
}

/// The spec a trace line records, if it records one.
#[derive(serde::Deserialize)]
struct SpecOnly {
    #[serde(default)]
    spec: Option<RolloutSpec>,
}
