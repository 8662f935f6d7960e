//! The kinds the simulator serves: the built-in ones KULTA touches, plus every kind a
//! CustomResourceDefinition declares, from the moment the CRD is created.

use serde_json::Value;

/// A served resource type.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name, as in URLs.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Has a `/status` subresource: status changes only through it, and spec changes only
    /// through the main endpoint.
    pub status_subresource: bool,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// The CRD's `openAPIV3Schema` for this version, for custom kinds (shared: a pod
    /// template's schema alone is thousands of nodes, and the type is looked up per request).
    pub schema: Option<std::sync::Arc<Value>>,
    /// The CRD's `additionalPrinterColumns` for this version.
    pub printer_columns: Vec<PrinterColumn>,
    /// The `/scale` subresource, when the kind has one.
    pub scale: Option<ScalePaths>,
}

/// Where a kind keeps what its `/scale` subresource reads and writes (JSON paths as a CRD
/// declares them: `.spec.replicas`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    /// The desired replicas: `Scale.spec.replicas`.
    pub spec_replicas: String,
    /// The observed replicas: `Scale.status.replicas`.
    pub status_replicas: String,
    /// The label selector as a string: `Scale.status.selector`.
    pub label_selector: Option<String>,
}

/// A column `kubectl get` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Header.
    pub name: String,
    /// OpenAPI type: string, integer, date, ...
    pub type_: String,
    /// Where the value is.
    pub json_path: String,
    /// What it means.
    pub description: String,
    /// 0 shows by default; higher only with `-o wide`.
    pub priority: i64,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn builtin(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        namespaced: bool,
        status_subresource: bool,
        short_names: &[&str],
    ) -> Self {
        ResourceType {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            namespaced,
            status_subresource,
            short_names: short_names.iter().map(|s| s.to_string()).collect(),
            schema: None,
            printer_columns: Vec::new(),
            scale: None,
        }
    }

    fn scaled(mut self) -> Self {
        self.scale = Some(ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: None,
        });
        self
    }

    /// The core/v1 view of Events, which are stored as `events.k8s.io/v1` (as the API server
    /// stores both in one place): what `kubectl get events` and `kubectl describe` read.
    pub fn is_core_event(&self) -> bool {
        self.group.is_empty() && self.plural == "events"
    }
}

fn column(name: &str, type_: &str, json_path: &str, description: &str) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        json_path: json_path.into(),
        description: description.into(),
        priority: 0,
    }
}

/// The built-in kinds.
pub fn builtins() -> Vec<ResourceType> {
    let mut core_events = ResourceType::builtin("", "v1", "Event", "events", true, false, &["ev"]);
    core_events.printer_columns = vec![
        column(
            "Last Seen",
            "date",
            ".eventTime",
            "When the event happened.",
        ),
        column("Type", "string", ".type", "Normal or Warning."),
        column("Reason", "string", ".reason", "Why the event happened."),
        column(
            "Object",
            "string",
            ".involvedObject.name",
            "The object it is about.",
        ),
        column("Message", "string", ".message", "What happened."),
    ];
    vec![
        ResourceType::builtin("", "v1", "Namespace", "namespaces", false, true, &["ns"]),
        ResourceType::builtin("", "v1", "Service", "services", true, true, &["svc"]),
        core_events,
        ResourceType::builtin("", "v1", "Secret", "secrets", true, false, &[]),
        ResourceType::builtin("", "v1", "Pod", "pods", true, true, &["po"]),
        ResourceType::builtin("", "v1", "ConfigMap", "configmaps", true, false, &["cm"]),
        ResourceType::builtin(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            true,
            false,
            &["sa"],
        ),
        ResourceType::builtin(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            true,
            true,
            &["rs"],
        )
        .scaled(),
        ResourceType::builtin(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            true,
            true,
            &["deploy"],
        )
        .scaled(),
        ResourceType::builtin(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            true,
            false,
            &["ev"],
        ),
        ResourceType::builtin(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            true,
            false,
            &[],
        ),
        ResourceType::builtin(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
            true,
            &["pdb"],
        ),
        ResourceType::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
            false,
            &[],
        ),
        ResourceType::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            false,
            &[],
        ),
        ResourceType::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            true,
            false,
            &[],
        ),
        ResourceType::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
            false,
            &[],
        ),
        ResourceType::builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            true,
            &["crd", "crds"],
        ),
    ]
}

/// The kinds a CustomResourceDefinition declares (one per served version).
pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let short_names: Vec<String> = names["shortNames"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    spec["versions"]
        .as_array()
        .map(|versions| {
            versions
                .iter()
                .filter(|v| v["served"].as_bool().unwrap_or(true))
                .map(|v| ResourceType {
                    group: text(&spec["group"]),
                    version: text(&v["name"]),
                    kind: text(&names["kind"]),
                    plural: text(&names["plural"]),
                    singular: names["singular"]
                        .as_str()
                        .map_or_else(|| text(&names["kind"]).to_lowercase(), String::from),
                    namespaced,
                    status_subresource: v["subresources"]["status"].is_object(),
                    short_names: short_names.clone(),
                    schema: v["schema"]
                        .get("openAPIV3Schema")
                        .cloned()
                        .map(std::sync::Arc::new),
                    printer_columns: v["additionalPrinterColumns"]
                        .as_array()
                        .map(|columns| {
                            columns
                                .iter()
                                .map(|c| PrinterColumn {
                                    name: text(&c["name"]),
                                    type_: text(&c["type"]),
                                    json_path: text(&c["jsonPath"]),
                                    description: text(&c["description"]),
                                    priority: c["priority"].as_i64().unwrap_or(0),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    scale: v["subresources"]["scale"]
                        .as_object()
                        .map(|scale| ScalePaths {
                            spec_replicas: text(&scale["specReplicasPath"]),
                            status_replicas: text(&scale["statusReplicasPath"]),
                            label_selector: scale["labelSelectorPath"].as_str().map(String::from),
                        }),
                })
                .collect()
        })
        .unwrap_or_default()
}
