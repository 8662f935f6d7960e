//! The HTTP side: Kubernetes API paths, verbs, patch types, discovery and watch streams.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::wrappers::ReceiverStream;

use crate::error::ApiError;
use crate::faults::{Fault, Faults, Verb};
use crate::requests::{Request as Logged, Requests};
use crate::resource::ResourceType;
use crate::selector::Selector;
use crate::store::{Event, Store};

/// The largest request body accepted, as a real API server (3 MiB).
pub const MAX_BODY: usize = 3 << 20;

pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// Shared state of a running simulator.
#[derive(Clone)]
pub struct Shared {
    /// The objects.
    pub store: Arc<Mutex<Store>>,
    /// `host:port` the server listens on.
    pub address: String,
    /// Injected faults and request counts.
    pub faults: Arc<Mutex<Faults>>,
    /// Bumped to end every open watch stream.
    pub cuts: Arc<tokio::sync::watch::Sender<u64>>,
    /// The request log and counts of the control endpoint.
    pub requests: Arc<Mutex<Requests>>,
}

impl Shared {
    fn lock(&self) -> Result<MutexGuard<'_, Store>, ApiError> {
        self.store
            .lock()
            .map_err(|_| ApiError::internal("store lock poisoned"))
    }
}

/// Answer one request.
pub async fn handle(
    shared: Shared,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let arrived = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = parse_query(request.uri().query());
    let accept = request
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let agent = request
        .headers()
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|agent| agent.split('/').next())
        .filter(|agent| !agent.is_empty())
        .unwrap_or("unknown")
        .to_string();
    let content_type = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    // Objects are served as JSON only; protobuf bodies are refused as a server without
    // protobuf support would refuse them.
    if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        return Ok(error_response(&ApiError::unsupported_media_type(
            &content_type,
        )));
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(error_response(&ApiError::too_large(MAX_BODY))),
    };
    if let Some(rest) = path.strip_prefix(crate::control::PREFIX) {
        return Ok(crate::control::handle(
            &shared, &method, rest, &query, &body,
        ));
    }
    let field_manager = query.get("fieldManager").cloned();
    let client = agent.clone();
    let headers = Headers {
        content_type: &content_type,
        table: crate::table::wanted(&accept),
        accept,
        manager: query
            .get("fieldManager")
            .filter(|m| !m.is_empty())
            .cloned()
            .unwrap_or(agent),
    };
    let mut seen = Seen::default();
    let response = route(&shared, &method, &path, &query, &headers, &body, &mut seen).await;
    let response = response.unwrap_or_else(|error| error_response(&error));
    let code = response.status().as_u16();
    if let Ok(mut faults) = shared.faults.lock() {
        faults.count(seen.verb, &seen.resource, code);
    }
    if let Ok(mut requests) = shared.requests.lock() {
        requests.note(Logged {
            seq: 0,
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            verb: seen.verb,
            resource: seen.resource,
            namespace: seen.namespace,
            name: seen.name,
            subresource: seen.subresource,
            field_manager,
            agent: client,
            code,
            injected: seen.injected,
            millis: arrived.elapsed().as_secs_f64() * 1000.0,
        });
    }
    Ok(response)
}

/// What a request turned out to be, for faults, counts and the request log.
struct Seen {
    verb: Verb,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
    injected: bool,
}

impl Default for Seen {
    /// Until a path names a resource: a discovery read.
    fn default() -> Self {
        Seen {
            verb: Verb::Get,
            resource: "discovery".into(),
            namespace: None,
            name: None,
            subresource: None,
            injected: false,
        }
    }
}

/// What the request does, for faults and accounting.
fn verb_of(method: &Method, named: bool, watch: bool) -> Verb {
    match (method, named) {
        (&Method::GET, true) => Verb::Get,
        (&Method::GET, false) if watch => Verb::Watch,
        (&Method::GET, false) => Verb::List,
        (&Method::POST, _) => Verb::Create,
        (&Method::PUT, _) => Verb::Update,
        (&Method::PATCH, _) => Verb::Patch,
        _ => Verb::Delete,
    }
}

fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

pub(crate) fn json_response(code: StatusCode, value: &Value) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = json_typed(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = code;
    response
}

/// A response with this body, typed as JSON (every answer of this server is).
fn json_typed(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error_response(error: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &error.to_status())
}

/// What the request headers ask for.
struct Headers<'a> {
    content_type: &'a str,
    /// What the client accepts in answer.
    accept: String,
    /// `kubectl get` wants a server-printed Table.
    table: bool,
    /// The field manager of a write: `fieldManager`, else the client's name.
    manager: String,
}

/// A resource path, once parsed.
struct Target {
    rt: ResourceType,
    /// Where its objects are kept: `rt` itself, except for the core/v1 view of Events.
    storage: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
    /// The `/scale` subresource.
    scale: bool,
}

impl Target {
    /// A stored object as this path shows it.
    fn shown(&self, stored: Value) -> Value {
        if self.rt.is_core_event() {
            crate::events::to_core(&stored)
        } else {
            stored
        }
    }

    /// An object sent to this path as it is stored.
    fn stored(&self, sent: Value) -> Value {
        if self.rt.is_core_event() {
            crate::events::from_core(&sent)
        } else {
            sent
        }
    }
}

async fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    headers: &Headers<'_>,
    body: &Bytes,
    seen: &mut Seen,
) -> Result<Response<Body>, ApiError> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => return Ok(json_response(StatusCode::OK, &version())),
        ["openapi", "v2"] => return Ok(crate::openapi::v2(&headers.accept)),
        ["openapi", "v3"] => {
            let root = crate::openapi::root(shared.lock()?.types());
            return Ok(json_response(StatusCode::OK, &root));
        }
        ["openapi", "v3", "api", version] => {
            let document = crate::openapi::group_version(shared.lock()?.types(), "", version);
            return document
                .map(|document| json_response(StatusCode::OK, &document))
                .ok_or_else(|| ApiError::no_route(path));
        }
        ["openapi", "v3", "apis", group, version] => {
            let document = crate::openapi::group_version(shared.lock()?.types(), group, version);
            return document
                .map(|document| json_response(StatusCode::OK, &document))
                .ok_or_else(|| ApiError::no_route(path));
        }
        ["api"] => {
            return Ok(json_response(
                StatusCode::OK,
                &json!({
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.address}],
                }),
            ));
        }
        ["apis"] => {
            let listed = group_list(&*shared.lock()?);
            return Ok(json_response(StatusCode::OK, &listed));
        }
        ["api", "v1"] => {
            let listed = resource_list(&*shared.lock()?, "", "v1");
            return Ok(json_response(StatusCode::OK, &listed));
        }
        ["apis", group, version] => {
            let store = shared.lock()?;
            let served = store
                .types()
                .iter()
                .any(|t| t.group == *group && t.version == *version);
            if !served {
                return Err(ApiError::no_route(path));
            }
            return Ok(json_response(
                StatusCode::OK,
                &resource_list(&store, group, version),
            ));
        }
        _ => {}
    }
    let (group, version, rest): (&str, &str, &[&str]) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (group, version, rest),
        _ => return Err(ApiError::no_route(path)),
    };
    let target = {
        let store = shared.lock()?;
        let find = |plural: &str| {
            store
                .resource(group, version, plural)
                .ok_or_else(|| ApiError::no_route(path))
        };
        let (namespace, plural, name, subresource) = match rest {
            ["namespaces", ns, plural] if *plural != "status" => (Some(*ns), *plural, None, None),
            ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), None),
            ["namespaces", ns, plural, name, sub] => (Some(*ns), *plural, Some(*name), Some(*sub)),
            [plural] => (None, *plural, None, None),
            [plural, name] => (None, *plural, Some(*name), None),
            [plural, name, sub] => (None, *plural, Some(*name), Some(*sub)),
            _ => return Err(ApiError::no_route(path)),
        };
        let rt = find(plural)?;
        let (status, scale) = match subresource {
            None => (false, false),
            Some("status") if rt.status_subresource => (true, false),
            Some("scale") if rt.scale.is_some() => (false, true),
            Some(_) => return Err(ApiError::no_route(path)),
        };
        let storage = if rt.is_core_event() {
            store
                .resource("events.k8s.io", "v1", "events")
                .ok_or_else(|| ApiError::no_route(path))?
        } else {
            rt.clone()
        };
        if namespace.is_some() && !rt.namespaced {
            return Err(ApiError::no_route(path));
        }
        Target {
            rt,
            storage,
            namespace: namespace.map(String::from),
            name: name.map(String::from),
            status,
            scale,
        }
    };
    let namespace = target.namespace.clone().unwrap_or_default();
    let verb = verb_of(method, target.name.is_some(), is_true(query.get("watch")));
    *seen = Seen {
        verb,
        resource: target.rt.plural.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        subresource: match (target.status, target.scale) {
            (true, _) => Some("status".into()),
            (_, true) => Some("scale".into()),
            _ => None,
        },
        injected: false,
    };
    let fault = shared
        .faults
        .lock()
        .map_err(|_| ApiError::internal("fault table lock poisoned"))?
        .decide(verb, &target.rt.plural);
    seen.injected = fault.is_some();
    match fault {
        Some(Fault::Fail(code)) => return Err(ApiError::injected(code)),
        Some(Fault::Timeout(wait)) => {
            tokio::time::sleep(wait).await;
            return Err(ApiError::injected(504));
        }
        Some(Fault::Latency(wait)) => tokio::time::sleep(wait).await,
        None => {}
    }
    match (method, &target.name) {
        (&Method::GET, None) if is_true(query.get("watch")) => {
            watch(shared, &target, query, headers.table)
        }
        (&Method::GET, None) => list(shared, &target, query, headers.table),
        (&Method::GET, Some(name)) => {
            let store = shared.lock()?;
            let stored = store.get(&target.storage, &namespace, name)?;
            let object = if target.scale {
                crate::scale::scale_of(&target.rt, &stored)?
            } else {
                target.shown(stored)
            };
            if headers.table && !target.scale {
                let rv = store.resource_version();
                let printed = crate::table::table(&target.rt, &[&object], rv);
                return Ok(json_response(StatusCode::OK, &printed));
            }
            Ok(json_response(StatusCode::OK, &object))
        }
        (&Method::POST, None)
        | (&Method::PUT, Some(_))
        | (&Method::PATCH, Some(_))
        | (&Method::DELETE, Some(_)) => {
            let mut options = crate::fields::WriteOptions::parse(query)?;
            // A delete may carry its options as a `DeleteOptions` body instead.
            if *method == Method::DELETE && !body.is_empty() {
                let sent = parse_json(body)?;
                match sent["dryRun"].as_array().map(Vec::as_slice) {
                    None | Some([]) => {}
                    Some([only]) if only == "All" => options.dry_run = true,
                    Some(other) => {
                        return Err(ApiError::bad_request(format!(
                            "Invalid value: {}: supported values: \"All\"",
                            Value::from(other.to_vec())
                        )));
                    }
                }
            }
            let mut warnings = Vec::new();
            let (code, object) = {
                let mut live = shared.lock()?;
                let mut scratch;
                let store: &mut Store = if options.dry_run {
                    scratch = live.scratch();
                    &mut scratch
                } else {
                    &mut live
                };
                let write = Write {
                    target: &target,
                    method,
                    query,
                    headers,
                    body,
                    fields: options.fields,
                };
                write.run(store, &mut warnings)?
            };
            let mut response = json_response(code, &object);
            for warning in warnings {
                let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
                if let Ok(value) =
                    hyper::header::HeaderValue::from_str(&format!("299 - \"{escaped}\""))
                {
                    response.headers_mut().append("warning", value);
                }
            }
            Ok(response)
        }
        _ => Err(ApiError::method_not_allowed(method.as_str())),
    }
}

/// One write request: create, replace, patch or delete, on the store it is given (the live
/// one, or a scratch copy for a dry run).
struct Write<'a> {
    target: &'a Target,
    method: &'a Method,
    query: &'a BTreeMap<String, String>,
    headers: &'a Headers<'a>,
    body: &'a Bytes,
    fields: crate::fields::FieldValidation,
}

impl Write<'_> {
    fn run(
        &self,
        store: &mut Store,
        warnings: &mut Vec<String>,
    ) -> Result<(StatusCode, Value), ApiError> {
        let target = self.target;
        let namespace = target.namespace.clone().unwrap_or_default();
        let storage = &target.storage;
        match (self.method, &target.name) {
            (&Method::POST, None) => {
                let object = parse_json(self.body)?;
                crate::fields::check(&target.rt, &object, self.fields, warnings)?;
                let created = store.create(storage, &namespace, target.stored(object))?;
                let name = created["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                store.note_writer(
                    storage,
                    &namespace,
                    &name,
                    &self.headers.manager,
                    None,
                    &created,
                );
                Ok((StatusCode::CREATED, target.shown(created)))
            }
            (&Method::PUT, Some(name)) => {
                let sent = parse_json(self.body)?;
                crate::fields::check(&target.rt, &sent, self.fields, warnings)?;
                let current = if target.scale {
                    store.get(storage, &namespace, name)
                } else {
                    Err(ApiError::internal("not read: the whole object is replaced"))
                };
                self.replace(store, name, current, sent)
            }
            (&Method::PATCH, Some(name)) => self.patch(store, name, warnings),
            (&Method::DELETE, Some(name)) => {
                let deleted = store.delete(storage, &namespace, name)?;
                Ok((StatusCode::OK, target.shown(deleted)))
            }
            _ => Err(ApiError::method_not_allowed(self.method.as_str())),
        }
    }

    /// A stored object as the request's path answers it (a Scale for `/scale`).
    fn answer(&self, stored: Value) -> Result<Value, ApiError> {
        if self.target.scale {
            crate::scale::scale_of(&self.target.rt, &stored)
        } else {
            Ok(self.target.shown(stored))
        }
    }

    fn patch(
        &self,
        store: &mut Store,
        name: &str,
        warnings: &mut Vec<String>,
    ) -> Result<(StatusCode, Value), ApiError> {
        let target = self.target;
        let storage = &target.storage;
        let namespace = target.namespace.clone().unwrap_or_default();
        let body = self.body;
        let media = self
            .headers
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        let current = store.get(storage, &namespace, name);
        // What the patch applies to: the object as this path shows it.
        let shown =
            |current: Result<Value, ApiError>| -> Result<Value, ApiError> { self.answer(current?) };
        let patched = match media {
            "application/merge-patch+json" => {
                let mut object = shown(current.clone())?;
                json_patch::merge(&mut object, &parse_json(body)?);
                object
            }
            "application/strategic-merge-patch+json" => {
                if target.rt.schema.is_some() {
                    // As the API server answers for custom resources.
                    return Err(ApiError::unsupported_media_type(media));
                }
                let mut object = shown(current.clone())?;
                crate::strategic::apply(&target.rt.kind, &mut object, &parse_json(body)?);
                object
            }
            "application/json-patch+json" => {
                let mut object = shown(current.clone())?;
                let operations: json_patch::Patch =
                    serde_json::from_slice(body).map_err(|error| {
                        ApiError::bad_request(format!("invalid JSON patch: {error}"))
                    })?;
                json_patch::patch(&mut object, &operations).map_err(|error| {
                    ApiError::invalid(
                        &target.rt.plural,
                        name,
                        format!("the patch could not be applied: {error}"),
                    )
                })?;
                object
            }
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                if self.query.get("fieldManager").is_none_or(|m| m.is_empty()) {
                    return Err(ApiError::bad_request(
                        "PATCH requests with apply content type require fieldManager",
                    ));
                }
                let config: Value = serde_yaml_ng::from_slice(body).map_err(|error| {
                    ApiError::bad_request(format!(
                        "the apply configuration is not valid YAML: {error}"
                    ))
                })?;
                crate::fields::check(&target.rt, &config, self.fields, warnings)?;
                if target.scale {
                    let mut object = shown(current.clone())?;
                    json_patch::merge(&mut object, &config);
                    object
                } else {
                    let how = crate::store::ApplyOptions {
                        manager: &self.headers.manager,
                        force: is_true(self.query.get("force")),
                        status_only: target.status,
                    };
                    let (object, created) =
                        store.apply(storage, &namespace, name, target.stored(config), &how)?;
                    let code = if created {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    };
                    return Ok((code, target.shown(object)));
                }
            }
            other => return Err(ApiError::unsupported_media_type(other)),
        };
        if !media.starts_with("application/apply-patch") {
            crate::fields::check(&target.rt, &patched, self.fields, warnings)?;
        }
        self.replace(store, name, current, patched)
    }

    /// Store `sent` as the object `name` (through its `/scale` view, from `current`, when the
    /// request is on the scale subresource) and answer with what was stored.
    fn replace(
        &self,
        store: &mut Store,
        name: &str,
        current: Result<Value, ApiError>,
        sent: Value,
    ) -> Result<(StatusCode, Value), ApiError> {
        let target = &self.target;
        let namespace = target.namespace.clone().unwrap_or_default();
        let object = if target.scale {
            crate::scale::scaled(&target.rt, current?, &sent)?
        } else {
            target.stored(sent)
        };
        let updated = store.update_by(
            &target.storage,
            &namespace,
            name,
            object,
            target.status,
            &self.headers.manager,
        )?;
        Ok((StatusCode::OK, self.answer(updated)?))
    }
}

fn is_true(value: Option<&String>) -> bool {
    matches!(value.map(String::as_str), Some("true" | "1"))
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "the body of the request is not valid JSON: {error}"
        ))
    })
}

/// The label and field selectors a list or watch carries.
fn selector(query: &BTreeMap<String, String>) -> Result<Selector, ApiError> {
    Selector::parse(
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    )
}

fn list(
    shared: &Shared,
    target: &Target,
    query: &BTreeMap<String, String>,
    table: bool,
) -> Result<Response<Body>, ApiError> {
    let selector = selector(query)?;
    let limit = match query.get("limit") {
        Some(limit) => Some(
            limit
                .parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {limit:?}")))?,
        )
        .filter(|l| *l > 0),
        None => None,
    };
    let core_events = target.rt.is_core_event();
    let selector = if core_events {
        selector.for_stored_events()
    } else {
        selector
    };
    let mut page = shared.lock()?.list(
        &target.storage,
        target.namespace.as_deref(),
        &selector,
        limit,
        query.get("continue").map(String::as_str),
    )?;
    if core_events {
        page.items = page
            .items
            .iter()
            .map(|item| std::sync::Arc::new(crate::events::to_core(item)))
            .collect();
    }
    if table {
        let items: Vec<&Value> = page.items.iter().map(|item| &**item).collect();
        let printed = crate::table::table(&target.rt, &items, page.resource_version);
        return Ok(json_response(StatusCode::OK, &printed));
    }
    let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(token) = page.continue_token {
        metadata["continue"] = token.into();
        metadata["remainingItemCount"] = page.remaining.into();
    }
    // Written straight from the stored objects: a list of thousands is not copied first.
    let head = json!({
        "apiVersion": target.rt.api_version(),
        "kind": format!("{}List", target.rt.kind),
        "metadata": metadata,
    });
    let mut body = serde_json::to_vec(&head).map_err(|e| ApiError::internal(e.to_string()))?;
    body.pop();
    body.extend_from_slice(b",\"items\":[");
    for (index, item) in page.items.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &**item).map_err(|e| ApiError::internal(e.to_string()))?;
    }
    body.extend_from_slice(b"]}");
    Ok(json_typed(Full::new(Bytes::from(body)).boxed()))
}

fn watch(
    shared: &Shared,
    target: &Target,
    query: &BTreeMap<String, String>,
    table: bool,
) -> Result<Response<Body>, ApiError> {
    let selector = selector(query)?;
    let from = match query.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => 0,
        Some(rv) => rv
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
    };
    let bookmarks = is_true(query.get("allowWatchBookmarks"));
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let rt = target.storage.clone();
    let core_events = target.rt.is_core_event();
    let selector = if core_events {
        selector.for_stored_events()
    } else {
        selector
    };
    let namespace = target.namespace.clone();
    let subscription = shared.lock()?.subscribe(&rt, from, namespace.as_deref());
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(256);
    let mut subscription = match subscription {
        Ok(subscription) => subscription,
        Err(error) => {
            // A watch from a compacted version is answered as the API does: an ERROR event.
            let line = watch_line("ERROR", &error.to_status());
            tokio::spawn(async move {
                let _ = sender.send(Ok(Frame::data(line))).await;
            });
            return Ok(stream_response(receiver));
        }
    };
    let wanted = move |event: &Event| {
        event.group == rt.group
            && event.plural == rt.plural
            && namespace.as_ref().is_none_or(|ns| &event.namespace == ns)
            && selector.matches(&event.object)
    };
    let kind = target.rt.kind.clone();
    let api_version = target.rt.api_version();
    let mut cut = shared.cuts.subscribe();
    let printed_as = target.rt.clone();
    // Watches from `kubectl get --watch` receive each object as a one-row Table.
    let line = move |event: &Event| {
        let converted;
        let object: &Value = if core_events {
            converted = crate::events::to_core(&event.object);
            &converted
        } else {
            &event.object
        };
        if table {
            let printed = crate::table::table(&printed_as, &[object], event.resource_version);
            watch_line(event.kind.as_str(), &printed)
        } else {
            watch_line(event.kind.as_str(), object)
        }
    };
    tokio::spawn(async move {
        let mut last = subscription.resource_version;
        for event in subscription.backlog.iter().filter(|e| wanted(e)) {
            last = last.max(event.resource_version);
            if sender.send(Ok(Frame::data(line(event)))).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = cut.changed() => return,
                _ = ticker.tick(), if bookmarks => {
                    let bookmark = json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": last.to_string()}});
                    if sender.send(Ok(Frame::data(watch_line("BOOKMARK", &bookmark)))).await.is_err() {
                        return;
                    }
                }
                received = subscription.live.recv() => match received {
                    Ok(event) => {
                        if event.resource_version <= last {
                            continue;
                        }
                        last = event.resource_version;
                        if wanted(&event)
                            && sender.send(Ok(Frame::data(line(&event)))).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let gone = ApiError::gone("the watch fell too far behind; too old resource version");
                        let _ = sender.send(Ok(Frame::data(watch_line("ERROR", &gone.to_status())))).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
    Ok(stream_response(receiver))
}

fn watch_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn stream_response(
    receiver: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, Infallible>>,
) -> Response<Body> {
    let body = StreamBody::new(ReceiverStream::new(receiver));
    json_typed(BodyExt::boxed(body))
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "34",
        "gitVersion": "v1.34.0-kulta-apisim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn group_list(store: &Store) -> Value {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for rt in store.types().iter().filter(|t| !t.group.is_empty()) {
        let versions = groups.entry(rt.group.as_str()).or_default();
        if !versions.contains(&rt.version.as_str()) {
            versions.push(rt.version.as_str());
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(name, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
                .collect();
            json!({"name": name, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(store: &Store, group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for rt in store
        .types()
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        resources.push(json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            "shortNames": rt.short_names,
        }));
        if rt.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if rt.scale.is_some() {
            resources.push(json!({
                "name": format!("{}/scale", rt.plural),
                "singularName": "",
                "namespaced": rt.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}
