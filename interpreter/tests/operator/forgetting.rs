//! What is gone is forgotten: a deleted Rollout's metric series and trace file are released.

use kube::api::DeleteParams;
use serde_json::json;

use crate::support::*;

/// Open file descriptors of this process that point into `dir`.
fn open_files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| std::fs::read_link(entry.path()).ok())
                .filter(|target| target.starts_with(dir))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_rollout_leaves_no_metric_series_and_no_open_trace_file() {
    let cluster = Cluster::start().await;
    let traces = tempfile::tempdir().unwrap();
    let operator = start_operator(&cluster, options(Some(traces.path()), None)).await;
    let names = ["alpha", "beta", "gamma"];
    for name in names {
        cluster
            .rollout_with(name, json!({}), 1, "web:1", json!({"simple": {}}))
            .await;
    }
    let metrics = format!("http://{}/metrics", operator.health.unwrap());
    eventually("every rollout has its series", LIMIT, || async {
        let text = metrics_text(&metrics).await?;
        let all = names
            .iter()
            .all(|n| text.contains(&format!("rollout=\"{n}\"")));
        if all { Ok(()) } else { Err(text) }
    })
    .await;
    assert_eq!(open_files_in(traces.path()), names.len());
    for name in names {
        cluster
            .rollouts()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    eventually("no series of a deleted rollout", LIMIT, || async {
        let text = metrics_text(&metrics).await?;
        let left: Vec<_> = text
            .lines()
            .filter(|l| {
                names
                    .iter()
                    .any(|n| l.contains(&format!("rollout=\"{n}\"")))
            })
            .map(String::from)
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(left.join("\n"))
        }
    })
    .await;
    eventually("no open trace file", LIMIT, || async {
        match open_files_in(traces.path()) {
            0 => Ok(()),
            n => Err(format!("{n} trace files still open")),
        }
    })
    .await;
    operator.stop().await;
}
