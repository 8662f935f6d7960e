//! Lists selected by label read the label index: they answer exactly what a scan of every
//! object would, through relabelling, deletes, other kinds and namespaces, and pages.

use kulta_apisim::Store;
use kulta_apisim::selector::Selector;
use serde_json::{Value, json};

fn map(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

fn names(
    store: &Store,
    namespace: Option<&str>,
    labels: &str,
    limit: Option<usize>,
) -> Vec<String> {
    let maps = store.resource("", "v1", "configmaps").unwrap();
    let selector = Selector::parse(Some(labels), None).unwrap();
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    // Bounded: at most 1,000 pages.
    for _ in 0..1_000 {
        let page = store
            .list(&maps, namespace, &selector, limit, token.as_deref())
            .unwrap();
        names.extend(page.items.iter().map(|o| {
            format!(
                "{}/{}",
                o["metadata"]["namespace"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        }));
        token = page.continue_token;
        if token.is_none() {
            break;
        }
    }
    names
}

#[test]
fn a_label_selected_list_answers_what_a_scan_would() {
    let mut store = Store::new(1_000);
    let maps = store.resource("", "v1", "configmaps").unwrap();
    let secrets = store.resource("", "v1", "secrets").unwrap();
    let namespaces = store.resource("", "v1", "namespaces").unwrap();
    store
        .create(
            &namespaces,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        )
        .unwrap();
    for i in 0..300 {
        let app = format!("app-{}", i % 3);
        let tier = if i % 2 == 0 { "front" } else { "back" };
        let namespace = if i % 5 == 0 { "shop" } else { "default" };
        store
            .create(
                &maps,
                namespace,
                map(&format!("m-{i:03}"), json!({"app": app, "tier": tier})),
            )
            .unwrap();
    }
    // Another kind with the same labels is never listed with ConfigMaps.
    store
        .create(
            &secrets,
            "default",
            json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "labels": {"app": "app-0"}}}),
        )
        .unwrap();
    // Relabelled: m-000 leaves app-0; deleted: m-003.
    store
        .update(
            &maps,
            "shop",
            "m-000",
            map("m-000", json!({"app": "moved", "tier": "front"})),
            false,
        )
        .unwrap();
    store.delete(&maps, "default", "m-003").unwrap();

    let scan = |namespace: Option<&str>, app: &str, tier: Option<&str>| -> Vec<String> {
        let mut expected: Vec<String> = (0..300)
            .filter(|i| *i != 0 && *i != 3)
            .filter(|i| format!("app-{}", i % 3) == app)
            .filter(|i| tier.is_none_or(|t| t == if i % 2 == 0 { "front" } else { "back" }))
            .map(|i| {
                let ns = if i % 5 == 0 { "shop" } else { "default" };
                (ns, format!("m-{i:03}"))
            })
            .filter(|(ns, _)| namespace.is_none_or(|n| n == *ns))
            .map(|(ns, name)| format!("{ns}/{name}"))
            .collect();
        expected.sort();
        expected
    };
    assert_eq!(
        names(&store, Some("default"), "app=app-0", None),
        scan(Some("default"), "app-0", None)
    );
    assert_eq!(
        names(&store, None, "app=app-0", None),
        scan(None, "app-0", None)
    );
    assert_eq!(
        names(&store, Some("default"), "app=app-1,tier=back", None),
        scan(Some("default"), "app-1", Some("back"))
    );
    assert_eq!(
        names(&store, None, "app=app-2,tier=front", Some(7)),
        scan(None, "app-2", Some("front"))
    );
    assert_eq!(
        names(&store, Some("shop"), "app=app-0", Some(3)),
        scan(Some("shop"), "app-0", None)
    );
    assert_eq!(names(&store, None, "app=moved", None), ["shop/m-000"]);
    assert!(names(&store, None, "app=nobody", None).is_empty());
    // A selector with no equality still scans.
    assert_eq!(names(&store, None, "app in (moved)", None), ["shop/m-000"]);
}
