//! The request core: auth header and `orgId`, the 401 refresh-retry-once rule (zoho-auth's
//! `AuthRetry`), the client-side concurrency cap, 429 and retry policy, decoding, telemetry.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use metrics::{Counter, Histogram};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};
use zoho_auth::{AccessToken, AuthRetry, TokenError, TokenManager, TransportKind};

use crate::error::{ApiError, DeskError, ErrorCode};
use crate::ids::OrganizationId;
use crate::pagination::{Page, PageRequest};
use crate::telemetry;

/// A request for [`DeskClient::send_raw`].
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// The method.
    pub method: Method,
    /// The path under the API base, starting with `/`, already checked and normalised.
    pub path: String,
    /// Query parameters, re-encoded when sent.
    pub query: Vec<(String, String)>,
    /// The body and its content type.
    pub body: Option<(Vec<u8>, String)>,
    /// A bounded label for spans and metrics (e.g. the allowlist prefix that admitted the path),
    /// never the concrete path.
    pub route_label: String,
}

/// Zoho's answer to a [`RawRequest`], whatever its status.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: u16,
    /// Zoho's `Content-Type`.
    pub content_type: Option<String>,
    /// `Retry-After`, when present.
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: Vec<u8>,
}

/// Zoho's answer to one HTTP attempt.
struct Exchange {
    status: u16,
    content_type: Option<String>,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// Largest response body read (Desk pages of 100 tickets are well below this).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Where the client gets its access tokens. Implemented for [`TokenManager`]; other teams can plug
/// their own.
pub trait TokenSource: Send + Sync {
    /// A usable access token.
    fn token(&self) -> Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send + '_>>;
    /// Zoho rejected `token` with `INVALID_OAUTH`: drop it if it is still current, so the next
    /// [`token`](Self::token) call refreshes.
    fn reject(&self, token: &AccessToken);
}

impl TokenSource for TokenManager {
    fn token(&self) -> Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send + '_>> {
        Box::pin(async move {
            TokenManager::token(self)
                .await
                .map(|t| t.access_token().clone())
        })
    }

    fn reject(&self, token: &AccessToken) {
        self.invalidate(token);
    }
}

/// Builds a [`DeskClient`].
pub struct DeskClientBuilder {
    base_url: String,
    org_id: OrganizationId,
    tokens: Arc<dyn TokenSource>,
    max_concurrency: usize,
    timeout: Duration,
    max_retries: u32,
    max_retry_wait: Duration,
    http: Option<reqwest::Client>,
    request_headers: Option<HeaderHook>,
}

/// A hook that adds headers to every HTTP attempt (see [`DeskClientBuilder::request_headers`]).
type HeaderHook = Arc<dyn Fn(&mut reqwest::header::HeaderMap) + Send + Sync>;

impl std::fmt::Debug for DeskClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeskClientBuilder")
            .field("base_url", &self.base_url)
            .field("org_id", &self.org_id)
            .finish()
    }
}

impl DeskClientBuilder {
    /// Most calls in flight at once (default 10, the Standard edition's portal limit). Zoho
    /// answers `TOO_MANY_REQUESTS` beyond its edition's limit; this cap keeps it from seeing more.
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.max_concurrency = limit.max(1);
        self
    }

    /// Timeout of one HTTP attempt (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Automatic retries of one call for 429s, and for idempotent methods after 5xx or transport
    /// errors (default 2).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The longest `Retry-After` the client waits out by itself (default 30 s); longer ones are
    /// returned to the caller.
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.max_retry_wait = wait;
        self
    }

    /// The HTTP client to use (default: a fresh rustls client).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// A hook called for every HTTP attempt (retries included), just before it is sent, to add
    /// headers to it — e.g. W3C `traceparent` from the caller's tracing context. It runs inside
    /// the attempt's `zoho_desk.request` span, so [`tracing::Span::current`] is the client span.
    /// `Authorization`, `orgId` and `Content-Type` belong to the client: the hook cannot set
    /// them. The crate itself stays exporter-free: what the hook adds is the caller's choice.
    pub fn request_headers(
        mut self,
        hook: impl Fn(&mut reqwest::header::HeaderMap) + Send + Sync + 'static,
    ) -> Self {
        self.request_headers = Some(Arc::new(hook));
        self
    }

    /// The client.
    pub fn build(self) -> DeskClient {
        DeskClient {
            inner: Arc::new(Inner {
                base: reqwest::Url::parse(&self.base_url)
                    .ok()
                    .filter(|url| url.query().is_none() && url.fragment().is_none()),
                base_url: self.base_url.trim_end_matches('/').to_owned(),
                org_id: self.org_id,
                tokens: self.tokens,
                permits: Semaphore::new(self.max_concurrency),
                timeout: self.timeout,
                max_retries: self.max_retries,
                max_retry_wait: self.max_retry_wait,
                http: self.http.unwrap_or_default(),
                request_headers: self.request_headers,
                metrics: RwLock::new(HashMap::new()),
            }),
        }
    }
}

/// A Zoho Desk v1 client. Cheap to clone; clones share the concurrency cap.
#[derive(Clone)]
pub struct DeskClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DeskClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeskClient")
            .field("base_url", &self.inner.base_url)
            .field("org_id", &self.inner.org_id)
            .finish()
    }
}

struct Inner {
    base_url: String,
    /// `base_url` parsed once; each attempt clones it and sets the path (no URL parse per call).
    base: Option<reqwest::Url>,
    org_id: OrganizationId,
    tokens: Arc<dyn TokenSource>,
    permits: Semaphore,
    timeout: Duration,
    max_retries: u32,
    max_retry_wait: Duration,
    http: reqwest::Client,
    request_headers: Option<HeaderHook>,
    /// Metric handles by endpoint template, then method: resolved once, not per attempt.
    metrics: RwLock<HashMap<String, Vec<Arc<AttemptMetrics>>>>,
}

/// Most endpoint templates whose metric handles are kept (templates are a bounded set: the
/// typed endpoints and the pass-through's allowlist prefixes); beyond it, handles are looked up
/// per attempt as before.
const MAX_CACHED_TEMPLATES: usize = 256;

/// The status classes of `zoho_desk_requests_total`.
const STATUS_CLASSES: [&str; 5] = ["2xx", "4xx", "5xx", "other", "error"];

/// The metric handles of one endpoint template and method.
struct AttemptMetrics {
    method: Method,
    duration: Histogram,
    /// By [`STATUS_CLASSES`] index, created on first use (so no series appears before it has
    /// counted anything, as before).
    requests: [OnceLock<Counter>; 5],
}

impl AttemptMetrics {
    fn new(template: &str, method: &Method) -> Self {
        AttemptMetrics {
            method: method.clone(),
            duration: metrics::histogram!(telemetry::REQUEST_DURATION_SECONDS, "endpoint" => template.to_owned(), "method" => method.as_str().to_owned()),
            requests: Default::default(),
        }
    }

    fn count(&self, template: &str, class: usize) {
        self.requests[class]
            .get_or_init(|| {
                metrics::counter!(telemetry::REQUESTS_TOTAL, "endpoint" => template.to_owned(), "method" => self.method.as_str().to_owned(), "status_class" => STATUS_CLASSES[class])
            })
            .increment(1);
    }
}

impl Inner {
    fn attempt_metrics(&self, template: &str, method: &Method) -> Arc<AttemptMetrics> {
        let find = |map: &HashMap<String, Vec<Arc<AttemptMetrics>>>| {
            map.get(template)
                .and_then(|by_method| by_method.iter().find(|m| m.method == *method).cloned())
        };
        if let Some(found) = find(&self.metrics.read().unwrap_or_else(PoisonError::into_inner)) {
            return found;
        }
        let mut map = self.metrics.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = find(&map) {
            return found;
        }
        let created = Arc::new(AttemptMetrics::new(template, method));
        if map.len() < MAX_CACHED_TEMPLATES || map.contains_key(template) {
            map.entry(template.to_owned())
                .or_default()
                .push(created.clone());
        }
        created
    }
}

/// One logical call, possibly sent more than once.
pub(crate) struct Call {
    pub(crate) method: Method,
    /// The route template, for spans and metric labels: `/tickets/{id}`.
    pub(crate) template: Cow<'static, str>,
    /// The concrete path under the API base: `/tickets/1892000000042034`.
    pub(crate) path: String,
    pub(crate) query: Vec<(Cow<'static, str>, String)>,
    /// The body and its content type.
    pub(crate) body: Option<(Vec<u8>, String)>,
    /// Every call but `GET /organizations` carries `orgId`.
    pub(crate) org_scoped: bool,
}

impl Call {
    pub(crate) fn new(method: Method, template: &'static str, path: String) -> Self {
        Call {
            method,
            template: Cow::Borrowed(template),
            path,
            query: Vec::new(),
            body: None,
            org_scoped: true,
        }
    }

    pub(crate) fn query(mut self, query: Vec<(&'static str, String)>) -> Self {
        self.query = query
            .into_iter()
            .map(|(k, v)| (Cow::Borrowed(k), v))
            .collect();
        self
    }

    pub(crate) fn body(mut self, body: Value) -> Self {
        self.body = Some((body.to_string().into_bytes(), "application/json".to_owned()));
        self
    }

    fn idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        )
    }
}

impl DeskClient {
    /// Starts building a client for the Desk API at `base_url` (e.g.
    /// `ZohoEndpoints::desk_api_url()`, `https://desk.zoho.eu/api/v1`), for organization
    /// `org_id`, taking tokens from `tokens`.
    pub fn builder(
        base_url: impl Into<String>,
        org_id: impl Into<OrganizationId>,
        tokens: impl TokenSource + 'static,
    ) -> DeskClientBuilder {
        DeskClientBuilder {
            base_url: base_url.into(),
            org_id: org_id.into(),
            tokens: Arc::new(tokens),
            max_concurrency: 10,
            timeout: Duration::from_secs(30),
            max_retries: 2,
            max_retry_wait: Duration::from_secs(30),
            http: None,
            request_headers: None,
        }
    }

    /// The organization this client sends as `orgId`.
    pub fn org_id(&self) -> &OrganizationId {
        &self.inner.org_id
    }

    /// Sends `call` under the retry policy; `Ok(None)` is an HTTP 204.
    pub(crate) async fn execute(&self, call: Call) -> Result<Option<Vec<u8>>, DeskError> {
        let exchange = self.exchange(&call).await?;
        match exchange.status {
            204 => Ok(None),
            200..=299 => Ok(Some(exchange.body)),
            status => Err(DeskError::Api(ApiError::from_response(
                status,
                &exchange.body,
                exchange.retry_after,
            ))),
        }
    }

    /// Sends a request Zoho's API defines but this client has no typed method for (the gateway's
    /// pass-through), under the same rules as every typed call: auth header and `orgId`, the 401
    /// rule, the concurrency cap, the retry policy. Zoho's answer comes back whatever its status;
    /// only a request that got no answer is an error. `request.path` must already be checked and
    /// normalised by the caller.
    pub async fn send_raw(&self, request: RawRequest) -> Result<RawResponse, DeskError> {
        let call = Call {
            method: request.method,
            template: Cow::Owned(request.route_label),
            path: request.path,
            query: request
                .query
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), v))
                .collect(),
            body: request.body,
            org_scoped: true,
        };
        let exchange = self.exchange(&call).await?;
        Ok(RawResponse {
            status: exchange.status,
            content_type: exchange.content_type,
            retry_after: exchange.retry_after,
            body: exchange.body,
        })
    }

    /// The retry loop. Returns Zoho's last answer, whatever its status, or the transport error
    /// that left no answer.
    async fn exchange(&self, call: &Call) -> Result<Exchange, DeskError> {
        let inner = &self.inner;
        let mut retries = 0;
        let mut auth = AuthRetry::new();
        // The code of the 401 that was retried, for `zoho_desk_unauthorized_total`.
        let mut first_401: Option<ErrorCode> = None;
        loop {
            let token = inner.tokens.token().await?;
            let result = self.attempt(call, &token).await;
            let (status, api_error) = match &result {
                Ok(exchange) if (200..300).contains(&exchange.status) => {
                    auth.after_attempt(false);
                    record_unauthorized(first_401.as_ref(), true);
                    return result;
                }
                Ok(exchange) => (
                    exchange.status,
                    Some(ApiError::from_response(
                        exchange.status,
                        &exchange.body,
                        exchange.retry_after,
                    )),
                ),
                Err(_) => (0, None),
            };
            let code = api_error.as_ref().map(|e| e.code.clone());
            // 401 INVALID_OAUTH (or UNAUTHORIZED although a token was sent) is a refused token:
            // Zoho refused before acting, so even a POST may be resent — once, with a fresh
            // token, by zoho-auth's 401 rule. After that one retry, any 401 is the token refused
            // again.
            let rejected = status == 401
                && (auth.retried()
                    || matches!(
                        code,
                        Some(ErrorCode::InvalidOauth | ErrorCode::Unauthorized)
                    ));
            if auth.after_attempt(rejected) {
                info!(
                    message = "[Zoho Desk] Token expired, refreshing and retrying...",
                    endpoint = %call.template,
                    token = %token.preview(),
                );
                inner.tokens.reject(&token);
                first_401 = code;
                continue;
            }
            if status == 401 || first_401.is_some() {
                record_unauthorized(first_401.as_ref().or(code.as_ref()), status != 401);
            }
            if status == 401 && first_401.is_some() {
                warn!(
                    message = "[Zoho Desk] 401 persisted after refresh and retry",
                    error_code = code.as_ref().map_or("unknown", ErrorCode::metric_label),
                    endpoint = %call.template,
                );
            }
            let wait = match (&result, &api_error) {
                // A 429 means Zoho did not act on the request: safe to resend for any method.
                (_, Some(api)) if api.status == 429 => {
                    let wait = api.retry_after.unwrap_or_else(|| backoff(retries));
                    (wait <= inner.max_retry_wait).then_some((wait, "rate_limited"))
                }
                // After a 5xx or a broken connection the request may have been processed: only
                // idempotent methods are resent.
                (_, Some(api)) if api.status >= 500 && call.idempotent() => {
                    Some((backoff(retries), "server_error"))
                }
                (Err(DeskError::Transport { .. }), _) if call.idempotent() => {
                    Some((backoff(retries), "transport"))
                }
                _ => None,
            };
            match wait {
                Some((wait, reason)) if retries < inner.max_retries => {
                    retries += 1;
                    metrics::counter!(telemetry::RETRIES_TOTAL, "reason" => reason).increment(1);
                    warn!(
                        message = "[Zoho Desk] Retrying request",
                        endpoint = %call.template,
                        method = %call.method,
                        reason,
                        wait_ms = wait.as_millis() as u64,
                        attempt = retries,
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => return result,
            }
        }
    }

    /// One HTTP exchange, inside the concurrency cap. Only a missing answer is an error.
    async fn attempt(&self, call: &Call, token: &AccessToken) -> Result<Exchange, DeskError> {
        let inner = &self.inner;
        let _permit = inner
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let span = info_span!(
            "zoho_desk.request",
            otel.kind = "client",
            otel.name = format_args!("{} {}", call.method, call.template),
            http.request.method = %call.method,
            url.template = %call.template,
            http.response.status_code = tracing::field::Empty,
        );
        let started = Instant::now();
        let mut request = match &inner.base {
            Some(base) => {
                let mut url = base.clone();
                url.set_path(&format!(
                    "{}{}",
                    base.path().trim_end_matches('/'),
                    call.path
                ));
                inner.http.request(call.method.clone(), url)
            }
            None => inner.http.request(
                call.method.clone(),
                format!("{}{}", inner.base_url, call.path),
            ),
        }
        .timeout(inner.timeout);
        if let Some(hook) = &inner.request_headers {
            let mut headers = reqwest::header::HeaderMap::new();
            span.in_scope(|| hook(&mut headers));
            for reserved in [
                AUTHORIZATION,
                CONTENT_TYPE,
                HeaderName::from_static("orgid"),
            ] {
                headers.remove(reserved);
            }
            request = request.headers(headers);
        }
        request = request.header(reqwest::header::AUTHORIZATION, token.authorization());
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if call.org_scoped {
            request = request.header("orgId", inner.org_id.as_str());
        }
        if let Some((body, content_type)) = &call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(body.clone());
        }
        let result = async {
            let response = request.send().await.map_err(|e| transport_error(&e))?;
            let status = response.status().as_u16();
            if let Some(remaining) = header_number(&response, "x-rate-limit-remaining-v3") {
                metrics::gauge!(telemetry::CREDITS_REMAINING).set(remaining);
            }
            let retry_after = header_number(&response, "retry-after").map(retry_after_from_secs);
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = read_body(response).await?;
            Ok::<_, DeskError>(Exchange {
                status,
                content_type,
                retry_after,
                body,
            })
        }
        .instrument(span.clone())
        .await;

        let handles = inner.attempt_metrics(&call.template, &call.method);
        handles.duration.record(started.elapsed().as_secs_f64());
        let status_class = match &result {
            Ok(exchange) => match exchange.status {
                200..=299 => 0,
                400..=499 => 1,
                500..=599 => 2,
                _ => 3,
            },
            Err(_) => 4,
        };
        handles.count(&call.template, status_class);
        if let Ok(exchange) = &result {
            span.record("http.response.status_code", i64::from(exchange.status));
            if exchange.status == 429 {
                let code = ApiError::from_response(429, &exchange.body, None).code;
                metrics::counter!(telemetry::RATE_LIMITED_TOTAL, "error_code" => code.metric_label()).increment(1);
            }
        }
        result
    }

    pub(crate) async fn fetch<T: DeserializeOwned>(&self, call: Call) -> Result<T, DeskError> {
        match self.execute(call).await? {
            Some(body) => decode(200, &body),
            None => Err(DeskError::Decode {
                status: 204,
                detail: "expected a body, got HTTP 204".into(),
            }),
        }
    }

    /// A list or search page. HTTP 204 and `{"data":[]}` both mean empty.
    pub(crate) async fn page<T: DeserializeOwned>(
        &self,
        call: Call,
        page: PageRequest,
        max_limit: u32,
    ) -> Result<Page<T>, DeskError> {
        page.check(max_limit)?;
        let mut call = call;
        call.query
            .push((Cow::Borrowed("from"), page.from.to_string()));
        call.query
            .push((Cow::Borrowed("limit"), page.limit.to_string()));
        #[derive(serde::Deserialize)]
        struct Envelope<T> {
            #[serde(default = "Vec::new")]
            data: Vec<T>,
        }
        let data = match self.execute(call).await? {
            Some(body) if !body.is_empty() => decode::<Envelope<T>>(200, &body)?.data,
            _ => Vec::new(),
        };
        Ok(Page {
            data,
            from: page.from,
            limit: page.limit,
        })
    }
}

fn record_unauthorized(code: Option<&ErrorCode>, recovered: bool) {
    if let Some(code) = code {
        metrics::counter!(
            telemetry::UNAUTHORIZED_TOTAL,
            "error_code" => code.metric_label(),
            "recovered" => if recovered { "true" } else { "false" },
        )
        .increment(1);
    }
}

/// Exponential backoff with full jitter: ~0.25 s, 0.5 s, 1 s, … capped at 8 s.
fn backoff(retries: u32) -> Duration {
    let cap = Duration::from_millis(250 * (1 << retries.min(5)));
    cap.min(Duration::from_secs(8))
        .mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// Zoho's `Retry-After` is untrusted input: credits come back within a day, so a longer wait is
/// clamped to one (and a value `Duration` cannot hold never panics).
fn retry_after_from_secs(secs: f64) -> Duration {
    const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);
    Duration::try_from_secs_f64(secs).map_or(LONGEST, |wait| wait.min(LONGEST))
}

fn header_number(response: &reqwest::Response, name: &str) -> Option<f64> {
    response
        .headers()
        .get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, DeskError> {
    /// Most bytes reserved up front from a `Content-Length` (a lying header cannot make the
    /// client reserve the whole limit).
    const PRESIZE_BYTES: u64 = 1024 * 1024;
    // Sized once from `Content-Length`, so the body is not copied again as the buffer grows.
    let mut body = Vec::with_capacity(
        response
            .content_length()
            .unwrap_or(0)
            .min(PRESIZE_BYTES)
            .try_into()
            .unwrap_or(0),
    );
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(DeskError::Decode {
                status: response.status().as_u16(),
                detail: "response body too large".into(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error by kind only: no URL or headers.
fn transport_error(error: &reqwest::Error) -> DeskError {
    DeskError::Transport {
        kind: TransportKind::of(error),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, DeskError> {
    serde_json::from_slice(body).map_err(|e| DeskError::Decode {
        status,
        detail: e.to_string(),
    })
}
