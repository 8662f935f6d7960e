//! CDEvents at least once across a crash: what a transition owes the sink lives in the status
//! until the sink acknowledged it, so a controller killed with events queued loses none, and a
//! re-sent event is byte-identical to the first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdevents_queued_when_the_controller_is_killed_are_sent_by_the_next_one_byte_for_byte() {
    // A slow sink that keeps every body it received, by CDEvent id.
    let received: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
    let log = Arc::clone(&received);
    let sink = serve(move |_, body| {
        std::thread::sleep(Duration::from_millis(1000));
        let text = String::from_utf8_lossy(&body).to_string();
        if let Ok(event) = serde_json::from_str::<serde_json::Value>(&text) {
            let id = event["id"].as_str().unwrap_or_default().to_string();
            log.lock().unwrap().entry(id).or_default().push(text);
        }
        (StatusCode::ACCEPTED, String::new())
    })
    .await;
    let sink = format!("http://{sink}/events");
    let cluster = Cluster::start().await;
    cluster.canary_services(true).await;
    cluster
        .rollout(
            2,
            "web:1",
            canary(true, json!([{"setWeight": 50}]), json!({})),
        )
        .await;
    let first = start_operator(&cluster, options(None, Some(sink.clone()))).await;
    cluster.settled().await;
    let v2 = cluster.ship("web:2").await;
    let done = cluster.stable_on(&v2).await;
    // Killed at once, as a crash: whatever the slow sink has not taken yet is lost in memory.
    first.kill();
    let owed = done.cdevents_outbox.len();
    assert!(
        owed > 0,
        "the slow sink had taken every event before the kill"
    );
    let second = start_operator(&cluster, options(None, Some(sink))).await;
    // v1: deployed, published; v2: deployed, upgraded, published.
    eventually("every CDEvent received", LIMIT, || async {
        let got = received.lock().unwrap().len();
        if got >= 5 {
            Ok(())
        } else {
            Err(format!("{got} of 5 (the killed controller owed {owed})"))
        }
    })
    .await;
    cluster
        .status_until("the outbox emptied", LIMIT, |s| {
            s.cdevents_outbox.is_empty()
        })
        .await;
    for (id, bodies) in received.lock().unwrap().iter() {
        assert!(
            bodies.windows(2).all(|pair| pair[0] == pair[1]),
            "{id} was re-sent with different bytes"
        );
    }
    second.stop().await;
}
