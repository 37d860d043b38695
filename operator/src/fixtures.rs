//! Test fixtures: a small in-memory API server behind `tower_test::mock` (the controller-rs
//! `ApiServerVerifier` idea, made stateful so multi-step scenarios stay readable), and a scripted
//! [`BrokerAdmin`].
//!
//! Every request is logged (method, path, query, body) so tests assert the exact calls, their
//! order and their bodies; lists, applies, status patches, creates and deletes act on a map of
//! objects so later reconciles see what earlier ones wrote.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use crate::admin::BrokerAdmin;
use crate::error::{Error, Result};

/// One request the controller sent.
#[derive(Clone, Debug)]
pub struct Call {
    /// HTTP method.
    pub method: String,
    /// Resource plural (`statefulsets`, `events`, ...).
    pub resource: String,
    /// Object name, if any.
    pub name: Option<String>,
    /// `/status` subresource.
    pub status: bool,
    /// Raw query.
    pub query: String,
    /// JSON body (Null when none).
    pub body: Value,
}

impl Call {
    /// `METHOD resource[/name][/status]`, for compact order assertions.
    pub fn short(&self) -> String {
        let mut s = format!("{} {}", self.method, self.resource);
        if let Some(n) = &self.name {
            s.push('/');
            s.push_str(n);
        }
        if self.status {
            s.push_str("/status");
        }
        s
    }
}

/// State of the fake API server.
#[derive(Default, Debug)]
pub struct State {
    /// (resource, namespace, name) → object.
    pub objects: BTreeMap<(String, String, String), Value>,
    /// Every request, in order.
    pub log: Vec<Call>,
    /// Injected failures: requests whose `METHOD resource` starts with the prefix get a 500,
    /// as many times as the count says.
    pub fail: Vec<(String, u32)>,
}

impl State {
    /// An object.
    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(resource.to_string(), ns.to_string(), name.to_string()))
    }
    /// Inserts or replaces an object.
    pub fn put(&mut self, resource: &str, ns: &str, name: &str, v: Value) {
        self.objects
            .insert((resource.to_string(), ns.to_string(), name.to_string()), v);
    }
    /// Calls other than reads, as `METHOD resource/name`.
    pub fn writes(&self) -> Vec<String> {
        self.log
            .iter()
            .filter(|c| c.method != "GET")
            .map(Call::short)
            .collect()
    }
}

/// Starts the fake server; returns a client talking to it and its state.
pub fn fake_api() -> (kube::Client, Arc<Mutex<State>>) {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let state = Arc::new(Mutex::new(State::default()));
    let st = state.clone();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let (code, resp) = serve(
                &st,
                parts.method.as_str(),
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
                body,
            );
            let r = Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&resp).unwrap_or_default()))
                .unwrap();
            send.send_response(r);
        }
    });
    (kube::Client::new(svc, "default"), state)
}

fn labels_match(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        obj["metadata"]["labels"][k].as_str() == Some(v)
    })
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| {
            v.replace("%2C", ",")
                .replace("%3D", "=")
                .replace("%2F", "/")
        })
    })
}

fn not_found(name: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("{name} not found")}),
    )
}

fn serve(
    st: &Arc<Mutex<State>>,
    method: &str,
    path: &str,
    query: &str,
    body: Value,
) -> (StatusCode, Value) {
    let mut s = st.lock().unwrap();
    // /api/v1/namespaces/<ns>/<res>[/<name>[/status]] or /apis/<g>/<v>/namespaces/...
    // Cluster-scoped objects (StorageClasses) live under the namespace "".
    let cluster_scoped;
    let rest = match path.split_once("/namespaces/") {
        Some((_, rest)) => rest,
        None => {
            let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let skip = if segs.first() == Some(&"api") { 2 } else { 3 };
            cluster_scoped = format!("/{}", segs.get(skip..).unwrap_or_default().join("/"));
            &cluster_scoped
        }
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let ns = parts[0].to_string();
    let resource = parts.get(1).copied().unwrap_or("").to_string();
    let name = parts.get(2).map(|s| s.to_string());
    let status = parts.get(3) == Some(&"status");
    s.log.push(Call {
        method: method.to_string(),
        resource: resource.clone(),
        name: name.clone(),
        status,
        query: query.to_string(),
        body: body.clone(),
    });
    let short = format!("{method} {resource}");
    if let Some((_, n)) = s
        .fail
        .iter_mut()
        .find(|(prefix, n)| *n > 0 && short.starts_with(prefix.as_str()))
    {
        *n -= 1;
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "InternalError", "code": 500, "message": format!("injected failure of {short}")}),
        );
    }
    let key = |n: &str| (resource.clone(), ns.clone(), n.to_string());
    match (method, name) {
        ("GET", None) => {
            let sel = query_param(query, "labelSelector").unwrap_or_default();
            let items: Vec<Value> = s
                .objects
                .iter()
                .filter(|((r, n, _), o)| *r == resource && *n == ns && labels_match(o, &sel))
                .map(|(_, o)| o.clone())
                .collect();
            (
                StatusCode::OK,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        ("GET", Some(n)) => match s.objects.get(&key(&n)) {
            Some(o) => (StatusCode::OK, o.clone()),
            None => not_found(&n),
        },
        ("PATCH", Some(n)) => {
            let k = key(&n);
            let mut obj = s.objects.get(&k).cloned().unwrap_or_else(|| body.clone());
            if status {
                obj["status"] = body["status"].clone();
            } else {
                let old_status = obj.get("status").cloned();
                obj = body.clone();
                if let Some(st) = old_status {
                    obj["status"] = st;
                }
            }
            if obj["metadata"]["name"].is_null() {
                obj["metadata"]["name"] = json!(n);
            }
            s.objects.insert(k, obj.clone());
            (StatusCode::OK, obj)
        }
        ("POST", None) => {
            let n = body["metadata"]["name"]
                .as_str()
                .unwrap_or("generated")
                .to_string();
            s.objects.insert(key(&n), body.clone());
            (StatusCode::CREATED, body)
        }
        ("DELETE", Some(n)) => match s.objects.remove(&key(&n)) {
            Some(o) => (StatusCode::OK, o),
            None => not_found(&n),
        },
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"message": "unsupported"}),
        ),
    }
}

/// A scripted [`BrokerAdmin`] that records its calls.
#[derive(Default)]
pub struct FakeAdmin {
    /// Answer of `slaves_caught_up`.
    pub caught_up: Mutex<bool>,
    /// Answer of `is_drained`.
    pub drained: Mutex<bool>,
    /// Answer of `master_registered`.
    pub registered: Mutex<bool>,
    /// Calls, as text.
    pub calls: Mutex<Vec<String>>,
}

impl BrokerAdmin for FakeAdmin {
    fn slaves_caught_up<'a>(
        &'a self,
        master: &'a str,
        slaves: &'a [String],
    ) -> BoxFuture<'a, Result<bool>> {
        async move {
            self.calls
                .lock()
                .unwrap()
                .push(format!("caught_up {master} {}", slaves.join(",")));
            Ok(*self.caught_up.lock().unwrap())
        }
        .boxed()
    }
    fn copy_topics<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
        skip: &'a [String],
    ) -> BoxFuture<'a, Result<usize>> {
        async move {
            self.calls
                .lock()
                .unwrap()
                .push(format!("copy {from} {to} skip={}", skip.join(",")));
            Ok(3)
        }
        .boxed()
    }
    fn is_drained<'a>(&'a self, master: &'a str) -> BoxFuture<'a, Result<bool>> {
        async move {
            self.calls.lock().unwrap().push(format!("drained {master}"));
            if master.is_empty() {
                return Err(Error::Admin {
                    addr: master.to_string(),
                    message: "no address".into(),
                });
            }
            Ok(*self.drained.lock().unwrap())
        }
        .boxed()
    }
    fn master_registered<'a>(
        &'a self,
        namesrv: &'a str,
        _cluster: &'a str,
        broker_name: &'a str,
        _master_addr: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool>> {
        async move {
            self.calls
                .lock()
                .unwrap()
                .push(format!("registered {namesrv} {broker_name}"));
            Ok(*self.registered.lock().unwrap())
        }
        .boxed()
    }
}
