//! No token or secret in any Debug/Display output, log line or metric; and the log lines and
//! metrics that operators rely on are actually emitted.

mod harness;

use std::io::Write;
use std::sync::{Arc, Mutex};

use harness::{HOUR, Harness};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use zoho_auth::store::{InMemoryStore, TokenStore};
use zoho_auth::{AccessToken, Credentials, RefreshError, TokenError, TokenManager, ZohoEndpoints};
use zoho_sim::{DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, Fault, Route, Times};

const FALLBACK: &str = "1000.fa11bac0000000000000000000000000.0000000000000000000000000000beef";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} contains a secret ({}…)",
            &secret[..8]
        );
    }
}

#[test]
fn debug_and_display_of_secret_holding_types_show_no_secret() {
    let credentials = Credentials::new(
        "1000.CLIENT",
        "client-secret-value-1234567890",
        "1000.refresh0token0value.abcdef0123456789",
    );
    let token =
        AccessToken::new("1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210");
    let secrets = [
        "client-secret-value-1234567890".to_owned(),
        "1000.refresh0token0value.abcdef0123456789".to_owned(),
        token.expose_secret().to_owned(),
    ];
    let shown = [
        format!("{credentials:?}"),
        format!("{token:?}"),
        format!("{token}"),
    ];
    for text in &shown {
        assert_no_secret("Debug/Display", text, &secrets);
    }
    assert_eq!(format!("{token}"), "1000.0123456789a…");
    assert!(
        shown[0].contains("1000.CLIENT"),
        "the client id is not secret: {}",
        shown[0]
    );
}

#[tokio::test(start_paused = true)]
async fn logs_metrics_status_and_errors_carry_no_secret_and_the_expected_events() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    zoho_auth::telemetry::describe();

    let h = Harness::with_fallback(Some(FALLBACK)).await;
    let mut secrets = vec![
        DEFAULT_CLIENT_SECRET.to_owned(),
        DEFAULT_REFRESH_TOKEN.to_owned(),
        FALLBACK.to_owned(),
    ];
    let mut shown = Vec::new();

    // Cold start, a 401 answered by invalidate-refresh-retry, a forced refresh.
    let first = h.manager.token().await.unwrap();
    secrets.push(first.expose_secret().to_owned());
    shown.push(format!(
        "{first:?} {:?} {:?}",
        h.manager,
        h.manager.status()
    ));
    let retried = h
        .manager
        .with_token(
            |token| async move {
                if token.generation() == 1 {
                    Err("401")
                } else {
                    Ok(token)
                }
            },
            |e| *e == "401",
        )
        .await
        .unwrap();
    secrets.push(retried.expose_secret().to_owned());
    let forced = h.manager.force_refresh().await.unwrap();
    secrets.push(forced.expose_secret().to_owned());
    // Accounts fails until the token expires: the fallback takes over.
    h.sim
        .inject(Route::Token, Fault::Status { status: 503 }, Times::Always);
    h.advance(HOUR).await;
    let fallback = h.manager.token().await.unwrap();
    assert!(fallback.is_fallback());
    shown.push(format!("{fallback:?} {:?}", h.manager.status()));
    // The refresh token is revoked: a permanent failure.
    h.sim.clear_faults();
    h.sim.revoke_refresh_token(DEFAULT_REFRESH_TOKEN);
    h.advance(10 * harness::MINUTE).await;
    let permanent = h.manager.force_refresh().await.unwrap_err();
    shown.push(format!(
        "{permanent} {permanent:?} {:?}",
        h.manager.status()
    ));

    let log_text = logs.text();
    assert_no_secret("logs", &log_text, &secrets);
    for text in &shown {
        assert_no_secret("Debug output", text, &secrets);
    }
    for line in [
        "[Zoho Token] Refreshing access token...",
        "[Zoho Token] ✅ Token refreshed successfully",
        "[Zoho Token] New token expires in: 3600 seconds",
        "[Zoho Token] ❌ Failed to refresh token",
        "[Zoho Token] Falling back to static token",
        "[Zoho Token] Access token rejected; refreshing and retrying once...",
    ] {
        assert!(log_text.contains(line), "missing log line {line:?}");
    }

    let metrics: Vec<_> = snapshotter.snapshot().into_vec();
    let mut rendered = String::new();
    let value_of = |name: &str, labels: &[(&str, &str)]| {
        metrics.iter().find_map(|(key, _, _, value)| {
            let key = key.key();
            let matches = key.name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v));
            matches.then_some(value)
        })
    };
    for (key, _, _, _) in &metrics {
        rendered.push_str(&format!("{:?}\n", key.key()));
    }
    assert_no_secret("metric keys and labels", &rendered, &secrets);
    harness::assert_every_metric_described(&metrics);
    assert_eq!(
        value_of(
            "zoho_token_refresh_total",
            &[("outcome", "success"), ("reason", "cold_start")]
        ),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        value_of(
            "zoho_token_refresh_total",
            &[("outcome", "success"), ("reason", "invalidated")]
        ),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        value_of(
            "zoho_token_refresh_total",
            &[("outcome", "success"), ("reason", "forced")]
        ),
        Some(&DebugValue::Counter(1))
    );
    assert!(matches!(
        value_of("zoho_token_refresh_errors_total", &[("error", "server_error")]),
        Some(DebugValue::Counter(n)) if *n >= 1
    ));
    assert_eq!(
        value_of(
            "zoho_token_refresh_errors_total",
            &[("error", "invalid_code")]
        ),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        value_of("zoho_token_permanent_failure", &[]),
        Some(&DebugValue::Gauge(1.0.into()))
    );
    assert_eq!(
        value_of("zoho_token_fallback_active", &[]),
        Some(&DebugValue::Gauge(1.0.into()))
    );
    assert_eq!(
        value_of("zoho_token_invalidations_total", &[("result", "dropped")]),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        value_of("zoho_token_auth_retries_total", &[("recovered", "true")]),
        Some(&DebugValue::Counter(1))
    );
    assert!(matches!(
        value_of("zoho_token_refresh_duration_seconds", &[("outcome", "success")]),
        Some(DebugValue::Histogram(samples)) if samples.len() == 3
    ));
}

#[test]
fn error_messages_name_the_problem_and_never_a_secret() {
    let errors = [
        RefreshError::RevokedRefreshToken,
        RefreshError::InvalidClient,
        RefreshError::InvalidClientSecret,
        RefreshError::Throttled,
        RefreshError::ServerError { status: 502 },
        RefreshError::BudgetExhausted {
            limit: 10,
            window: std::time::Duration::from_secs(600),
        },
    ];
    for error in errors {
        let wrapped = TokenError::Unavailable {
            cause: error.clone(),
            retry_after: None,
        };
        assert!(wrapped.to_string().contains(&error.to_string()));
    }
    assert!(
        RefreshError::RevokedRefreshToken
            .to_string()
            .contains("re-consent")
    );
    assert!(
        RefreshError::InvalidClient
            .to_string()
            .contains("data centre")
    );
    // The endpoints type refuses URLs that embed credentials, so none can reach a log.
    assert!(
        ZohoEndpoints::custom(
            "https://user:secret@accounts.zoho.com",
            "https://desk.zoho.com/api/v1"
        )
        .is_err()
    );
}

/// The fleet path's metrics are described too: two replicas share one store, so one refreshes
/// under the lock while the other waits and adopts its token.
#[tokio::test(start_paused = true)]
async fn fleet_metrics_are_described() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    zoho_auth::telemetry::describe();

    let h = Harness::start().await;
    let store: Arc<dyn TokenStore> = Arc::new(InMemoryStore::new());
    let endpoints = h.manager.endpoints().clone();
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            TokenManager::builder(
                harness::credentials(DEFAULT_REFRESH_TOKEN),
                endpoints.clone(),
            )
            .token_store(store.clone())
            .build()
        })
        .collect();
    let (first, second) = tokio::join!(replicas[0].token(), replicas[1].token());
    assert_eq!(
        first.unwrap().expose_secret(),
        second.unwrap().expose_secret()
    );

    let metrics = snapshotter.snapshot().into_vec();
    let recorded = |name: &str| metrics.iter().any(|(key, ..)| key.key().name() == name);
    assert!(recorded("zoho_token_store_lock_total"));
    assert!(recorded("zoho_token_store_adopted_total"));
    harness::assert_every_metric_described(&metrics);
}
