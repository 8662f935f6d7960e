//! Events in both APIs: the operator writes `events.k8s.io/v1` Events, and `kubectl get
//! events` and `kubectl describe` read `core/v1` ones. As the API server does, the simulator
//! stores one Event and converts it for whichever API is asked.

use serde_json::{Map, Value};

/// Fields with the same name and meaning in both APIs.
const SHARED: [&str; 8] = [
    "metadata",
    "series",
    "reason",
    "type",
    "action",
    "eventTime",
    "reportingInstance",
    "related",
];

/// `(core/v1 name, events.k8s.io/v1 name)` of the fields that were renamed.
const RENAMED: [(&str, &str); 7] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

fn copy(from: &Value, to: &mut Map<String, Value>, pairs: &[(&str, &str)]) {
    for (source, target) in pairs {
        if let Some(value) = from.get(*source).filter(|v| !v.is_null()) {
            to.insert((*target).to_string(), value.clone());
        }
    }
}

/// A stored (`events.k8s.io/v1`) Event as `core/v1` shows it.
pub fn to_core(stored: &Value) -> Value {
    let mut core = Map::new();
    core.insert("apiVersion".into(), "v1".into());
    core.insert("kind".into(), "Event".into());
    let shared: Vec<(&str, &str)> = SHARED.iter().map(|f| (*f, *f)).collect();
    copy(stored, &mut core, &shared);
    let renamed: Vec<(&str, &str)> = RENAMED.iter().map(|(c, e)| (*e, *c)).collect();
    copy(stored, &mut core, &renamed);
    // The core API names the reporter in `source` too; clients print it from there.
    if !core.contains_key("source")
        && let Some(controller) = stored.get("reportingController").filter(|c| c.is_string())
    {
        let mut source = Map::new();
        source.insert("component".into(), controller.clone());
        core.insert("source".into(), Value::Object(source));
    }
    Value::Object(core)
}

/// A `core/v1` Event as it is stored (`events.k8s.io/v1`).
pub fn from_core(core: &Value) -> Value {
    let mut stored = Map::new();
    stored.insert("apiVersion".into(), "events.k8s.io/v1".into());
    stored.insert("kind".into(), "Event".into());
    let shared: Vec<(&str, &str)> = SHARED.iter().map(|f| (*f, *f)).collect();
    copy(core, &mut stored, &shared);
    copy(core, &mut stored, &RENAMED);
    if !stored.contains_key("reportingController")
        && let Some(component) = core["source"].get("component").filter(|c| c.is_string())
    {
        stored.insert("reportingController".into(), component.clone());
    }
    Value::Object(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.17f", "namespace": "shop"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "kulta.io/operator", "reportingInstance": "kulta-0",
            "action": "Promote", "reason": "RolloutPromoted", "type": "Normal",
            "note": "promoted to step 2",
            "regarding": {"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout", "name": "web", "namespace": "shop", "uid": "u1"},
            "series": {"count": 3, "lastObservedTime": "2026-01-01T00:01:00.000000Z"},
        })
    }

    #[test]
    fn a_stored_event_reads_as_core_with_its_object_message_and_reporter() {
        let core = to_core(&stored());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["kind"], "Rollout");
        assert_eq!(core["message"], "promoted to step 2");
        assert_eq!(core["reportingComponent"], "kulta.io/operator");
        assert_eq!(core["source"]["component"], "kulta.io/operator");
        assert_eq!(core["series"]["count"], 3);
        assert_eq!(core["metadata"]["name"], "web.17f");
    }

    #[test]
    fn core_and_stored_convert_back_and_forth() {
        let mut back = from_core(&to_core(&stored()));
        // The core view names the reporter in `source`; it is kept as the deprecated source.
        assert_eq!(back["deprecatedSource"]["component"], "kulta.io/operator");
        back.as_object_mut().unwrap().remove("deprecatedSource");
        assert_eq!(back, stored());
    }
}
