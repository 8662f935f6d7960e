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
use crate::resource::ResourceType;
use crate::selector::Selector;
use crate::store::{Event, Store};

/// The largest request body accepted, as a real API server (3 MiB).
pub const MAX_BODY: usize = 3 << 20;

type Body = BoxBody<Bytes, Infallible>;

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
    let headers = Headers {
        content_type: &content_type,
        table: crate::table::wanted(&accept),
        manager: query
            .get("fieldManager")
            .filter(|m| !m.is_empty())
            .cloned()
            .unwrap_or(agent),
    };
    let mut label = (Verb::Get, "discovery".to_string());
    let response = route(&shared, &method, &path, &query, &headers, &body, &mut label).await;
    let response = response.unwrap_or_else(|error| error_response(&error));
    if let Ok(mut faults) = shared.faults.lock() {
        faults.count(label.0, &label.1, response.status().as_u16());
    }
    Ok(response)
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

fn json_response(code: StatusCode, value: &Value) -> Response<Body> {
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
    /// `kubectl get` wants a server-printed Table.
    table: bool,
    /// The field manager of a write: `fieldManager`, else the client's name.
    manager: String,
}

/// A resource path, once parsed.
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

async fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    headers: &Headers<'_>,
    body: &Bytes,
    label: &mut (Verb, String),
) -> Result<Response<Body>, ApiError> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => return Ok(json_response(StatusCode::OK, &version())),
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
        let (namespace, plural, name, status) = match rest {
            ["namespaces", ns, plural] if *plural != "status" => (Some(*ns), *plural, None, false),
            ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), false),
            ["namespaces", ns, plural, name, "status"] => (Some(*ns), *plural, Some(*name), true),
            [plural] => (None, *plural, None, false),
            [plural, name] => (None, *plural, Some(*name), false),
            [plural, name, "status"] => (None, *plural, Some(*name), true),
            _ => return Err(ApiError::no_route(path)),
        };
        let rt = find(plural)?;
        if status && !rt.status_subresource {
            return Err(ApiError::no_route(path));
        }
        if namespace.is_some() && !rt.namespaced {
            return Err(ApiError::no_route(path));
        }
        Target {
            rt,
            namespace: namespace.map(String::from),
            name: name.map(String::from),
            status,
        }
    };
    let namespace = target.namespace.clone().unwrap_or_default();
    let verb = verb_of(method, target.name.is_some(), is_true(query.get("watch")));
    *label = (verb, target.rt.plural.clone());
    let fault = shared
        .faults
        .lock()
        .map_err(|_| ApiError::internal("fault table lock poisoned"))?
        .decide(verb, &target.rt.plural);
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
            let object = store.get(&target.rt, &namespace, name)?;
            if headers.table {
                let rv = store.resource_version();
                let printed = crate::table::table(&target.rt, &[&object], rv);
                return Ok(json_response(StatusCode::OK, &printed));
            }
            Ok(json_response(StatusCode::OK, &object))
        }
        (&Method::POST, None) => {
            let object = parse_json(body)?;
            let mut store = shared.lock()?;
            let created = store.create(&target.rt, &namespace, object)?;
            let name = created["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            store.note_writer(
                &target.rt,
                &namespace,
                &name,
                &headers.manager,
                None,
                &created,
            );
            Ok(json_response(StatusCode::CREATED, &created))
        }
        (&Method::PUT, Some(name)) => {
            let object = parse_json(body)?;
            let updated = shared.lock()?.update_by(
                &target.rt,
                &namespace,
                name,
                object,
                target.status,
                &headers.manager,
            )?;
            Ok(json_response(StatusCode::OK, &updated))
        }
        (&Method::PATCH, Some(name)) => patch(shared, &target, name, query, headers, body),
        (&Method::DELETE, Some(name)) => {
            let deleted = shared.lock()?.delete(&target.rt, &namespace, name)?;
            Ok(json_response(StatusCode::OK, &deleted))
        }
        _ => Err(ApiError::method_not_allowed(method.as_str())),
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
    let page = shared.lock()?.list(
        &target.rt,
        target.namespace.as_deref(),
        &selector,
        limit,
        query.get("continue").map(String::as_str),
    )?;
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

fn patch(
    shared: &Shared,
    target: &Target,
    name: &str,
    query: &BTreeMap<String, String>,
    headers: &Headers<'_>,
    body: &Bytes,
) -> Result<Response<Body>, ApiError> {
    let namespace = target.namespace.clone().unwrap_or_default();
    let media = headers
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let mut store = shared.lock()?;
    let current = store.get(&target.rt, &namespace, name);
    let patched = match media {
        "application/merge-patch+json" => {
            let mut object = current?;
            json_patch::merge(&mut object, &parse_json(body)?);
            object
        }
        "application/strategic-merge-patch+json" => {
            if target.rt.schema.is_some() {
                // As the API server answers for custom resources.
                return Err(ApiError::unsupported_media_type(media));
            }
            let mut object = current?;
            crate::strategic::apply(&target.rt.kind, &mut object, &parse_json(body)?);
            object
        }
        "application/json-patch+json" => {
            let mut object = current?;
            let operations: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|error| ApiError::bad_request(format!("invalid JSON patch: {error}")))?;
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
            if query.get("fieldManager").is_none_or(|m| m.is_empty()) {
                return Err(ApiError::bad_request(
                    "PATCH requests with apply content type require fieldManager",
                ));
            }
            let config: Value = serde_yaml_ng::from_slice(body).map_err(|error| {
                ApiError::bad_request(format!(
                    "the apply configuration is not valid YAML: {error}"
                ))
            })?;
            let how = crate::store::ApplyOptions {
                manager: &headers.manager,
                force: is_true(query.get("force")),
                status_only: target.status,
            };
            let (object, created) = store.apply(&target.rt, &namespace, name, config, &how)?;
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            return Ok(json_response(code, &object));
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    let updated = store.update_by(
        &target.rt,
        &namespace,
        name,
        patched,
        target.status,
        &headers.manager,
    )?;
    Ok(json_response(StatusCode::OK, &updated))
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
    let rt = target.rt.clone();
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
        if table {
            let printed =
                crate::table::table(&printed_as, &[&*event.object], event.resource_version);
            watch_line(event.kind.as_str(), &printed)
        } else {
            watch_line(event.kind.as_str(), &event.object)
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
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}
