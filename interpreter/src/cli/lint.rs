//! `kulta lint FILE…`: check Rollouts offline as the API server and the controller would, and
//! say what is wrong in sentences that name the object and the field.
//!
//! Three checks, in order: the CRD's schema (generated from the Rust types, so the same one a
//! cluster enforces) with unknown fields *refused* rather than pruned — a misspelt
//! `trafficRouting` that the API server silently drops leaves a rollout that shifts no traffic
//! (argo-rollouts#4569) — then the same [`kulta::validate`] that `step` runs, then, when the
//! files also hold Services and HTTPRoutes, that the objects a Rollout names exist and fit.

use std::io::Write;
use std::path::PathBuf;

use kulta::Rollout;
use kulta::spec::{RolloutSpec, TrafficRouting};
use serde_json::Value as Json;
use serde_yaml_ng::Value;

use super::manifest::{self, Document, Who};
use super::{CliError, Outcome};

/// The API group of KULTA's Rollout.
pub const GROUP: &str = "kulta.io";
/// The one served version of it.
pub const API_VERSION: &str = "kulta.io/v1alpha1";

/// Lint every Rollout in `paths`; exit 1 when anything is wrong.
pub fn lint(paths: &[PathBuf], out: &mut impl Write) -> Result<Outcome, CliError> {
    let documents = manifest::read_all(paths)?;
    let findings = check(&documents);
    let mut rollouts = 0usize;
    let mut errors = 0usize;
    for finding in &findings {
        match &finding.problems {
            Ok(()) => {
                rollouts += 1;
                writeln!(out, "{}: {}: ok", finding.path.display(), finding.who)?;
            }
            Err(problems) => {
                rollouts += usize::from(finding.who.kind == "Rollout");
                for problem in problems {
                    errors += 1;
                    writeln!(
                        out,
                        "{}: {}: {problem}",
                        finding.path.display(),
                        finding.who
                    )?;
                }
            }
        }
    }
    if rollouts == 0 && errors == 0 {
        writeln!(out, "no kulta.io Rollout in the files")?;
        return Ok(Outcome::Found);
    }
    let noun = if rollouts == 1 { "Rollout" } else { "Rollouts" };
    if errors == 0 {
        writeln!(out, "{rollouts} {noun} checked, no problems")?;
        Ok(Outcome::Ok)
    } else {
        let problems = if errors == 1 { "problem" } else { "problems" };
        writeln!(out, "{rollouts} {noun} checked, {errors} {problems}")?;
        Ok(Outcome::Found)
    }
}

/// What was found about one object.
#[derive(Debug)]
pub struct Finding {
    /// The file.
    pub path: PathBuf,
    /// The object.
    pub who: Who,
    /// Nothing, or every problem (each a sentence starting with a field path).
    pub problems: Result<(), Vec<String>>,
}

/// Check every Rollout among `documents` (and refuse the peers' resources, which need
/// `kulta convert` first).
///
/// A Rollout's neighbours (the Services and HTTPRoutes it is cross-checked with) are those in
/// its own file and in the files given that hold no Rollout: `kulta lint rollout.yaml
/// services.yaml` checks one against the other, and `kulta lint examples/*.yaml` checks each
/// example on its own.
pub fn check(documents: &[Document]) -> Vec<Finding> {
    let with_rollouts: Vec<&PathBuf> = documents
        .iter()
        .filter(|document| document.is(GROUP, "Rollout"))
        .map(|document| &document.path)
        .collect();
    let mut findings = Vec::new();
    for document in documents {
        let problems = if document.is(GROUP, "Rollout") {
            let near: Vec<Document> = documents
                .iter()
                .filter(|other| {
                    other.path == document.path || !with_rollouts.contains(&&other.path)
                })
                .cloned()
                .collect();
            let world = Neighbours::of(&near);
            rollout(document).and_then(|rollout| {
                let problems = world.cross_check(&rollout);
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems)
                }
            })
        } else if document.is("argoproj.io", "Rollout") {
            Err(vec![
                "an Argo Rollouts Rollout; `kulta convert` turns it into a KULTA one".into(),
            ])
        } else if document.is("flagger.app", "Canary") {
            Err(vec![
                "a Flagger Canary; `kulta convert` turns it into a KULTA Rollout".into(),
            ])
        } else {
            continue;
        };
        findings.push(Finding {
            path: document.path.clone(),
            who: document.who(),
            problems,
        });
    }
    findings
}

/// Read one kulta.io Rollout document as the API server and `step` would: the schema
/// (unknown fields refused), then the typed spec, then [`kulta::validate`].
pub fn rollout(document: &Document) -> Result<Rollout, Vec<String>> {
    if document.api_version() != API_VERSION {
        return Err(vec![format!(
            "apiVersion: {:?} is not served; use {API_VERSION}",
            document.api_version()
        )]);
    }
    let mut object = serde_json::to_value(&document.value)
        .map_err(|error| vec![format!("cannot be read as JSON: {error}")])?;
    let schema = schema();
    let mut problems: Vec<String> = kulta_apisim::schema::unknown_fields(schema, &object)
        .iter()
        .map(|path| unknown_field(schema, path))
        .collect();
    if document.name().is_none_or(str::is_empty) {
        problems.push("metadata.name: required".into());
    }
    if let Err(errors) = kulta_apisim::schema::apply(schema, &mut object) {
        problems.extend(errors);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let rollout: Rollout = serde_path_to_error::deserialize(object).map_err(|error| {
        let path = error.path().to_string();
        vec![format!("{path}: {}", error.into_inner())]
    })?;
    kulta::validate(&rollout.spec).map_err(|error| vec![error.to_string()])?;
    Ok(rollout)
}

/// The Rollout CRD's `openAPIV3Schema`, as installed (generated once per process: the pod
/// template's part is large).
fn schema() -> &'static Json {
    static SCHEMA: std::sync::OnceLock<Json> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| {
        let crd = serde_json::to_value(crate::crd()).unwrap_or_default();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    })
}

/// `path: unknown field`, with the closest known field of the same object when one is close.
fn unknown_field(schema: &Json, path: &str) -> String {
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let known = parent_schema(schema, parent)
        .and_then(|node| node["properties"].as_object())
        .map(|properties| properties.keys().map(String::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    match did_you_mean(key, &known) {
        Some(candidate) => format!("{path}: unknown field; did you mean {candidate}?"),
        None => format!("{path}: unknown field"),
    }
}

/// The schema of the object at a dotted path such as `spec.strategy.canary.steps[0]`.
fn parent_schema<'a>(schema: &'a Json, path: &str) -> Option<&'a Json> {
    let mut node = schema;
    if path.is_empty() {
        return Some(node);
    }
    for segment in path.split('.') {
        let (name, indexes) = match segment.find('[') {
            Some(at) => (&segment[..at], segment[at..].matches('[').count()),
            None => (segment, 0),
        };
        node = node["properties"]
            .get(name)
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?;
        for _ in 0..indexes {
            node = node.get("items")?;
        }
    }
    Some(node)
}

/// The known name closest to `key`, if it is close enough to be a typo of it.
pub fn did_you_mean<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    known
        .iter()
        .map(|candidate| {
            (
                strsim::jaro_winkler(&key, &candidate.to_ascii_lowercase()),
                *candidate,
            )
        })
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// A Service in the files.
struct Service {
    namespace: Option<String>,
    name: String,
    ports: Vec<i64>,
}

/// One backendRef of an HTTPRoute in the files.
struct Backend {
    name: String,
    namespace: Option<String>,
    port: Option<i64>,
}

/// An HTTPRoute in the files.
struct Route {
    namespace: Option<String>,
    name: String,
    backends: Vec<Backend>,
}

/// The Services and HTTPRoutes that came with the Rollouts.
struct Neighbours {
    services: Vec<Service>,
    routes: Vec<Route>,
    /// Deployments by namespace and name, with their pod templates.
    deployments: Vec<(Option<String>, String, Value)>,
}

impl Neighbours {
    fn of(documents: &[Document]) -> Self {
        let mut services = Vec::new();
        let mut routes = Vec::new();
        let mut deployments = Vec::new();
        for document in documents {
            let (Some(name), namespace) = (document.name(), document.namespace()) else {
                continue;
            };
            let namespace = namespace.map(str::to_string);
            if document.is("apps", "Deployment") {
                let template = document.value["spec"]["template"].clone();
                deployments.push((namespace, name.to_string(), template));
            } else if document.is("", "Service") {
                let ports = document.value["spec"]["ports"]
                    .as_sequence()
                    .map(|ports| {
                        ports
                            .iter()
                            .filter_map(|port| port["port"].as_i64())
                            .collect()
                    })
                    .unwrap_or_default();
                services.push(Service {
                    namespace,
                    name: name.to_string(),
                    ports,
                });
            } else if document.is("gateway.networking.k8s.io", "HTTPRoute") {
                let rules = document.value["spec"]["rules"].as_sequence();
                let backends = rules
                    .into_iter()
                    .flatten()
                    .filter_map(|rule| rule["backendRefs"].as_sequence())
                    .flatten()
                    .filter_map(|backend| {
                        Some(Backend {
                            name: backend["name"].as_str()?.to_string(),
                            namespace: backend["namespace"].as_str().map(str::to_string),
                            port: backend["port"].as_i64(),
                        })
                    })
                    .collect();
                routes.push(Route {
                    namespace,
                    name: name.to_string(),
                    backends,
                });
            }
        }
        Neighbours {
            services,
            routes,
            deployments,
        }
    }

    /// With Deployments in the files: the one `workloadRef` names is there, and its pod
    /// template passes the checks the Rollout's own would (containers, selector).
    fn workload_problem(
        &self,
        rollout: &Rollout,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<String> {
        let field = "spec.workloadRef";
        let Some((_, _, template)) = self
            .deployments
            .iter()
            .find(|(ns, found, _)| ns.as_deref() == namespace && found == name)
        else {
            return Some(format!(
                "{field}: Deployment {} is not in the files",
                qualified(namespace, name)
            ));
        };
        let mut spec = rollout.spec.clone();
        spec.workload_ref = None;
        spec.template = match serde_yaml_ng::from_value(template.clone()) {
            Ok(template) => template,
            Err(error) => {
                return Some(format!(
                    "{field}: Deployment {name}: spec.template: {error}"
                ));
            }
        };
        kulta::validate(&spec)
            .err()
            .map(|error| format!("{field}: Deployment {name}: {error}"))
    }

    /// With Services (or HTTPRoutes) in the files: the ones the Rollout names are there, the
    /// route has backendRefs for the stable and canary Services, and their ports are ports of
    /// those Services.
    fn cross_check(&self, rollout: &Rollout) -> Vec<String> {
        let namespace = rollout.metadata.namespace.as_deref();
        let mut problems = Vec::new();
        if let (Some(reference), false) = (&rollout.spec.workload_ref, self.deployments.is_empty())
        {
            problems.extend(self.workload_problem(rollout, namespace, &reference.name));
        }
        if !self.services.is_empty() {
            for (field, name) in named_services(&rollout.spec) {
                if self.service(namespace, name).is_none() {
                    problems.push(format!(
                        "{field}: Service {} is not in the files",
                        qualified(namespace, name)
                    ));
                }
            }
        }
        let routing = rollout
            .spec
            .strategy
            .canary
            .as_ref()
            .and_then(|canary| Some((canary, canary.traffic_routing.as_ref()?)));
        if let (Some((canary, routing)), false) = (routing, self.routes.is_empty()) {
            let field = "spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute";
            let route_namespace = route_namespace(routing, namespace);
            let route = self.routes.iter().find(|route| {
                route.name == routing.gateway_api.http_route
                    && route.namespace.as_deref() == route_namespace
            });
            let Some(route) = route else {
                problems.push(format!(
                    "{field}: HTTPRoute {} is not in the files",
                    qualified(route_namespace, &routing.gateway_api.http_route)
                ));
                return problems;
            };
            let roles = [
                ("stable", canary.stable_service.as_deref()),
                ("canary", canary.canary_service.as_deref()),
            ];
            for (role, service) in roles {
                let Some(service) = service else { continue };
                let backends: Vec<&Backend> = route
                    .backends
                    .iter()
                    .filter(|backend| {
                        backend.name == service
                            && backend.namespace.as_deref().or(route.namespace.as_deref())
                                == namespace
                    })
                    .collect();
                if backends.is_empty() {
                    problems.push(format!(
                        "{field}: HTTPRoute {} has no backendRef naming the {role} Service {service}",
                        qualified(route.namespace.as_deref(), &route.name)
                    ));
                    continue;
                }
                let Some(found) = self.service(namespace, service) else {
                    continue;
                };
                for backend in backends {
                    if let Some(port) = backend.port
                        && !found.ports.contains(&port)
                    {
                        let ports: Vec<String> = found.ports.iter().map(i64::to_string).collect();
                        problems.push(format!(
                            "{field}: HTTPRoute {} sends the {role} Service's traffic to port {port}, which Service {} does not have (it has {})",
                            qualified(route.namespace.as_deref(), &route.name),
                            qualified(namespace, service),
                            if ports.is_empty() { "none".to_string() } else { ports.join(", ") }
                        ));
                    }
                }
            }
        }
        problems
    }

    fn service(&self, namespace: Option<&str>, name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|service| service.name == name && service.namespace.as_deref() == namespace)
    }
}

fn route_namespace<'a>(routing: &'a TrafficRouting, rollout: Option<&'a str>) -> Option<&'a str> {
    routing.gateway_api.namespace.as_deref().or(rollout)
}

/// `namespace/name`, or `name` when the object names no namespace.
fn qualified(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_string(),
    }
}

/// The Services a spec names, with the field that names each.
fn named_services(spec: &RolloutSpec) -> Vec<(&'static str, &str)> {
    let mut named = Vec::new();
    if let Some(canary) = &spec.strategy.canary {
        named.extend(
            canary
                .stable_service
                .as_deref()
                .map(|name| ("spec.strategy.canary.stableService", name)),
        );
        named.extend(
            canary
                .canary_service
                .as_deref()
                .map(|name| ("spec.strategy.canary.canaryService", name)),
        );
    }
    if let Some(blue_green) = &spec.strategy.blue_green {
        named.push((
            "spec.strategy.blueGreen.activeService",
            blue_green.active_service.as_str(),
        ));
        named.extend(
            blue_green
                .preview_service
                .as_deref()
                .map(|name| ("spec.strategy.blueGreen.previewService", name)),
        );
    }
    named
}
