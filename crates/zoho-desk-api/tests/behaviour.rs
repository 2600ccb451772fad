//! How the client behaves under Zoho's rules and failures: pagination, the 401 rule, limits,
//! and which calls may be retried.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Portal, portal, portal_with};
use futures::{StreamExt, TryStreamExt};
use zoho_desk_api::{
    Department, DeskError, ErrorCode, Page, PageRequest, Side, TicketFilter, TicketUpdate,
    TransportKind,
};
use zoho_sim::testing::FrozenClock;
use zoho_sim::{DEFAULT_CLIENT_ID, Fault, PROJECT_SCOPES, RefreshGrant, Route, SimConfig, Times};

/// `n` department listings at once, each on its own task; their results, in order.
async fn list_departments_concurrently(
    p: &Portal,
    n: usize,
) -> Vec<Result<Page<Department>, DeskError>> {
    let desk = Arc::new(p.desk.clone());
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let desk = desk.clone();
            tokio::spawn(async move { desk.list_departments(PageRequest::first(10)).await })
        })
        .collect();
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.unwrap());
    }
    results
}

/// Every ticket, walked page by page with pages of `page_size`.
async fn every_ticket(p: &Portal, page_size: u32) -> Vec<zoho_desk_api::Ticket> {
    p.desk
        .tickets(&TicketFilter::default(), page_size)
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn walking_250_tickets_takes_3_pages_of_100_or_250_pages_of_1() {
    let p = portal().await;
    let total = p.sim.ticket_count();
    assert!(total >= 250);
    let by_hundred = every_ticket(&p, 100).await;
    assert_eq!(by_hundred.len(), total);
    let pages_of_100 = p.calls("GET /tickets", 200) + p.calls("GET /tickets", 204);
    assert_eq!(
        pages_of_100,
        total.div_ceil(100) as u64 + u64::from(total % 100 == 0)
    );

    let by_one = every_ticket(&p, 1).await;
    assert_eq!(by_one.len(), total);
    let ids = |tickets: &[zoho_desk_api::Ticket]| {
        tickets
            .iter()
            .map(|t| t.id.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&by_one), ids(&by_hundred), "same tickets, same order");
    // A page past the end is HTTP 204 with no body: an empty page, not an error.
    let past = p
        .desk
        .list_tickets(&TicketFilter::default(), PageRequest::new(10_000, 100))
        .await
        .unwrap();
    assert!(past.data.is_empty());
}

#[tokio::test]
async fn limits_outside_1_to_100_are_refused_before_sending() {
    let p = portal().await;
    let before = p.sim.stats().desk_requests;
    for limit in [0, 101] {
        let error = p
            .desk
            .list_tickets(&TicketFilter::default(), PageRequest::first(limit))
            .await
            .unwrap_err();
        assert!(matches!(error, DeskError::InvalidInput(_)), "{error}");
        assert_eq!(error.side(), Side::Caller);
    }
    let two_hundred = p
        .desk
        .list_threads(&"1".into(), PageRequest::first(200))
        .await;
    assert!(
        !matches!(two_hundred, Err(DeskError::InvalidInput(_))),
        "200 is a valid thread page size"
    );
    let threads_201 = p
        .desk
        .list_threads(&"1".into(), PageRequest::first(201))
        .await
        .unwrap_err();
    assert!(matches!(threads_201, DeskError::InvalidInput(_)));
    assert_eq!(
        p.sim.stats().desk_requests,
        before + 1,
        "only the 200-thread page was sent"
    );
}

#[tokio::test]
async fn a_token_revoked_mid_stream_recovers_with_exactly_one_refresh() {
    let p = portal().await;
    let filter = TicketFilter::default();
    let mut stream = p.desk.tickets(&filter, 100).boxed_local();
    let mut seen = 0;
    while let Some(ticket) = stream.next().await {
        ticket.expect("every page arrives");
        seen += 1;
        if seen == 100 {
            // Zoho invalidates the token between two pages.
            assert!(p.sim.invalidate_access_tokens() >= 1);
        }
    }
    assert_eq!(seen, p.sim.ticket_count());
    assert_eq!(
        p.sim.token_calls(),
        2,
        "the first token and exactly one refresh"
    );
    assert_eq!(p.sim.stats().count("GET /tickets", 401), 1);
}

#[tokio::test]
async fn scope_mismatch_is_permanent_and_causes_no_refresh() {
    let config = SimConfig::default();
    let p = portal_with(config, "1000.basic.only", |b| b).await;
    p.sim.add_grant(RefreshGrant {
        client_id: DEFAULT_CLIENT_ID.into(),
        refresh_token: "1000.basic.only".into(),
        scopes: vec!["Desk.basic.READ".into()],
    });
    for _ in 0..3 {
        let error = p
            .desk
            .list_tickets(&TicketFilter::default(), PageRequest::first(10))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Some(&ErrorCode::ScopeMismatch));
        assert!(!error.is_retryable());
    }
    assert_eq!(
        p.sim.token_calls(),
        1,
        "only the first token: SCOPE_MISMATCH never refreshes"
    );
    // The scopes it has still work.
    assert!(
        p.desk
            .list_departments(PageRequest::first(10))
            .await
            .is_ok()
    );
    assert!(PROJECT_SCOPES.contains(&"Desk.tickets.ALL"));
}

#[tokio::test]
async fn another_orgs_id_is_a_permanent_org_mismatch() {
    let sim_config = SimConfig::default();
    let other_org = sim_config.desk.other_org_id.clone();
    let p = portal_with(sim_config, zoho_sim::DEFAULT_REFRESH_TOKEN, |b| b).await;
    let wrong =
        zoho_desk_api::DeskClient::builder(p.sim.desk_url(), other_org.as_str(), p.tokens.clone())
            .build();
    let error = wrong
        .list_tickets(&TicketFilter::default(), PageRequest::first(10))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&ErrorCode::OauthOrgMismatch));
    assert_eq!(p.sim.token_calls(), 1, "no refresh for an org mismatch");
}

#[tokio::test(start_paused = true)]
async fn a_ticket_creation_that_times_out_is_not_retried() {
    let clock = FrozenClock::new(Duration::from_secs(120));
    let p = portal_with(SimConfig::default(), zoho_sim::DEFAULT_REFRESH_TOKEN, |b| {
        b.timeout(Duration::from_secs(5))
    })
    .await;
    let new = p.new_ticket_like_first("Exactly once").await;
    // Zoho takes 20 s: the client gives up after 5 s, Zoho creates the ticket anyway.
    p.sim.inject(
        Route::Desk,
        Fault::latency(Duration::from_secs(20)),
        Times::Next(1),
    );
    let desk = p.desk.clone();
    let create = tokio::spawn(async move { desk.create_ticket(&new).await });
    clock.advance(Duration::from_secs(6)).await;
    let error = create.await.unwrap().unwrap_err();
    assert!(
        matches!(
            error,
            DeskError::Transport {
                kind: TransportKind::Timeout
            }
        ) && error.maybe_delivered(),
        "{error}"
    );
    clock.advance(Duration::from_secs(30)).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        p.sim.tickets_with_subject("Exactly once"),
        1,
        "created once, never twice"
    );
    assert_eq!(p.sim.desk_calls("POST /tickets"), 1);
}

#[tokio::test]
async fn a_5xx_is_retried_for_get_but_not_for_post() {
    let p = portal().await;
    p.sim
        .inject(Route::Desk, Fault::Status { status: 502 }, Times::Next(1));
    let page = p
        .desk
        .list_departments(PageRequest::first(10))
        .await
        .unwrap();
    assert!(!page.data.is_empty());
    assert_eq!(
        p.sim.desk_calls("GET /departments"),
        2,
        "one 502, one retry"
    );

    let new = p.new_ticket_like_first("Once after 502").await;
    p.sim
        .inject(Route::Desk, Fault::Status { status: 502 }, Times::Next(1));
    let error = p.desk.create_ticket(&new).await.unwrap_err();
    assert_eq!(error.status(), Some(502));
    assert!(
        error.is_retryable(),
        "the caller may decide to retry; the client does not"
    );
    assert_eq!(p.sim.desk_calls("POST /tickets"), 1);
}

/// The emulator answers the next Desk call 429 `TOO_MANY_REQUESTS` (a concurrency refusal,
/// which Zoho gives before acting).
fn answer_next_with_too_many_requests(p: &Portal) {
    let busy = r#"{"errorCode":"TOO_MANY_REQUESTS","message":"Too many concurrent requests"}"#;
    p.sim.inject(
        Route::Desk,
        Fault::Respond {
            status: 429,
            body: busy.into(),
        },
        Times::Next(1),
    );
}

/// PATCH is not idempotent in Zoho's eyes either way it is read, so it is resent only after
/// the answers Zoho gives before acting (401 INVALID_OAUTH, 429), never after a 5xx or a
/// dropped connection; POST follows the same rule.
#[tokio::test]
async fn patch_and_post_are_resent_only_after_answers_given_before_zoho_acts() {
    let p = portal().await;
    let id = p.first_ticket().await.id.expect("ticket id");
    let update = TicketUpdate {
        status: Some("On Hold".into()),
        ..TicketUpdate::default()
    };
    let patches = || p.sim.desk_calls("PATCH /tickets/{id}");

    p.sim
        .inject(Route::Desk, Fault::Status { status: 503 }, Times::Next(1));
    assert_eq!(
        p.desk
            .update_ticket(&id, &update)
            .await
            .unwrap_err()
            .status(),
        Some(503)
    );
    assert_eq!(patches(), 1, "a 5xx after a PATCH is not resent");

    p.sim.inject(Route::Desk, Fault::Drop, Times::Next(1));
    assert!(p.desk.update_ticket(&id, &update).await.is_err());
    assert_eq!(patches(), 2, "a dropped PATCH is not resent");

    answer_next_with_too_many_requests(&p);
    p.desk
        .update_ticket(&id, &update)
        .await
        .expect("resent after 429");
    assert_eq!(patches(), 4, "a 429 PATCH is resent once");

    // Zoho drops the access token: the PATCH is answered 401 INVALID_OAUTH, then resent with
    // a fresh token. The same holds for a POST.
    p.sim.invalidate_access_tokens();
    p.desk
        .update_ticket(&id, &update)
        .await
        .expect("resent after 401");
    assert_eq!(patches(), 6, "a 401 PATCH is resent once");
    let new = p.new_ticket_like_first("Resent after 401").await;
    p.sim.invalidate_access_tokens();
    let posts_before = p.sim.desk_calls("POST /tickets");
    p.desk.create_ticket(&new).await.expect("resent after 401");
    assert_eq!(p.sim.desk_calls("POST /tickets") - posts_before, 2);
}

#[tokio::test]
async fn too_many_requests_is_retried_and_threshold_exceeded_is_returned_with_retry_after() {
    let p = portal().await;
    answer_next_with_too_many_requests(&p);
    assert!(p.desk.list_agents(PageRequest::first(10)).await.is_ok());
    assert_eq!(p.sim.desk_calls("GET /agents"), 2);

    p.sim.set_desk_daily_credits(0);
    let error = p
        .desk
        .list_agents(PageRequest::first(10))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&ErrorCode::ThresholdExceeded));
    assert!(
        error
            .retry_after()
            .is_some_and(|r| r > Duration::from_secs(30)),
        "{:?}",
        error.retry_after()
    );
    assert_eq!(
        p.sim.desk_calls("GET /agents"),
        3,
        "a wait of hours is left to the caller"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_against_a_portal_limit_of_10_see_no_429() {
    let p = portal().await;
    p.sim.set_desk_concurrency_limit(10);
    p.sim.inject(
        Route::Desk,
        Fault::latency(Duration::from_millis(20)),
        Times::Always,
    );
    let calls = list_departments_concurrently(&p, 50).await;
    for call in calls {
        call.expect("no call fails");
    }
    assert_eq!(p.answers_with_status(429), 0);
    assert_eq!(p.sim.desk_calls("GET /departments"), 50);
    assert!(
        p.sim.desk_peak_concurrency() <= 10,
        "peak {}",
        p.sim.desk_peak_concurrency()
    );
    assert!(
        p.sim.desk_peak_concurrency() >= 5,
        "the calls really overlapped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_cap_the_emulator_does_answer_429() {
    // The control for the test above: the emulator's limit is real.
    let p = portal_with(SimConfig::default(), zoho_sim::DEFAULT_REFRESH_TOKEN, |b| {
        b.max_concurrency(50).max_retries(0)
    })
    .await;
    p.sim.set_desk_concurrency_limit(10);
    p.sim.inject(
        Route::Desk,
        Fault::latency(Duration::from_millis(50)),
        Times::Always,
    );
    p.tokens.token().await.unwrap();
    let calls = list_departments_concurrently(&p, 50).await;
    let mut refused = 0;
    for call in calls {
        if let Err(error) = call {
            assert_eq!(error.code(), Some(&ErrorCode::TooManyRequests));
            refused += 1;
        }
    }
    assert!(refused > 0);
    assert_eq!(p.answers_with_status(429), refused);
}
