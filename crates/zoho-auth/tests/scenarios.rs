//! The refresh core's scenario suite: the token manager against the Zoho emulator over real
//! loopback sockets, with tokio's clock paused so that hours of token life run in milliseconds.
//!
//! Every scenario asserts on what reached the emulator (its counters), not on what the manager
//! believes. Each prints one `SCENARIO` line with the emulator calls it observed.

mod harness;

use std::time::Duration;

use futures::FutureExt;
use harness::{HOUR, Harness, MINUTE, SECOND};
use zoho_auth::{RefreshError, TokenError, TokenState};
use zoho_sim::{
    DEFAULT_REFRESH_TOKEN, Fault, RefreshGrant, Route, ThrottleStyle, Times, TokenStatus,
};

#[tokio::test(start_paused = true)]
async fn cold_start_with_1000_concurrent_callers_makes_one_refresh() {
    let h = Harness::start().await;
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let manager = h.manager.clone();
            tokio::spawn(async move { manager.token().await })
        })
        .collect();
    let mut generations = Vec::new();
    for caller in callers {
        generations.push(caller.await.unwrap().expect("token").generation());
    }
    assert!(
        generations.iter().all(|g| *g == 1),
        "every caller got the one refreshed token"
    );
    assert_eq!(h.sim.token_calls(), 1);
    h.report("cold start, 1000 concurrent callers");
}

/// A cancelled caller cancels nothing: every caller waiting on a cold-start refresh is aborted
/// while Zoho is still answering, the refresh completes anyway, and the next caller gets its
/// token from the cache, with no second call to Zoho.
#[tokio::test(start_paused = true)]
async fn callers_aborted_mid_refresh_cancel_nothing() {
    let h = Harness::start().await;
    h.sim.inject(
        Route::Token,
        Fault::latency(Duration::from_secs(2)),
        Times::Next(1),
    );
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let manager = h.manager.clone();
            tokio::spawn(async move { manager.token().await })
        })
        .collect();
    // Synchronise on the event: the one refresh is inside the emulator.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while h.sim.in_flight() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no refresh reached Zoho"
        );
        tokio::task::yield_now().await;
    }
    for caller in &callers {
        caller.abort();
    }
    for caller in callers {
        assert!(caller.await.unwrap_err().is_cancelled());
    }
    // Past Zoho's 2 s latency in one step (the harness's settling steps would wait on the
    // emulator's sleep), then on the event: the manager holds a token.
    tokio::time::advance(3 * SECOND).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while h.manager.status().state == TokenState::Refreshing || h.sim.in_flight() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the refresh never finished"
        );
        tokio::task::yield_now().await;
    }
    let token = h
        .manager
        .token()
        .now_or_never()
        .expect("the refresh finished without its callers: no wait")
        .expect("a token");
    assert_eq!(token.generation(), 1);
    let stats = h.sim.stats();
    assert_eq!((stats.token_requests, stats.tokens_minted), (1, 1));
    h.report("callers aborted mid-refresh");
}

/// A late 401 on a token that has since been replaced drops nothing: the newer token stays,
/// and no refresh follows.
#[tokio::test(start_paused = true)]
async fn a_401_on_an_old_token_never_invalidates_a_newer_one() {
    let h = Harness::start().await;
    let old = h.manager.token().await.unwrap().access_token().clone();
    let newer = h.manager.force_refresh().await.unwrap();
    assert_eq!(newer.generation(), 2);
    assert!(
        !h.manager.invalidate(&old),
        "the rejected token is not the current one"
    );
    let current = h.manager.token().now_or_never().expect("no wait").unwrap();
    assert_eq!(current.generation(), 2, "the newer token survived");
    h.advance(MINUTE).await;
    assert_eq!(h.sim.token_calls(), 2, "no refresh followed the stale 401");

    assert!(
        h.manager.invalidate(current.access_token()),
        "the current one is dropped"
    );
    assert_eq!(h.manager.token().await.unwrap().generation(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_day_at_steady_load_refreshes_once_an_hour_and_never_makes_a_caller_wait() {
    let h = Harness::start().await;
    let first = h.manager.token().await.expect("first token");
    let mut max_live = 0;
    let mut calls = 0;
    // A caller every 10 simulated seconds for 24 hours.
    for _ in 0..(24 * 360) {
        h.advance(10 * SECOND).await;
        let token = h
            .manager
            .token()
            .now_or_never()
            .expect("a caller waited on the network")
            .expect("token");
        assert!(
            matches!(
                h.sim.introspect(token.expose_secret()),
                TokenStatus::Valid { .. }
            ),
            "handed out a token the emulator does not accept at {:?}",
            h.sim.now()
        );
        max_live = max_live.max(h.sim.live_tokens(DEFAULT_REFRESH_TOKEN));
        calls += 1;
    }
    let minted = h.sim.stats().tokens_minted;
    // The first token, then one refresh per token lifetime (59–60 min with margin and jitter).
    let refreshes = minted - 1;
    assert!(
        (23..=25).contains(&refreshes),
        "{refreshes} refreshes in 24 h, want 24 ± 1"
    );
    assert_eq!(h.sim.token_calls(), minted, "no failed or throttled calls");
    assert_eq!(
        h.sim.evicted_tokens(),
        0,
        "live-token cap of {} hit",
        h.sim.live_token_cap()
    );
    assert!(
        max_live <= 2,
        "at most the current and the previous token live, saw {max_live}"
    );
    assert!(first.generation() < h.manager.token().await.unwrap().generation());
    println!("SCENARIO steady load 24 h: {calls} callers, max live tokens {max_live}");
    h.report("steady load 24 h");
}

#[tokio::test(start_paused = true)]
async fn accounts_down_for_30_minutes_is_invisible_until_expiry_and_recovery_is_prompt() {
    let h = Harness::start().await;
    let first = h.manager.token().await.unwrap();
    // Accounts goes down 55 minutes in, before the proactive refresh, for 30 minutes.
    h.advance(55 * MINUTE).await;
    h.sim
        .inject(Route::Token, Fault::Status { status: 503 }, Times::Always);
    let outage_start = h.sim.token_calls();
    let mut call_log = Vec::new();
    let mut saw_backoff = false;
    let mut elapsed = Duration::ZERO;
    while elapsed < 30 * MINUTE {
        h.advance(5 * SECOND).await;
        elapsed += 5 * SECOND;
        call_log.push((elapsed, h.sim.token_calls()));
        let still_valid = first.remaining().is_some_and(|r| r > 5 * SECOND);
        let result = if still_valid {
            // While the token is valid, no caller waits on the network.
            h.manager
                .token()
                .now_or_never()
                .expect("a caller waited while the token was valid")
        } else {
            // Past expiry a caller may wait for the one shared attempt, which fails fast.
            h.manager.token().await
        };
        match result {
            Ok(token) => {
                assert!(still_valid, "handed out a token past its expiry");
                assert_eq!(token.generation(), first.generation());
            }
            Err(error) => {
                assert!(
                    !still_valid,
                    "a caller failed while the token was still valid: {error}"
                );
                // The 503 itself, or the budget refusing to spend more attempts on it.
                assert!(
                    matches!(
                        error.cause(),
                        Some(
                            RefreshError::ServerError { status: 503 }
                                | RefreshError::BudgetExhausted { .. }
                        )
                    ),
                    "{error}"
                );
                assert!(error.retry_after().is_some());
            }
        }
        saw_backoff |= h.manager.status().state == TokenState::BackingOff;
    }
    assert!(saw_backoff, "backoff visible in the status");
    let outage_calls = h.sim.token_calls() - outage_start;
    assert_window_budget(&call_log, 10, 10 * MINUTE);
    assert!(
        outage_calls >= 3,
        "retried during the outage ({outage_calls} calls)"
    );

    h.sim.clear_faults();
    let mut recovered_after = None;
    for step in 1..=120 {
        h.advance(5 * SECOND).await;
        if let Some(Ok(token)) = h.manager.token().now_or_never() {
            assert!(token.generation() > first.generation());
            recovered_after = Some(step * 5 * SECOND);
            break;
        }
        // A caller whose demand reaches an idle driver waits for that one refresh.
        if let Ok(token) = h.manager.token().await {
            assert!(token.generation() > first.generation());
            recovered_after = Some(step * 5 * SECOND);
            break;
        }
    }
    let recovered_after = recovered_after.expect("recovered after Accounts returned");
    // One backoff step: the cap (5 min) plus one caller interval.
    assert!(
        recovered_after <= 5 * MINUTE + 5 * SECOND,
        "recovered after {recovered_after:?}"
    );
    println!(
        "SCENARIO accounts down 30 min: {outage_calls} calls during the outage, recovered {}s after",
        recovered_after.as_secs()
    );
    h.report("accounts down 30 min");
}

#[tokio::test(start_paused = true)]
async fn a_hundred_concurrent_401s_on_one_token_make_one_refresh() {
    let h = Harness::start().await;
    let first = h.manager.token().await.unwrap();
    // Zoho stops accepting the token (its clock says it expired) while the manager still trusts it.
    h.sim.advance_clock(HOUR);
    let calls_before = h.sim.token_calls();
    let operations: Vec<_> = (0..100)
        .map(|_| {
            let manager = h.manager.clone();
            let sim = h.sim.clone();
            tokio::spawn(async move {
                manager
                    .with_token(
                        |token| {
                            let sim = sim.clone();
                            async move {
                                // Let every caller take the old token before any 401 comes back.
                                tokio::task::yield_now().await;
                                match sim.introspect(token.expose_secret()) {
                                    TokenStatus::Valid { .. } => Ok(token.generation()),
                                    status => Err(status),
                                }
                            }
                        },
                        |_status| true,
                    )
                    .await
            })
        })
        .collect();
    for operation in operations {
        let generation = operation.await.unwrap().expect("recovered after one retry");
        assert_eq!(generation, first.generation() + 1);
    }
    assert_eq!(h.sim.token_calls() - calls_before, 1);
    h.report("100 concurrent 401s");
}

#[tokio::test(start_paused = true)]
async fn a_revoked_refresh_token_is_permanent_and_stops_the_calls_until_forced() {
    let h = Harness::start().await;
    h.manager.token().await.unwrap();
    assert!(h.sim.revoke_refresh_token(DEFAULT_REFRESH_TOKEN));
    h.advance(HOUR).await; // the token expires; the proactive refresh meets invalid_code
    let calls_after_first_failure = h.sim.token_calls();
    assert_eq!(
        calls_after_first_failure, 2,
        "one refresh, then exactly one attempt after revocation"
    );
    let status = h.manager.status();
    assert_eq!(status.state, TokenState::FailedPermanently);
    assert_eq!(
        status.last_refresh.and_then(|l| l.error),
        Some(RefreshError::RevokedRefreshToken)
    );
    for _ in 0..(2 * 360) {
        h.advance(10 * SECOND).await;
        let error = h
            .manager
            .token()
            .now_or_never()
            .expect("no wait")
            .unwrap_err();
        assert_eq!(error.cause(), Some(&RefreshError::RevokedRefreshToken));
    }
    assert_eq!(
        h.sim.token_calls(),
        calls_after_first_failure,
        "no automatic retries"
    );
    // A forced refresh makes exactly one more attempt.
    let forced = h.manager.force_refresh().await.unwrap_err();
    assert_eq!(forced.cause(), Some(&RefreshError::RevokedRefreshToken));
    assert_eq!(h.sim.token_calls(), calls_after_first_failure + 1);
    // New credentials (after re-consent) recover.
    h.sim.add_grant(RefreshGrant {
        client_id: zoho_sim::DEFAULT_CLIENT_ID.into(),
        refresh_token: "1000.reconsented.refresh".into(),
        scopes: vec![],
    });
    h.manager
        .replace_credentials(harness::credentials("1000.reconsented.refresh"));
    h.manager.token().await.expect("token after re-consent");
    assert_eq!(h.manager.status().state, TokenState::Fresh);
    h.report("revoked refresh token");
}

#[tokio::test(start_paused = true)]
async fn access_denied_in_every_style_backs_off_for_zohos_window() {
    for style in ThrottleStyle::ALL {
        let h = Harness::start().await;
        h.sim.set_throttle_style(style);
        // Another process spends Zoho's window for this refresh token.
        harness::exhaust_zoho_window(&h.sim).await;
        let calls_before = h.sim.token_calls();
        let error = h.manager.token().await.unwrap_err();
        assert_eq!(error.cause(), Some(&RefreshError::Throttled), "{style:?}");
        assert!(
            error.retry_after().is_some_and(|r| r >= 9 * MINUTE),
            "{style:?}"
        );
        // For the rest of the window: callers fail fast, forced refreshes are refused, and
        // nothing reaches Zoho.
        for _ in 0..(9 * 6) {
            h.advance(10 * SECOND).await;
            assert!(h.manager.token().now_or_never().expect("no wait").is_err());
        }
        let forced = h
            .manager
            .force_refresh()
            .now_or_never()
            .expect("no wait")
            .unwrap_err();
        assert_eq!(forced.cause(), Some(&RefreshError::Throttled));
        assert_eq!(
            h.sim.token_calls() - calls_before,
            1,
            "{style:?}: silent during the window"
        );
        // After the window the next caller gets a token.
        h.advance(MINUTE + SECOND).await;
        h.manager
            .token()
            .await
            .unwrap_or_else(|e| panic!("{style:?}: {e}"));
        assert_eq!(h.sim.token_calls() - calls_before, 2, "{style:?}");
        assert_eq!(h.sim.stats().token_throttled, 1, "{style:?}");
        h.report(&format!("access denied {style:?}"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_ten_minute_storm_of_forced_refreshes_never_exceeds_the_budget() {
    let h = Harness::start().await;
    let mut succeeded = 0;
    let mut refused = 0;
    for _ in 0..600 {
        let storm: Vec<_> = (0..5)
            .map(|_| {
                let manager = h.manager.clone();
                tokio::spawn(async move { manager.force_refresh().await })
            })
            .collect();
        for forced in storm {
            match forced.await.unwrap() {
                Ok(_) => succeeded += 1,
                Err(TokenError::Unavailable {
                    cause: RefreshError::BudgetExhausted { .. },
                    ..
                }) => refused += 1,
                Err(other) => panic!("unexpected {other}"),
            }
        }
        h.advance(SECOND).await;
    }
    let calls = h.sim.token_calls();
    assert!(calls <= 10, "{calls} calls reached Zoho in 10 minutes");
    assert_eq!(calls, 10, "the budget was used, not starved");
    assert_eq!(h.sim.stats().token_throttled, 0, "Zoho never throttled us");
    assert!(refused > 0 && succeeded > 0);
    println!(
        "SCENARIO forced storm: 3000 forced refreshes, {succeeded} answered by a refresh, {refused} refused"
    );
    h.report("forced refresh storm 10 min");
}

#[tokio::test(start_paused = true)]
async fn the_legacy_millisecond_shape_gives_an_hour_not_forty_days() {
    let h = Harness::start().await;
    h.sim.set_legacy_expiry_shape(true);
    let token = h.manager.token().await.unwrap();
    let remaining = token.remaining().unwrap();
    assert!(
        remaining <= HOUR && remaining > HOUR - MINUTE,
        "{remaining:?}"
    );
    h.advance(HOUR - 15 * SECOND).await;
    assert_eq!(h.sim.token_calls(), 2, "refreshed before the hour was out");
    h.report("legacy millisecond expires_in");
}

#[tokio::test(start_paused = true)]
async fn a_failed_deadline_refresh_keeps_the_valid_token_and_a_deadline_is_honoured() {
    let h = Harness::start().await;
    let first = h.manager.token().await.unwrap();
    h.advance(40 * MINUTE).await;
    // 20 minutes left; a caller needs 30.
    let fresh = h.manager.token_valid_for(30 * MINUTE).await.unwrap();
    assert_eq!(fresh.generation(), first.generation() + 1);
    assert!(fresh.remaining().unwrap() >= 30 * MINUTE);
    // A failed refresh does not drop the valid token.
    h.sim
        .inject(Route::Token, Fault::Status { status: 500 }, Times::Next(1));
    let error = h.manager.force_refresh().await.unwrap_err();
    assert!(matches!(
        error.cause(),
        Some(RefreshError::ServerError { status: 500 })
    ));
    let still = h.manager.token().now_or_never().expect("no wait").unwrap();
    assert_eq!(still.generation(), fresh.generation());
    assert_eq!(h.sim.token_calls(), 3);
    h.report("deadline and failed forced refresh");
}

#[tokio::test(start_paused = true)]
async fn the_static_fallback_is_used_only_while_no_refreshed_token_exists() {
    let h = Harness::with_fallback(Some("1000.static0fallback0token0000000000000.0000")).await;
    let refreshed = h.manager.token().await.unwrap();
    assert!(
        !refreshed.is_fallback(),
        "a working refresh wins over the fallback"
    );
    h.sim
        .inject(Route::Token, Fault::Status { status: 502 }, Times::Always);
    h.advance(HOUR).await;
    let fallback = h.manager.token().await.unwrap();
    assert!(fallback.is_fallback());
    let status = h.manager.status();
    assert!(status.fallback && status.has_token);
    assert_eq!(status.token_preview.as_deref(), Some("1000.static0fall…"));
    h.sim.clear_faults();
    h.advance(6 * MINUTE).await;
    let back = h.manager.token().await.unwrap();
    assert!(
        !back.is_fallback(),
        "fallback dropped once a refresh succeeds: {:?}",
        h.manager.status()
    );
    assert!(!h.manager.status().fallback);
    // A fallback that Zoho rejects is not handed out again.
    h.sim
        .inject(Route::Token, Fault::Status { status: 502 }, Times::Always);
    h.advance(2 * HOUR).await;
    let fallback = h.manager.token().await.unwrap();
    assert!(fallback.is_fallback());
    h.manager.invalidate(fallback.access_token());
    assert!(h.manager.token().await.is_err());
    h.report("static fallback");
}

#[tokio::test(start_paused = true)]
async fn the_driver_stops_when_the_last_manager_is_dropped() {
    let h = Harness::start().await;
    h.manager.token().await.unwrap();
    let Harness {
        sim,
        manager,
        clock,
    } = h;
    drop(manager);
    clock.advance(3 * HOUR).await;
    assert_eq!(sim.token_calls(), 1, "no refresh after the owner went away");
}

/// Failure classification, one table: what the emulator answers, and what the manager must make
/// of it. Each case: the error, the state, and the calls that reach Zoho in the following hour.
#[tokio::test(start_paused = true)]
async fn every_token_endpoint_failure_is_classified() {
    struct Case {
        name: &'static str,
        fault: Option<Fault>,
        client_id: Option<&'static str>,
        client_secret: Option<&'static str>,
        error: fn(&RefreshError) -> bool,
        state: TokenState,
        /// Most calls allowed in the hour after the first failure (the budget is 10 per 10 min).
        max_calls_in_hour: u64,
    }
    let respond = |status: u16, body: &str| {
        Some(Fault::Respond {
            status,
            body: body.into(),
        })
    };
    let cases = [
        Case {
            name: "invalid_client with HTTP 200",
            fault: None,
            client_id: Some("1000.UNKNOWN"),
            client_secret: None,
            error: |e| *e == RefreshError::InvalidClient,
            state: TokenState::FailedPermanently,
            max_calls_in_hour: 1,
        },
        Case {
            name: "invalid_client_secret with HTTP 200",
            fault: None,
            client_id: None,
            client_secret: Some("wrong-secret"),
            error: |e| *e == RefreshError::InvalidClientSecret,
            state: TokenState::FailedPermanently,
            max_calls_in_hour: 1,
        },
        Case {
            name: "invalid_code with HTTP 200",
            fault: respond(200, r#"{"error":"invalid_code"}"#),
            client_id: None,
            client_secret: None,
            error: |e| *e == RefreshError::RevokedRefreshToken,
            state: TokenState::FailedPermanently,
            max_calls_in_hour: 1,
        },
        Case {
            name: "body without access_token or error",
            fault: respond(200, r#"{"status":"success"}"#),
            client_id: None,
            client_secret: None,
            error: |e| matches!(e, RefreshError::Malformed { status: 200, .. }),
            state: TokenState::BackingOff,
            max_calls_in_hour: 60,
        },
        Case {
            name: "5xx with an HTML body",
            fault: Some(Fault::Status { status: 502 }),
            client_id: None,
            client_secret: None,
            error: |e| *e == RefreshError::ServerError { status: 502 },
            state: TokenState::BackingOff,
            max_calls_in_hour: 60,
        },
        Case {
            name: "dropped connection",
            fault: Some(Fault::Drop),
            client_id: None,
            client_secret: None,
            error: |e| matches!(e, RefreshError::Transport(_)),
            state: TokenState::BackingOff,
            max_calls_in_hour: 60,
        },
        Case {
            name: "HTML throttle page with HTTP 200",
            fault: Some(Fault::Throttle {
                style: ThrottleStyle::Html,
            }),
            client_id: None,
            client_secret: None,
            error: |e| *e == RefreshError::Throttled,
            state: TokenState::BackingOff,
            max_calls_in_hour: 6,
        },
    ];
    for case in cases {
        let h = Harness::custom(case.client_id, case.client_secret, None).await;
        if let Some(fault) = &case.fault {
            h.sim.inject(Route::Token, fault.clone(), Times::Always);
        }
        let error = h.manager.token().await.unwrap_err();
        let cause = error.cause().expect("a refresh error");
        assert!((case.error)(cause), "{}: got {cause:?}", case.name);
        assert_eq!(h.manager.status().state, case.state, "{}", case.name);
        assert!(
            !cause.to_string().contains(zoho_sim::DEFAULT_CLIENT_SECRET),
            "{}",
            case.name
        );
        let mut call_log = Vec::new();
        let mut elapsed = Duration::ZERO;
        while elapsed < HOUR {
            h.advance(10 * SECOND).await;
            elapsed += 10 * SECOND;
            // A caller every 10 s keeps demanding a token.
            let _ = h.manager.token().await;
            call_log.push((elapsed, h.sim.token_calls()));
        }
        let calls = h.sim.token_calls() - 1;
        assert!(
            calls <= case.max_calls_in_hour,
            "{}: {calls} calls in the hour",
            case.name
        );
        assert_window_budget(&call_log, 10, 10 * MINUTE);
        println!(
            "SCENARIO classification {}: {} calls in the following hour",
            case.name, calls
        );
    }
}

/// Fails unless no `window` of the log holds more than `limit` calls. The log holds
/// (elapsed time, cumulative calls) samples.
fn assert_window_budget(log: &[(Duration, u64)], limit: u64, window: Duration) {
    for (i, (start, calls_at_start)) in log.iter().enumerate() {
        let in_window = log[i..]
            .iter()
            .take_while(|(t, _)| *t < *start + window)
            .last()
            .map_or(0, |(_, calls)| calls - calls_at_start);
        assert!(
            in_window <= limit,
            "{in_window} calls in the window starting at {start:?}"
        );
    }
}
