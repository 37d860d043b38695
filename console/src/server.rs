//! The HTTP side: accepts connections on a listener it is given, routes each request to an
//! asset or an [`Api`] call, checks [`Auth`] for state changes (and logs every one of them),
//! and runs the sampler that fills the charts' [`History`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::api::{Api, ResendRequest, ResetRequest, SAMPLE_TIMEOUT, TestMessage, TopicUpdate};
use crate::assets;
use crate::auth::Auth;
use crate::error::{ConsoleError, Result};
use crate::history::History;

/// Largest request body accepted (a test message's text is the largest thing posted).
pub const MAX_BODY: usize = 1 << 20;

/// How a console runs.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Name servers, `host:port` separated by `;`.
    pub namesrv_addr: String,
    /// The token state changes need; `None`: read-only.
    pub token: Option<String>,
    /// Refuse every state change even with a token.
    pub read_only: bool,
    /// How often the charts get a sample.
    pub sample_interval: Duration,
    /// How much history the charts keep.
    pub history: Duration,
}

impl ConsoleConfig {
    /// Defaults for `namesrv_addr`: read-only, a sample every 10 s, one hour kept.
    pub fn new(namesrv_addr: impl Into<String>) -> Self {
        ConsoleConfig {
            namesrv_addr: namesrv_addr.into(),
            token: None,
            read_only: false,
            sample_interval: Duration::from_secs(10),
            history: Duration::from_secs(3600),
        }
    }
}

struct State {
    api: Api,
    auth: Auth,
    history: Mutex<History>,
    sample_interval: Duration,
}

/// A running console.
pub struct ConsoleHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    state: Arc<State>,
}

impl ConsoleHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, stops the sampler and closes the cluster connections.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.state.api.shutdown().await;
    }
}

/// Serves the console on `listener` until [`ConsoleHandle::shutdown`].
pub async fn serve(config: ConsoleConfig, listener: TcpListener) -> Result<ConsoleHandle> {
    let addr = listener
        .local_addr()
        .map_err(|e| ConsoleError::BadRequest(format!("listener: {e}")))?;
    let state = Arc::new(State {
        api: Api::new(&config.namesrv_addr)?,
        auth: Auth::new(config.token.clone(), config.read_only),
        history: Mutex::new(History::new(config.history)),
        sample_interval: config.sample_interval,
    });
    let (stop, stopped) = watch::channel(false);
    let accept = tokio::spawn(accept_loop(listener, state.clone(), stopped.clone()));
    let sampler = tokio::spawn(sample_loop(state.clone(), stopped));
    info!(%addr, namesrv = %config.namesrv_addr, read_only = state.auth.read_only(), "console listening");
    Ok(ConsoleHandle {
        addr,
        stop,
        tasks: vec![accept, sampler],
        state,
    })
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(state, req, peer).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

async fn sample_loop(state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.sample_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        if let Ok(s) = tokio::time::timeout(SAMPLE_TIMEOUT, state.api.sample()).await {
            state.history.lock().push(s);
        }
    }
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_else(|e| {
        format!("{{\"error\":\"cannot encode the answer: {e}\"}}").into_bytes()
    });
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error_response(e: &ConsoleError) -> Response<Full<Bytes>> {
    json_response(e.status(), &serde_json::json!({ "error": e.message() }))
}

/// Decodes `%XX` and `+` of a query component; invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query string as a map (the last value of a repeated key wins).
pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn time_param(q: &HashMap<String, String>, key: &str, default: i64) -> Result<i64> {
    match q.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ConsoleError::BadRequest(format!("{key} must be epoch ms, got {v:?}"))),
    }
}

async fn read_json<T: DeserializeOwned>(req: Request<Incoming>) -> Result<T> {
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| ConsoleError::BadRequest(format!("request body: {e}")))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| {
        ConsoleError::BadRequest(format!("request body is not the expected JSON: {e}"))
    })
}

#[derive(serde::Deserialize)]
struct DeleteTopic {
    cluster: String,
    topic: String,
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if method == Method::GET
        && let Some((ct, body)) = assets::find(&path)
    {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        // Everything the page needs is on this origin; nothing inline, nothing fetched elsewhere.
        h.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
        );
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        return r;
    }
    if !path.starts_with("/api/") {
        return error_response(&ConsoleError::NotFound(format!("no page {path}")));
    }
    let result = if method == Method::GET {
        get(&state, &path, req.uri().query()).await
    } else if method == Method::POST {
        post(&state, &path, req, peer).await
    } else {
        Err(ConsoleError::BadRequest(format!(
            "{method} is not supported"
        )))
    };
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => {
            debug!(%path, error = %e, "request failed");
            error_response(&e)
        }
    }
}

fn to_json<T: Serialize>(v: T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| ConsoleError::BadRequest(format!("encode: {e}")))
}

async fn get(state: &State, path: &str, query: Option<&str>) -> Result<serde_json::Value> {
    let q = parse_query(query);
    let arg = |k: &str| q.get(k).cloned().unwrap_or_default();
    let api = &state.api;
    match path {
        "/api/session" => to_json(serde_json::json!({
            "readOnly": state.auth.read_only(),
            "namesrv": state.api.namesrv(),
        })),
        "/api/cluster" => to_json(api.cluster().await?),
        "/api/topics" => to_json(api.topics().await?),
        "/api/topic" => to_json(api.topic(&arg("topic")).await?),
        "/api/groups" => to_json(api.groups().await?),
        "/api/group" => to_json(api.group(&arg("group")).await?),
        "/api/messages" => {
            let now = crate::api::now_ms();
            let begin = time_param(&q, "begin", now - 3_600_000)?;
            let end = time_param(&q, "end", now)?;
            let (topic, id, key) = (arg("topic"), arg("id"), arg("key"));
            if !id.trim().is_empty() {
                to_json(api.message_by_id(&topic, &id).await?)
            } else if !key.trim().is_empty() {
                to_json(api.messages_by_key(&topic, &key, begin, end).await?)
            } else {
                to_json(api.messages_by_time(&topic, begin, end).await?)
            }
        }
        "/api/message" => to_json(api.message(&arg("topic"), &arg("id")).await?),
        "/api/charts" => {
            let h = state.history.lock();
            to_json(serde_json::json!({
                "intervalMs": state.sample_interval.as_millis() as u64,
                "windowMs": h.window().as_millis() as u64,
                "samples": h.samples(),
            }))
        }
        _ => Err(ConsoleError::NotFound(format!("no API {path}"))),
    }
}

async fn post(
    state: &State,
    path: &str,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<serde_json::Value> {
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Err(e) = state.auth.check(authorization.as_deref()) {
        warn!(%peer, %path, error = %e, "state change refused");
        return Err(e);
    }
    let api = &state.api;
    match path {
        "/api/login" => to_json(serde_json::json!({ "ok": true })),
        "/api/topic/update" => {
            let u: TopicUpdate = read_json(req).await?;
            let r = api.update_topic(&u).await;
            info!(%peer, action = "updateTopic", topic = %u.topic, cluster = %u.cluster,
                read = u.read_queue_nums, write = u.write_queue_nums, perm = u.perm,
                ok = r.is_ok(), "state change");
            to_json(serde_json::json!({ "masters": r? }))
        }
        "/api/topic/delete" => {
            let d: DeleteTopic = read_json(req).await?;
            let r = api.delete_topic(&d.cluster, &d.topic).await;
            info!(%peer, action = "deleteTopic", topic = %d.topic, cluster = %d.cluster,
                ok = r.is_ok(), "state change");
            r?;
            to_json(serde_json::json!({ "ok": true }))
        }
        "/api/topic/send" => {
            let m: TestMessage = read_json(req).await?;
            let r = api.send(&m).await;
            info!(%peer, action = "sendMessage", topic = %m.topic, ok = r.is_ok(), "state change");
            to_json(r?)
        }
        "/api/group/reset" => {
            let r: ResetRequest = read_json(req).await?;
            let out = api.reset_offset(&r).await;
            info!(%peer, action = "resetOffsetByTime", group = %r.group, topic = %r.topic,
                timestamp = r.timestamp, ok = out.is_ok(), "state change");
            to_json(out?)
        }
        "/api/group/skip" => {
            let r: ResetRequest = read_json(req).await?;
            let out = api.skip_backlog(&r).await;
            info!(%peer, action = "skipBacklog", group = %r.group, topic = %r.topic,
                ok = out.is_ok(), "state change");
            to_json(out?)
        }
        "/api/message/resend" => {
            let r: ResendRequest = read_json(req).await?;
            let out = api.resend(&r).await;
            info!(%peer, action = "resendMessage", id = %r.offset_msg_id, topic = %r.topic,
                ok = out.is_ok(), "state change");
            to_json(out?)
        }
        _ => Err(ConsoleError::NotFound(format!("no API {path}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query(Some("topic=%25DLQ%25g&key=a+b&bad=%zz&x"));
        assert_eq!(q["topic"], "%DLQ%g");
        assert_eq!(q["key"], "a b");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(q["x"], "");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41"), "A");
    }
}
