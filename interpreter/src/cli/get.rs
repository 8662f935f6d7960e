//! `kulta get`: list rollouts as a table (or JSON/YAML), or show one as a live tree.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use comfy_table::{Table, presets};
use kube::ResourceExt;
use kube::api::ListParams;
use kulta::{Phase, Rollout};

use super::cluster::{ControlError, Session};
use super::view::{self, Snapshot};

/// How `kulta get` prints a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// The objects as a JSON list.
    Json,
    /// The objects as YAML.
    Yaml,
    /// The table with revisions, replicas and the message.
    Wide,
}

/// Which namespaces to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One namespace.
    Namespace(String),
    /// Every namespace.
    All,
}

/// List rollouts.
pub async fn list(
    session: &Session,
    scope: &Scope,
    output: Option<Output>,
    out: &mut impl Write,
) -> Result<(), ControlError> {
    let (api, what) = match scope {
        Scope::Namespace(namespace) => (
            session.rollouts(namespace),
            format!("rollouts in namespace {namespace}"),
        ),
        Scope::All => (
            kube::Api::<Rollout>::all(session.client.clone()),
            "rollouts in all namespaces".to_string(),
        ),
    };
    let rollouts = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(error) => return Err(session.explain("list", what, error).await),
    };
    match output {
        Some(Output::Json) => {
            let list = list_object(&rollouts)?;
            let text = serde_json::to_string_pretty(&list)
                .map_err(|error| ControlError::Encode(error.to_string()))?;
            writeln!(out, "{text}")?;
        }
        Some(Output::Yaml) => {
            let list = list_object(&rollouts)?;
            let text = serde_yaml_ng::to_string(&list)
                .map_err(|error| ControlError::Encode(error.to_string()))?;
            write!(out, "{text}")?;
        }
        Some(Output::Wide) | None => {
            if rollouts.is_empty() {
                let place = match scope {
                    Scope::Namespace(namespace) => format!("namespace {namespace}"),
                    Scope::All => "any namespace".to_string(),
                };
                writeln!(out, "No rollouts found in {place}.")?;
                return Ok(());
            }
            let table = table(
                &rollouts,
                *scope == Scope::All,
                output == Some(Output::Wide),
                chrono::Utc::now(),
            );
            for line in table.to_string().lines() {
                writeln!(out, "{}", line.trim_end())?;
            }
        }
    }
    Ok(())
}

/// A `v1` `List` of the rollouts, as `kubectl get -o json` prints.
fn list_object(rollouts: &[Rollout]) -> Result<serde_json::Value, ControlError> {
    let items = serde_json::to_value(rollouts).map_err(|e| ControlError::Encode(e.to_string()))?;
    Ok(serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))
}

/// The list as a borderless table, as kubectl prints.
pub fn table(
    rollouts: &[Rollout],
    namespaces: bool,
    wide: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    let mut header = Vec::new();
    if namespaces {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "PHASE", "REASON", "STEP", "WEIGHT", "AGE"]);
    if wide {
        header.extend(["STABLE", "CANARY", "READY", "MESSAGE"]);
    }
    table.set_header(header);
    for rollout in rollouts {
        let status = rollout.status.clone().unwrap_or_default();
        let mut row = Vec::new();
        if namespaces {
            row.push(rollout.namespace().unwrap_or_default());
        }
        let steps = rollout
            .spec
            .strategy
            .canary
            .as_ref()
            .map(|canary| canary.steps.len());
        let step = match (status.current_step_index, steps) {
            (Some(index), Some(steps)) => format!("{index}/{steps}"),
            _ => "-".to_string(),
        };
        let created = rollout
            .creation_timestamp()
            .and_then(|t| view::chrono_time(t.0));
        row.extend([
            rollout.name_any(),
            status.phase.map_or("-", Phase::as_str).to_string(),
            nonempty(view::reason(&status)),
            step,
            status.current_weight.to_string(),
            created.map_or_else(|| "-".to_string(), |t| view::age(t, now)),
        ]);
        if wide {
            row.extend([
                status.stable_revision.clone().unwrap_or_else(|| "-".into()),
                status.canary_revision.clone().unwrap_or_else(|| "-".into()),
                format!("{}/{}", status.ready_replicas, status.replicas),
                status.message.clone().unwrap_or_default(),
            ]);
        }
        table.add_row(row);
    }
    // As kubectl prints: no leading space, columns two spaces apart.
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

fn nonempty(text: String) -> String {
    if text.is_empty() { "-".into() } else { text }
}

/// Show one rollout as a tree; with `watch`, redraw it whenever it changes until `limit`
/// passes (or forever without one), in place on a terminal.
pub async fn one(
    session: &Session,
    namespace: &str,
    name: &str,
    watch: Option<Option<Duration>>,
    out: &mut impl Write,
) -> Result<(), ControlError> {
    let snapshot = Snapshot::read(session, namespace, name).await?;
    let mut last = view::render(&snapshot, chrono::Utc::now());
    let Some(limit) = watch else {
        write!(out, "{last}")?;
        return Ok(());
    };
    let terminal = std::io::stdout().is_terminal();
    draw(out, &last, None, terminal)?;
    let deadline = limit.map(|limit| tokio::time::Instant::now() + limit);
    loop {
        if deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline) {
            return Ok(());
        }
        tokio::time::sleep(REFRESH).await;
        let snapshot = Snapshot::read(session, namespace, name).await?;
        let frame = view::render(&snapshot, chrono::Utc::now());
        if frame != last {
            draw(out, &frame, Some(&last), terminal)?;
            last = frame;
        }
    }
}

/// How often a watched tree is read again.
pub const REFRESH: Duration = Duration::from_millis(500);

/// Print a frame: on a terminal over the previous one, else after a blank line.
pub fn draw(
    out: &mut impl Write,
    frame: &str,
    previous: Option<&str>,
    terminal: bool,
) -> Result<(), ControlError> {
    if !terminal {
        match previous {
            Some(_) => write!(out, "\n{frame}")?,
            None => write!(out, "{frame}")?,
        }
        out.flush()?;
        return Ok(());
    }
    // Lines cut to the terminal's width never wrap, so the previous frame's line count is how
    // far up the cursor goes to draw over it.
    let (rows, columns) = match console::Term::stdout().size_checked() {
        Some((rows, columns)) if rows > 0 && columns > 0 => (rows, columns),
        // A terminal that does not say its size: draw whole lines.
        _ => (u16::MAX, u16::MAX),
    };
    let fit = |text: &str| -> String {
        text.lines()
            .take(usize::from(rows).saturating_sub(1).max(1))
            .map(|line| {
                let cut = console::truncate_str(line, usize::from(columns).saturating_sub(1), "…");
                format!("{cut}\n")
            })
            .collect()
    };
    if let Some(previous) = previous {
        let lines = fit(previous).lines().count();
        // Up to the first line of the previous frame, and clear to the end of the screen.
        write!(out, "\x1b[{lines}F\x1b[J")?;
    }
    write!(out, "{}", fit(frame))?;
    out.flush()?;
    Ok(())
}
