//! The Desk client's metrics carry what the dashboards need and no secret.

mod common;

use common::portal;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use zoho_desk_api::{PageRequest, TicketFilter};

#[tokio::test]
async fn metrics_count_requests_and_401s_by_recovery_and_the_auth_retry() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let p = portal().await;
    p.desk
        .list_tickets(&TicketFilter::default(), PageRequest::first(5))
        .await
        .unwrap();
    p.sim.invalidate_access_tokens();
    p.desk
        .list_tickets(&TicketFilter::default(), PageRequest::first(5))
        .await
        .unwrap();
    let token = p.tokens.token().await.unwrap();

    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, labels: &[(&str, &str)]| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let key = key.key();
            (key.name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v)))
            .then_some(value)
        })
    };
    assert_eq!(
        find(
            "zoho_desk_requests_total",
            &[
                ("endpoint", "/tickets"),
                ("method", "GET"),
                ("status_class", "2xx")
            ]
        ),
        Some(&DebugValue::Counter(2))
    );
    assert_eq!(
        find(
            "zoho_desk_requests_total",
            &[("endpoint", "/tickets"), ("status_class", "4xx")]
        ),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        find(
            "zoho_desk_unauthorized_total",
            &[("error_code", "INVALID_OAUTH"), ("recovered", "true")]
        ),
        Some(&DebugValue::Counter(1))
    );
    // The retry is zoho-auth's 401 rule, counted where the dashboard's auth-retries panel looks.
    assert_eq!(
        find("zoho_token_auth_retries_total", &[("recovered", "true")]),
        Some(&DebugValue::Counter(1))
    );
    assert!(matches!(
        find("zoho_desk_credits_remaining", &[]),
        Some(DebugValue::Gauge(_))
    ));
    assert!(matches!(
        find("zoho_desk_request_duration_seconds", &[("endpoint", "/tickets")]),
        Some(DebugValue::Histogram(samples)) if samples.len() == 3
    ));
    let rendered: String = snapshot
        .iter()
        .map(|(key, _, _, _)| format!("{:?}\n", key.key()))
        .collect();
    assert!(!rendered.contains(token.expose_secret()));
    assert!(!rendered.contains(zoho_sim::DEFAULT_CLIENT_SECRET));
}
