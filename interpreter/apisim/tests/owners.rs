//! Garbage collection through the owner index: deleting an owner removes exactly what it owns,
//! however many objects the store holds, including objects re-parented or orphaned by an update
//! and dependents of dependents.

use kulta_apisim::Store;
use serde_json::{Value, json};

fn owned(name: &str, owners: &[(&str, &str)]) -> Value {
    let refs: Vec<Value> = owners
        .iter()
        .map(|(owner, uid)| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid}))
        .collect();
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": refs}, "data": {"k": "v"}})
}

fn uid(object: &Value) -> String {
    object["metadata"]["uid"].as_str().unwrap().to_string()
}

#[test]
fn deleting_owners_of_many_objects_removes_exactly_their_dependents() {
    let mut store = Store::new(1_000);
    let maps = store.resource("", "v1", "configmaps").unwrap();
    let first = uid(&store.create(&maps, "default", owned("first", &[])).unwrap());
    let second = uid(&store
        .create(&maps, "default", owned("second", &[]))
        .unwrap());
    for i in 0..5_000 {
        store
            .create(
                &maps,
                "default",
                owned(&format!("of-first-{i}"), &[("first", &first)]),
            )
            .unwrap();
        store
            .create(
                &maps,
                "default",
                owned(&format!("of-second-{i}"), &[("second", &second)]),
            )
            .unwrap();
    }
    // Owned by both: the simulator's collector removes a dependent when any of its owners goes
    // (a simplification of Kubernetes, which waits for the last one; KULTA's objects have one).
    store
        .create(
            &maps,
            "default",
            owned("of-both", &[("first", &first), ("second", &second)]),
        )
        .unwrap();
    // A dependent of a dependent goes in the same cascade.
    let child = uid(&store.get(&maps, "default", "of-first-0").unwrap());
    store
        .create(
            &maps,
            "default",
            owned("grandchild", &[("of-first-0", &child)]),
        )
        .unwrap();
    // Re-parented by an update: no longer the first's.
    let mut moved = store.get(&maps, "default", "of-first-1").unwrap();
    moved["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "second", "uid": second}]);
    store
        .update(&maps, "default", "of-first-1", moved, false)
        .unwrap();
    // Orphaned by an update.
    let mut orphan = store.get(&maps, "default", "of-first-2").unwrap();
    orphan["metadata"]["ownerReferences"] = json!([]);
    store
        .update(&maps, "default", "of-first-2", orphan, false)
        .unwrap();
    assert_eq!(store.dependents_of(&first), 4_999);
    assert_eq!(store.dependents_of(&second), 5_002);

    let started = std::time::Instant::now();
    store.delete(&maps, "default", "first").unwrap();
    let took = started.elapsed();
    let names = |store: &Store| -> Vec<String> {
        store
            .list(
                &maps,
                Some("default"),
                &kulta_apisim::selector::Selector::parse(None, None).unwrap(),
                None,
                None,
            )
            .unwrap()
            .items
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let left = names(&store);
    assert!(
        !left
            .iter()
            .any(|n| n == "first" || n == "grandchild" || n == "of-both")
    );
    assert!(
        !left
            .iter()
            .any(|n| n.starts_with("of-first-") && n != "of-first-1" && n != "of-first-2")
    );
    assert!(
        left.iter().any(|n| n == "of-first-1"),
        "re-parented survives"
    );
    assert!(left.iter().any(|n| n == "of-first-2"), "orphaned survives");
    // 5,000 of the second's, the re-parented one, the orphan, and the second itself.
    assert_eq!(left.len(), 5_003, "{took:?}");
    assert_eq!(store.dependents_of(&first), 0);
    assert_eq!(store.dependents_of(&child), 0);
    assert_eq!(
        store.dependents_of(&second),
        5_001,
        "of-both left the index with its delete"
    );

    store.delete(&maps, "default", "second").unwrap();
    assert_eq!(names(&store), ["of-first-2"]);
    assert_eq!(store.dependents_of(&second), 0);
}
