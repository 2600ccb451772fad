//! The HTTP face of the emulator: routes, fault injection, counting, and a connection layer that
//! can drop a connection mid-request (which axum alone cannot do). The Desk routes live in
//! `desk`, behind one catch-all route.

use std::borrow::Cow;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Form, FromRequest, Multipart, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::accounts::Reply;
use crate::faults::{Fault, Route};
use crate::{Shared, accounts, desk};

/// Lets a handler close its own connection without answering.
#[derive(Clone)]
pub(crate) struct ConnectionKill(Arc<Notify>);

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/v2/token", post(token))
        .route("/oauth/v2/token/revoke", post(revoke))
        .route(&format!("{}/{{*path}}", desk::PREFIX), any(desk::handle))
        .route("/_sim/stats", get(control_stats))
        .route("/_sim/clock/advance", post(control_advance))
        .route("/_sim/faults", post(control_inject).delete(control_clear))
        .with_state(shared)
}

/// Accepts connections until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, router: Router) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let kill = Arc::new(Notify::new());
        let router = router.clone();
        let conn_kill = kill.clone();
        let service = tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectionKill(conn_kill.clone()));
            let router = router.clone();
            async move {
                Ok::<_, Infallible>(router.oneshot(request.map(Body::new)).await.into_response())
            }
        });
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::select! {
                _ = connection => {}
                // Dropping the connection future closes the socket with no response.
                _ = kill.notified() => {}
            }
        });
    }
}

impl ConnectionKill {
    /// Closes the connection without an answer (the request's future is dropped with it).
    pub(crate) fn kill(&self) {
        self.0.notify_one();
    }
}

/// Applies any fault planned for `route`. `Some` means the fault decided the answer; `None`
/// means answer normally.
async fn apply_fault(
    shared: &Shared,
    route: Route,
    kill: Option<&ConnectionKill>,
) -> Option<Response> {
    match take_fault(shared, route)? {
        Fault::Latency { millis } => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            None
        }
        Fault::Drop => {
            kill?.kill();
            std::future::pending::<()>().await;
            None
        }
        fault => fault_response(route, fault),
    }
}

/// The next fault planned for `route`, counted as injected.
pub(crate) fn take_fault(shared: &Shared, route: Route) -> Option<Fault> {
    let fault = shared.faults.lock().expect("faults lock").take(route)?;
    shared.stats.lock().expect("stats lock").faults_injected += 1;
    Some(fault)
}

/// The answer of a fault that answers in place of the route (`None` for latency and drops,
/// which the caller carries out).
pub(crate) fn fault_response(route: Route, fault: Fault) -> Option<Response> {
    match fault {
        Fault::Latency { .. } | Fault::Drop => None,
        Fault::Status { status } => Some(reply_response(&Reply {
            status,
            body: accounts::Body::Html(format!(
                "<html><head><title>{status} Error</title></head><body><h1>{status} Service Unavailable</h1></body></html>"
            )),
        })),
        // Desk has no refresh throttle; its nearest kin is the concurrency refusal.
        Fault::Throttle { .. } if route == Route::Desk => Some(desk::too_many_requests()),
        Fault::Throttle { style } => Some(reply_response(&accounts::throttle_reply(style))),
        Fault::Respond { status, body } => {
            let body = match serde_json::from_str(&body) {
                Ok(json) => accounts::Body::Json(json),
                Err(_) => accounts::Body::Html(body),
            };
            Some(reply_response(&Reply { status, body }))
        }
    }
}

/// Keeps the in-flight gauge and the per-route counters right, including for requests whose
/// connection is dropped (the guard's drop runs when the connection future is dropped).
pub(crate) struct Counted<'a> {
    shared: &'a Shared,
    route: Cow<'static, str>,
    status: u16,
}

impl<'a> Counted<'a> {
    pub(crate) fn start(shared: &'a Shared, route: impl Into<Cow<'static, str>>) -> Self {
        let mut stats = shared.stats.lock().expect("stats lock");
        stats.requests += 1;
        stats.in_flight += 1;
        drop(stats);
        Counted {
            shared,
            route: route.into(),
            status: 0,
        }
    }

    pub(crate) fn finish(mut self, response: Response) -> Response {
        self.status = response.status().as_u16();
        response
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        let mut stats = self.shared.stats.lock().expect("stats lock");
        stats.in_flight -= 1;
        stats.record(&self.route, self.status);
    }
}

async fn token(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let counted = Counted::start(&shared, "token");
    let arrived = shared.clock.now();
    shared
        .stats
        .lock()
        .expect("stats lock")
        .record_token_request(arrived);
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let mut faulted = FaultedToken {
        shared: &shared,
        armed: true,
    };
    if let Some(response) = apply_fault(&shared, Route::Token, kill.as_ref()).await {
        return counted.finish(response);
    }
    faulted.armed = false;
    let params = match oauth_params(request).await {
        Ok(params) => params,
        Err(response) => return counted.finish(response),
    };
    let (reply, outcome) = {
        let now = shared.clock.now();
        shared
            .accounts
            .lock()
            .expect("accounts lock")
            .token(&params, now)
    };
    shared
        .stats
        .lock()
        .expect("stats lock")
        .record_token(outcome);
    counted.finish(reply_response(&reply))
}

/// Counts a token request as answered by a fault unless disarmed when the Accounts logic takes
/// over; a dropped connection (which never returns from `apply_fault`) counts too.
struct FaultedToken<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl Drop for FaultedToken<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.stats.lock().expect("stats lock").token_faulted += 1;
        }
    }
}

async fn revoke(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let counted = Counted::start(&shared, "revoke");
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    if let Some(response) = apply_fault(&shared, Route::Revoke, kill.as_ref()).await {
        return counted.finish(response);
    }
    let params = match oauth_params(request).await {
        Ok(params) => params,
        Err(response) => return counted.finish(response),
    };
    let token = params.get("token").map(String::as_str).unwrap_or("");
    let reply = shared.accounts.lock().expect("accounts lock").revoke(token);
    counted.finish(reply_response(&reply))
}

/// OAuth parameters from the query string, a urlencoded body or a multipart body; Zoho accepts
/// all three (`zoho-behaviour.md` §1). Body values win over query values.
async fn oauth_params(request: Request) -> Result<HashMap<String, String>, Response> {
    let bad =
        |what: &str| (StatusCode::BAD_REQUEST, format!("bad request: {what}")).into_response();
    let mut params: HashMap<String, String> = Query::try_from_uri(request.uri())
        .map(|Query(q)| q)
        .map_err(|_| bad("query string"))?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|_| bad("multipart body"))?;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|_| bad("multipart field"))?
        {
            let name = field.name().unwrap_or_default().to_owned();
            let value = field.text().await.map_err(|_| bad("multipart field"))?;
            params.insert(name, value);
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let Form(body): Form<HashMap<String, String>> = Form::from_request(request, &())
            .await
            .map_err(|_| bad("urlencoded body"))?;
        params.extend(body);
    }
    Ok(params)
}

fn reply_response(reply: &Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match &reply.body {
        accounts::Body::Json(value) => (status, axum::Json(value.clone())).into_response(),
        accounts::Body::Html(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
            html.clone(),
        )
            .into_response(),
    }
}

async fn control_stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.stats.lock().expect("stats lock").clone()).into_response()
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

async fn control_advance(
    State(shared): State<Arc<Shared>>,
    axum::Json(body): axum::Json<Advance>,
) -> StatusCode {
    shared.clock.advance(Duration::from_secs(body.seconds));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Inject {
    route: Route,
    fault: Fault,
    times: crate::Times,
}

async fn control_inject(
    State(shared): State<Arc<Shared>>,
    axum::Json(body): axum::Json<Inject>,
) -> StatusCode {
    shared
        .faults
        .lock()
        .expect("faults lock")
        .push(body.route, body.fault, body.times);
    StatusCode::NO_CONTENT
}

async fn control_clear(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.faults.lock().expect("faults lock").clear();
    StatusCode::NO_CONTENT
}
