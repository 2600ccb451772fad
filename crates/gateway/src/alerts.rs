//! Sentry alerts: one event per failure streak, raised from the project's own log events.
//!
//! [`AlertLayer`] is a `tracing_subscriber` layer that recognises, by their `message`, the log
//! events the libraries already emit (docs/telemetry.md) and turns them into Sentry events:
//!
//! | log event | alert kind | Sentry level | streak ends on |
//! |---|---|---|---|
//! | `[Zoho Token] ❌ Failed to refresh token` (WARN) | `refresh_failed` | warning | `[Zoho Token] ✅ Token refreshed successfully` |
//! | the same at ERROR, or with an `action` field (permanent) | `credentials_rejected` | error, message with the re-consent action | the same success |
//! | `[Zoho Token] Falling back to static token` | `fallback_active` | warning | the same success |
//! | `[Zoho Desk] 401 persisted after refresh and retry` | `unauthorized_persisted` (per `endpoint`) | error | a 2xx answer on a `zoho_desk.request` span of that endpoint |
//! | `[Zoho Token] Shared token store unavailable; refreshing locally` | `store_degraded` | warning | `[Zoho Token] Shared token store is back; rejoined the fleet` |
//!
//! Streaks, kept simple: the first occurrence of a kind (per endpoint for 401s) sends one event;
//! later occurrences only increment the streak's counter; the event that ends the streak sends
//! nothing to Sentry but logs `failure streak ended after N failures` (fields `kind`,
//! `failures`) and adds the same breadcrumb, so the next event carries it; that next streak's
//! event also carries `previous_streak_count` = N in its extra data. Every event has the tag
//! `alert.kind` and a fingerprint per kind, so Sentry groups them by kind, not by error text.
//!
//! Nothing secret leaves: `send_default_pii` is off and `before_send` runs every string of the
//! event (keys and values, breadcrumbs included) through [`Scrubber`], which replaces anything
//! shaped like a Zoho token and the configured client secret, refresh token and fallback token
//! with `[redacted]`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sentry::protocol::{Event, Level as SentryLevel, Value};
use sentry::{Breadcrumb, ClientOptions, Hub};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// What replaces a scrubbed value.
pub const REDACTED: &str = "[redacted]";

/// The log messages the layer reacts to (see docs/telemetry.md).
pub mod messages {
    /// A refresh failed (WARN), or failed permanently (ERROR with `action`).
    pub const REFRESH_FAILED: &str = "[Zoho Token] ❌ Failed to refresh token";
    /// A refresh succeeded: ends every token streak.
    pub const REFRESHED: &str = "[Zoho Token] ✅ Token refreshed successfully";
    /// The static fallback token is being handed out.
    pub const FALLBACK: &str = "[Zoho Token] Falling back to static token";
    /// A Desk call's retry after a 401 got a 401 again.
    pub const UNAUTHORIZED_PERSISTED: &str = "[Zoho Desk] 401 persisted after refresh and retry";
    /// Fleet mode: the shared token store is unreachable; this replica refreshes alone.
    pub const STORE_DEGRADED: &str =
        "[Zoho Token] Shared token store unavailable; refreshing locally";
    /// Fleet mode: the store answers again.
    pub const STORE_REJOINED: &str = "[Zoho Token] Shared token store is back; rejoined the fleet";
}

/// The action in a permanent-failure event when the log event carried none.
const DEFAULT_ACTION: &str =
    "re-consent in Zoho's API console and configure the new refresh token, then force a refresh";

/// How long [`AlertsGuard::shutdown`] waits for queued events to be sent.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Shortest secret the scrubber replaces verbatim (shorter values would mangle ordinary text).
const MIN_SECRET_LEN: usize = 4;

/// The kinds of alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    /// Transient or throttled refresh failures.
    RefreshFailed,
    /// Zoho rejected the credentials for good: re-consent needed.
    CredentialsRejected,
    /// The static fallback token took over.
    FallbackActive,
    /// A 401 survived its one retry with a fresh token.
    UnauthorizedPersisted,
    /// Fleet mode: the shared token store is unreachable (degraded mode).
    StoreDegraded,
}

impl AlertKind {
    /// The `alert.kind` tag.
    pub fn label(self) -> &'static str {
        match self {
            AlertKind::RefreshFailed => "refresh_failed",
            AlertKind::CredentialsRejected => "credentials_rejected",
            AlertKind::FallbackActive => "fallback_active",
            AlertKind::UnauthorizedPersisted => "unauthorized_persisted",
            AlertKind::StoreDegraded => "store_degraded",
        }
    }

    fn level(self) -> SentryLevel {
        match self {
            AlertKind::RefreshFailed | AlertKind::FallbackActive | AlertKind::StoreDegraded => {
                SentryLevel::Warning
            }
            AlertKind::CredentialsRejected | AlertKind::UnauthorizedPersisted => SentryLevel::Error,
        }
    }
}

/// Removes token material and configured secrets from text.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Scrubber {
    /// A scrubber for `secrets` (client secret, refresh token, fallback token…); empty and very
    /// short values are ignored.
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(Into::into)
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Scrubber { secrets }
    }

    /// `text` with every Zoho-token-shaped run (`1000.<8+ hex>.<8+ hex>`) and every configured
    /// secret replaced by `[redacted]`.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        if let Some(replaced) = scrub_tokens(&out) {
            out = Cow::Owned(replaced);
        }
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }

    /// Scrubs every string (object keys included) of a JSON value in place.
    pub fn scrub_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(clean) = self.scrub(s) {
                    *s = clean;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v)),
            serde_json::Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.scrub_json(&mut v);
                    map.insert(self.scrub(&key).into_owned(), v);
                }
            }
            _ => {}
        }
    }

    /// The event with every string scrubbed (a JSON round trip, so no field is missed); `None`
    /// (the event is dropped) in the unexpected case that it does not survive the round trip.
    pub fn scrub_event(&self, event: Event<'static>) -> Option<Event<'static>> {
        let mut value = serde_json::to_value(&event).ok()?;
        self.scrub_json(&mut value);
        serde_json::from_value(value).ok()
    }
}

/// Replaces `1000\.[0-9a-f]{8,}\.[0-9a-f]{8,}` runs (either case); `None` when there are none.
fn scrub_tokens(text: &str) -> Option<String> {
    const PREFIX: &str = "1000.";
    let bytes = text.as_bytes();
    let hex_run = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count()
    };
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(found) = text[i..].find(PREFIX) {
        let start = i + found;
        let first = start + PREFIX.len();
        let first_len = hex_run(first);
        let dot = first + first_len;
        let second_len = if first_len >= 8 && bytes.get(dot) == Some(&b'.') {
            hex_run(dot + 1)
        } else {
            0
        };
        if second_len >= 8 {
            let end = dot + 1 + second_len;
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
            i = end;
        } else {
            i = start + 1;
        }
    }
    out.map(|mut out| {
        out.push_str(&text[copied..]);
        out
    })
}

/// Keeps the Sentry client; [`shutdown`](Self::shutdown) sends what is queued.
#[derive(Clone)]
pub struct AlertsGuard {
    client: Arc<sentry::Client>,
}

impl fmt::Debug for AlertsGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertsGuard").finish_non_exhaustive()
    }
}

impl AlertsGuard {
    /// Makes the client the process-wide one too, so the panic integration reports panics.
    pub fn bind_main_hub(&self) {
        Hub::main().bind_client(Some(self.client.clone()));
    }

    /// Sends the events still queued (up to 5 s) and closes the client. Blocks: call it from a
    /// blocking context (`spawn_blocking`) or outside the runtime.
    pub fn shutdown(self) {
        self.client.close(Some(SHUTDOWN_TIMEOUT));
    }

    /// Waits up to `timeout` for queued events to be sent; whether the queue emptied. Blocks.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.client.flush(Some(timeout))
    }
}

/// Builds the Sentry client for `dsn` (reqwest + rustls transport, no PII, every event scrubbed
/// of token material and of `secrets`) and the layer that raises the alerts. A DSN Sentry cannot
/// parse is an error, never a panic.
pub fn init<I, S>(dsn: &str, secrets: I) -> Result<(AlertsGuard, AlertLayer), String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let dsn: sentry::types::Dsn = dsn
        .trim()
        .parse()
        .map_err(|e| format!("SENTRY_DSN is not a valid Sentry DSN: {e}"))?;
    let scrubber = Arc::new(Scrubber::new(secrets));
    let for_events = scrubber.clone();
    let for_breadcrumbs = scrubber;
    let mut options = ClientOptions::new()
        .release(concat!("zoho-gateway@", env!("CARGO_PKG_VERSION")))
        .send_default_pii(false)
        .attach_stacktrace(false)
        .before_send(move |event| for_events.scrub_event(event))
        .before_breadcrumb(move |breadcrumb| {
            let mut value = serde_json::to_value(&breadcrumb).ok()?;
            for_breadcrumbs.scrub_json(&mut value);
            serde_json::from_value(value).ok()
        });
    options.dsn = Some(dsn);
    // Without apply_defaults a hand-built client has no transport (engineering.md trap 1).
    let client = Arc::new(sentry::Client::from(sentry::apply_defaults(options)));
    let hub = Arc::new(Hub::new(
        Some(client.clone()),
        Arc::new(sentry::Scope::default()),
    ));
    Ok((AlertsGuard { client }, AlertLayer::new(hub)))
}

/// The events the layer must see, whatever `RUST_LOG` says: the libraries' INFO and above (the
/// success that ends a streak is INFO).
pub fn filter() -> Targets {
    Targets::new()
        .with_target("zoho_auth", Level::INFO)
        .with_target("zoho_desk_api", Level::INFO)
}

/// The `tracing` layer that raises Sentry alerts (see the module documentation). Give it
/// [`filter`] so a quiet `RUST_LOG` cannot hide the events it needs.
#[derive(Clone)]
pub struct AlertLayer {
    hub: Arc<Hub>,
    streaks: Arc<Mutex<Streaks>>,
}

impl fmt::Debug for AlertLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertLayer").finish_non_exhaustive()
    }
}

/// A streak is identified by its kind and, for 401s, the endpoint.
type StreakKey = (AlertKind, String);

#[derive(Debug, Default)]
struct Streaks {
    /// Occurrences in each open streak.
    open: HashMap<StreakKey, u64>,
    /// Length of the last ended streak of each key.
    previous: HashMap<StreakKey, u64>,
}

/// What one log event means for the streaks.
enum Signal {
    Failure(AlertKind, String),
    EndTokenStreaks,
    End(AlertKind),
}

/// The endpoint of a `zoho_desk.request` span, kept in the span's extensions.
struct DeskEndpoint(String);

impl AlertLayer {
    fn new(hub: Arc<Hub>) -> Self {
        AlertLayer {
            hub,
            streaks: Arc::new(Mutex::new(Streaks::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streaks> {
        self.streaks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failure(&self, kind: AlertKind, key: String, fields: &BTreeMap<String, String>) {
        let previous = {
            let mut streaks = self.lock();
            let count = streaks.open.entry((kind, key.clone())).or_insert(0);
            *count += 1;
            if *count > 1 {
                return;
            }
            streaks.previous.get(&(kind, key)).copied()
        };
        self.hub.capture_event(alert_event(kind, fields, previous));
    }

    fn end(&self, ended: impl Fn(&StreakKey) -> bool) {
        let closed: Vec<(StreakKey, u64)> = {
            let mut streaks = self.lock();
            let keys: Vec<StreakKey> = streaks.open.keys().filter(|k| ended(k)).cloned().collect();
            let mut closed = Vec::new();
            for key in keys {
                if let Some(count) = streaks.open.remove(&key) {
                    streaks.previous.insert(key.clone(), count);
                    closed.push((key, count));
                }
            }
            closed
        };
        for ((kind, endpoint), count) in closed {
            let message = format!("failure streak ended after {count} failures");
            let mut data = BTreeMap::new();
            data.insert("kind".to_owned(), Value::from(kind.label()));
            data.insert("failures".to_owned(), Value::from(count));
            if !endpoint.is_empty() {
                data.insert("endpoint".to_owned(), Value::from(endpoint.clone()));
            }
            self.hub.add_breadcrumb(Breadcrumb {
                category: Some("alerts".into()),
                message: Some(message.clone()),
                level: SentryLevel::Info,
                data: data.into_iter().collect(),
                ..Default::default()
            });
            log_later(kind, endpoint, count, message);
        }
    }
}

/// Logs the end of a streak. A layer cannot log from inside `on_event` (tracing drops nested
/// events), so the line is emitted from a task (or a thread outside a runtime).
fn log_later(kind: AlertKind, endpoint: String, failures: u64, message: String) {
    let log = move || {
        tracing::info!(
            message = %message,
            kind = kind.label(),
            failures,
            endpoint = (!endpoint.is_empty()).then_some(endpoint.as_str()),
        );
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move { log() });
        }
        Err(_) => {
            let _ = std::thread::Builder::new()
                .name("alerts-log".into())
                .spawn(log);
        }
    }
}

/// The Sentry event of the first failure of a streak.
fn alert_event(
    kind: AlertKind,
    fields: &BTreeMap<String, String>,
    previous_streak: Option<u64>,
) -> Event<'static> {
    let field = |name: &str| fields.get(name).map(String::as_str);
    let headline = field("message").unwrap_or(kind.label());
    let message = match kind {
        AlertKind::RefreshFailed => match field("error") {
            Some(error) => format!("{headline}: {error}"),
            None => headline.to_owned(),
        },
        AlertKind::CredentialsRejected => format!(
            "{headline}: {} (permanent). Action: {}",
            field("error").unwrap_or("credentials rejected"),
            field("action").unwrap_or(DEFAULT_ACTION)
        ),
        AlertKind::FallbackActive => format!(
            "{headline}: refreshing fails and the static ZOHO_DESK_ACCESS_TOKEN is handed out"
        ),
        AlertKind::UnauthorizedPersisted => format!(
            "{headline}: {} on {}",
            field("error_code").unwrap_or("unknown"),
            field("endpoint").unwrap_or("unknown endpoint")
        ),
        AlertKind::StoreDegraded => format!(
            "{headline}: {} (each replica now refreshes on its own until the store returns)",
            field("error").unwrap_or("store unavailable")
        ),
    };
    let mut tags = BTreeMap::new();
    tags.insert("alert.kind".to_owned(), kind.label().to_owned());
    for name in ["error_kind", "error_code", "endpoint"] {
        if let Some(value) = field(name) {
            tags.insert(name.to_owned(), value.to_owned());
        }
    }
    let mut extra: BTreeMap<String, Value> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "message")
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    extra.insert("streak_count".to_owned(), Value::from(1));
    if let Some(previous) = previous_streak {
        extra.insert("previous_streak_count".to_owned(), Value::from(previous));
    }
    Event {
        level: kind.level(),
        message: Some(message),
        logger: Some("zoho-gateway.alerts".to_owned()),
        fingerprint: Cow::Owned(vec!["zoho-gateway".into(), kind.label().into()]),
        tags: tags.into_iter().collect(),
        extra: extra.into_iter().collect(),
        ..Default::default()
    }
}

/// Collects an event's or span's fields as text.
#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Reads one numeric field of a span record.
struct StatusField(Option<u64>);

impl Visit for StatusField {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "http.response.status_code" {
            self.0 = Some(value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0) as u64);
    }

    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

impl<S> Layer<S> for AlertLayer
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "zoho_desk.request" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(endpoint), Some(span)) = (fields.0.remove("url.template"), ctx.span(id)) {
            span.extensions_mut().insert(DeskEndpoint(endpoint));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut status = StatusField(None);
        values.record(&mut status);
        if !status.0.is_some_and(|s| (200..300).contains(&s)) {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let endpoint = match span.extensions().get::<DeskEndpoint>() {
            Some(DeskEndpoint(endpoint)) => endpoint.clone(),
            None => return,
        };
        self.end(|(kind, key)| *kind == AlertKind::UnauthorizedPersisted && *key == endpoint);
    }

    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::INFO {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let signal = match fields.0.get("message").map(String::as_str) {
            Some(messages::REFRESH_FAILED)
                if level == Level::ERROR || fields.0.contains_key("action") =>
            {
                Signal::Failure(AlertKind::CredentialsRejected, String::new())
            }
            Some(messages::REFRESH_FAILED) => {
                Signal::Failure(AlertKind::RefreshFailed, String::new())
            }
            Some(messages::FALLBACK) => Signal::Failure(AlertKind::FallbackActive, String::new()),
            Some(messages::UNAUTHORIZED_PERSISTED) => Signal::Failure(
                AlertKind::UnauthorizedPersisted,
                fields.0.get("endpoint").cloned().unwrap_or_default(),
            ),
            Some(messages::REFRESHED) => Signal::EndTokenStreaks,
            Some(messages::STORE_DEGRADED) => {
                Signal::Failure(AlertKind::StoreDegraded, String::new())
            }
            Some(messages::STORE_REJOINED) => Signal::End(AlertKind::StoreDegraded),
            _ => return,
        };
        match signal {
            Signal::Failure(kind, key) => self.failure(kind, key, &fields.0),
            Signal::EndTokenStreaks => {
                self.end(|(kind, _)| {
                    !matches!(
                        kind,
                        AlertKind::UnauthorizedPersisted | AlertKind::StoreDegraded
                    )
                });
            }
            Signal::End(ended) => self.end(|(kind, _)| *kind == ended),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_secrets_are_scrubbed() {
        let scrubber = Scrubber::new(["s3cr3t-client", "1000.refresh.token", "", "ab"]);
        let token = "1000.0123456789abcdef0123456789abcdef.FEDCBA9876543210fedcba9876543210";
        let text = format!("got {token}, secret s3cr3t-client, rt 1000.refresh.token; ab stays");
        assert_eq!(
            scrubber.scrub(&text),
            "got [redacted], secret [redacted], rt [redacted]; ab stays"
        );
        // A preview is not a token; short hex runs are left alone.
        for keep in ["1000.45a7b8cf863…", "1000.1234.5678", "version 1000.0"] {
            assert_eq!(scrubber.scrub(keep), keep);
        }
        let mut json = serde_json::json!({"a": [token, {"k": "s3cr3t-client"}], token: 1});
        scrubber.scrub_json(&mut json);
        assert_eq!(
            json,
            serde_json::json!({"a": ["[redacted]", {"k": "[redacted]"}], "[redacted]": 1})
        );
    }

    #[test]
    fn an_event_survives_the_scrubbing_round_trip() {
        let scrubber = Scrubber::new(["client-secret-value"]);
        let mut fields = BTreeMap::new();
        fields.insert("message".into(), messages::REFRESH_FAILED.into());
        fields.insert("error".into(), "bad client-secret-value".into());
        let event = alert_event(AlertKind::RefreshFailed, &fields, Some(3));
        let id = event.event_id;
        let scrubbed = scrubber.scrub_event(event).expect("round trip");
        assert_eq!(scrubbed.event_id, id);
        assert_eq!(scrubbed.level, SentryLevel::Warning);
        assert_eq!(
            scrubbed.message.as_deref(),
            Some("[Zoho Token] ❌ Failed to refresh token: bad [redacted]")
        );
        assert_eq!(
            scrubbed.extra.get("previous_streak_count"),
            Some(&Value::from(3))
        );
    }
}
