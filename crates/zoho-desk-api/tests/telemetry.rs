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
    zoho_desk_api::telemetry::describe();
    zoho_auth::telemetry::describe();
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
    // Every metric recorded — the client's own and the token metrics of its 401 rule — is
    // described, with the labels it is recorded with.
    let catalogue = || {
        zoho_desk_api::telemetry::METRICS
            .iter()
            .chain(zoho_auth::telemetry::METRICS)
    };
    for (key, _, description, _) in &snapshot {
        let key = key.key();
        let entry = catalogue().find(|m| m.name == key.name());
        assert!(
            entry.is_some() && description.is_some(),
            "{} is recorded undescribed",
            key.name()
        );
        assert!(
            key.labels()
                .all(|label| entry.is_some_and(|m| m.labels.contains(&label.key()))),
            "{key:?} has an undeclared label"
        );
    }
    let rendered: String = snapshot
        .iter()
        .map(|(key, _, _, _)| format!("{:?}\n", key.key()))
        .collect();
    assert!(!rendered.contains(token.expose_secret()));
    assert!(!rendered.contains(zoho_sim::DEFAULT_CLIENT_SECRET));
}
