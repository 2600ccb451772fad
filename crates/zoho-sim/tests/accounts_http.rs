//! The Accounts half of the emulator exercised over real HTTP, as a client sees it
//! (`docs/zoho-behaviour.md` §1–2).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{client, start_with, start_with_live_token_cap};
use serde_json::{Value, json};
use zoho_sim::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, Fault, PROJECT_SCOPES, Route,
    SimConfig, SimHandle, ThrottleStyle, Times, TokenStatus,
};

/// One HTTP answer, read in full.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response.text().await.expect("response body");
        Answer {
            status,
            content_type,
            body,
        }
    }

    fn json(&self) -> Value {
        assert!(
            self.content_type.starts_with("application/json"),
            "expected JSON, got {self:?}"
        );
        serde_json::from_str(&self.body).expect("JSON body")
    }

    fn is_html(&self) -> bool {
        self.content_type.starts_with("text/html")
    }

    /// The access token of a successful refresh, after checking the success shape.
    fn access_token(&self) -> String {
        assert_eq!(self.status, 200, "{self:?}");
        let body = self.json();
        let token = body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        assert_access_token_shape(&token);
        token
    }
}

async fn start() -> SimHandle {
    start_with(SimConfig::default()).await
}

fn token_url(sim: &SimHandle) -> String {
    format!("{}/oauth/v2/token", sim.accounts_url())
}

fn refresh_params<'a>(
    client_id: &'a str,
    client_secret: &'a str,
    refresh_token: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("refresh_token", refresh_token),
    ]
}

fn default_params() -> [(&'static str, &'static str); 4] {
    refresh_params(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        DEFAULT_REFRESH_TOKEN,
    )
}

/// The refresh grant with `params` in a urlencoded body, as the project's client sends it.
async fn refresh_with(
    client: &reqwest::Client,
    sim: &SimHandle,
    params: &[(&str, &str)],
) -> Answer {
    let response = client
        .post(token_url(sim))
        .form(params)
        .send()
        .await
        .expect("token request");
    Answer::read(response).await
}

/// The refresh grant with the seeded credentials.
async fn refresh(client: &reqwest::Client, sim: &SimHandle) -> Answer {
    refresh_with(client, sim, &default_params()).await
}

async fn revoke(client: &reqwest::Client, sim: &SimHandle, token: &str) -> Answer {
    let url = format!("{}/oauth/v2/token/revoke", sim.accounts_url());
    let response = client
        .post(url)
        .form(&[("token", token)])
        .send()
        .await
        .expect("revoke request");
    Answer::read(response).await
}

fn assert_access_token_shape(token: &str) {
    let parts: Vec<&str> = token.split('.').collect();
    let is_hex32 = |s: &str| s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit());
    assert!(
        parts.len() == 3 && parts[0] == "1000" && is_hex32(parts[1]) && is_hex32(parts[2]),
        "not a Zoho access token: {token}"
    );
}

fn assert_valid_for_default_client(sim: &SimHandle, token: &str) {
    match sim.introspect(token) {
        TokenStatus::Valid {
            client_id,
            scopes,
            expires_in,
        } => {
            assert_eq!(client_id, DEFAULT_CLIENT_ID);
            assert_eq!(scopes, PROJECT_SCOPES);
            assert!(
                expires_in <= Duration::from_secs(3600) && expires_in > Duration::from_secs(3500)
            );
        }
        other => panic!("expected a valid token, got {other:?}"),
    }
}

fn assert_success_shape(answer: &Answer) -> String {
    let token = answer.access_token();
    let body = answer.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["api_domain"], "https://www.zohoapis.com");
    assert_eq!(body["expires_in"], 3600);
    assert!(
        body.get("refresh_token").is_none(),
        "no new refresh token: {body}"
    );
    token
}

#[tokio::test]
async fn refresh_grant_accepts_query_urlencoded_and_multipart_parameters() {
    let sim = start().await;
    let client = client();

    let query = client
        .post(token_url(&sim))
        .query(&default_params())
        .send()
        .await
        .expect("query");
    let urlencoded = client
        .post(token_url(&sim))
        .form(&default_params())
        .send()
        .await
        .expect("form");

    let boundary = "zoho-sim-test-boundary-7d93";
    let mut multipart_body = String::new();
    for (name, value) in default_params() {
        multipart_body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    multipart_body.push_str(&format!("--{boundary}--\r\n"));
    let multipart = client
        .post(token_url(&sim))
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(multipart_body)
        .send()
        .await
        .expect("multipart");

    let mut tokens = Vec::new();
    for response in [query, urlencoded, multipart] {
        let token = assert_success_shape(&Answer::read(response).await);
        assert_valid_for_default_client(&sim, &token);
        tokens.push(token);
    }
    let distinct: HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), 3, "every refresh mints a distinct token");
    let stats = sim.stats();
    assert_eq!(stats.token_requests, 3);
    assert_eq!(stats.tokens_minted, 3);
    assert_eq!(stats.count("token", 200), 3);
    assert_eq!(sim.live_tokens(DEFAULT_REFRESH_TOKEN), 3);
}

#[tokio::test]
async fn legacy_shape_gives_seconds_and_milliseconds() {
    let sim = start().await;
    sim.set_legacy_expiry_shape(true);
    let answer = refresh(&client(), &sim).await;
    let token = answer.access_token();
    let body = answer.json();
    assert_eq!(body["expires_in_sec"], 3600);
    assert_eq!(body["expires_in"], 3_600_000);
    assert_valid_for_default_client(&sim, &token);
}

#[tokio::test]
async fn credential_errors_are_http_200_with_an_error_field() {
    let sim = start().await;
    let client = client();
    let cases = [
        (
            refresh_params(
                "1000.NOSUCHCLIENT",
                DEFAULT_CLIENT_SECRET,
                DEFAULT_REFRESH_TOKEN,
            ),
            "invalid_client",
        ),
        (
            refresh_params(DEFAULT_CLIENT_ID, "wrong-secret", DEFAULT_REFRESH_TOKEN),
            "invalid_client_secret",
        ),
        (
            refresh_params(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                "1000.unknown.token",
            ),
            "invalid_code",
        ),
    ];
    for (params, code) in cases {
        let answer = refresh_with(&client, &sim, &params).await;
        assert_eq!(answer.status, 200, "{code}");
        assert_eq!(answer.json(), json!({ "error": code }));
    }
    let stats = sim.stats();
    assert_eq!(stats.token_requests, 3);
    assert_eq!(stats.token_rejected, 3);
    assert_eq!(stats.tokens_minted, 0);
    assert_eq!(stats.token_throttled, 0);
}

#[tokio::test]
async fn eleventh_refresh_is_throttled_in_every_style() {
    for style in ThrottleStyle::ALL {
        let sim = start().await;
        sim.set_throttle_style(style);
        let client = client();
        for _ in 0..10 {
            refresh(&client, &sim).await.access_token();
        }
        let refused = refresh(&client, &sim).await;
        match style {
            ThrottleStyle::Json200 | ThrottleStyle::Json400 => {
                let expected = if style == ThrottleStyle::Json200 {
                    200
                } else {
                    400
                };
                assert_eq!(refused.status, expected, "{style:?}");
                assert_eq!(
                    refused.json(),
                    json!({
                        "error_description": "You have made too many requests continuously. Please try again after some time.",
                        "error": "Access Denied",
                        "status": "failure",
                    })
                );
            }
            ThrottleStyle::NewWording => {
                assert_eq!(refused.status, 200);
                let body = refused.json();
                assert_eq!(body["error"], "Access Denied");
                let description = body["error_description"].as_str().expect("description");
                assert!(
                    description.starts_with("Token creation throttle limit reached"),
                    "{description}"
                );
            }
            ThrottleStyle::Localized => {
                assert_eq!(refused.status, 400);
                let body = refused.json();
                let error = body["error"].as_str().expect("error");
                assert!(
                    !error.is_empty() && error != "Access Denied",
                    "translated: {error}"
                );
                assert!(body["error_description"].is_string());
                assert!(body.get("access_token").is_none());
            }
            ThrottleStyle::Html => {
                assert_eq!(refused.status, 200);
                assert!(refused.is_html(), "{refused:?}");
                assert!(refused.body.contains("Access Denied"), "{}", refused.body);
            }
        }
        let stats = sim.stats();
        assert_eq!(stats.tokens_minted, 10, "{style:?}");
        assert_eq!(stats.token_throttled, 1, "{style:?}");
        assert_eq!(stats.token_requests, 11, "{style:?}");
    }
}

#[tokio::test]
async fn minting_past_the_live_cap_evicts_the_oldest_token() {
    let sim = start_with_live_token_cap(3).await;
    let client = client();
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(refresh(&client, &sim).await.access_token());
    }
    assert_eq!(sim.introspect(&tokens[0]), TokenStatus::Evicted);
    for token in &tokens[1..] {
        assert_valid_for_default_client(&sim, token);
    }
    assert_eq!(sim.evicted_tokens(), 1);
    assert_eq!(sim.live_tokens(DEFAULT_REFRESH_TOKEN), 3);
}

#[tokio::test]
async fn revoking_the_refresh_token_kills_its_access_tokens() {
    let sim = start().await;
    let client = client();
    let first = refresh(&client, &sim).await.access_token();
    let second = refresh(&client, &sim).await.access_token();

    let revoked = revoke(&client, &sim, DEFAULT_REFRESH_TOKEN).await;
    assert_eq!(revoked.status, 200);
    assert_eq!(revoked.json(), json!({ "status": "success" }));
    assert_eq!(sim.introspect(&first), TokenStatus::Revoked);
    assert_eq!(sim.introspect(&second), TokenStatus::Revoked);
    assert_eq!(sim.live_tokens(DEFAULT_REFRESH_TOKEN), 0);

    let refused = refresh(&client, &sim).await;
    assert_eq!(refused.status, 200);
    assert_eq!(refused.json(), json!({ "error": "invalid_code" }));
    assert_eq!(
        revoke(&client, &sim, DEFAULT_REFRESH_TOKEN).await.status,
        400
    );
    assert_eq!(sim.stats().count("revoke", 200), 1);
    assert_eq!(sim.stats().count("revoke", 400), 1);
}

#[tokio::test]
async fn status_fault_answers_html_for_the_next_requests_then_clears() {
    let sim = start().await;
    let client = client();
    sim.inject(Route::Token, Fault::Status { status: 503 }, Times::Next(2));
    for _ in 0..2 {
        let answer = refresh(&client, &sim).await;
        assert_eq!(answer.status, 503);
        assert!(answer.is_html(), "{answer:?}");
    }
    refresh(&client, &sim).await.access_token();
    let stats = sim.stats();
    assert_eq!(stats.count("token", 503), 2);
    assert_eq!(stats.count("token", 200), 1);
    assert_eq!(stats.faults_injected, 2);
    assert_eq!(stats.tokens_minted, 1);
}

#[tokio::test]
async fn drop_fault_closes_the_connection_without_an_answer() {
    let sim = start().await;
    let client = client();
    sim.inject(Route::Token, Fault::Drop, Times::Next(1));
    let error = client
        .post(token_url(&sim))
        .form(&default_params())
        .send()
        .await
        .expect_err("the connection is dropped, no response");
    assert!(!error.is_timeout(), "closed, not timed out: {error:?}");
    let stats = sim.stats();
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.count("token", 0), 1);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(sim.in_flight(), 0);
    assert_eq!(stats.tokens_minted, 0);
    assert_eq!(
        stats.token_faulted, 1,
        "a dropped attempt is still an attempt"
    );

    refresh(&client, &sim).await.access_token();
    assert_eq!(sim.stats().count("token", 200), 1);
}

/// Every attempt is counted with its outcome and its time, including those a fault answered
/// before the Accounts logic ran: a client hammering Accounts during an outage shows.
#[tokio::test]
async fn every_token_attempt_is_counted_with_its_outcome_and_time() {
    let sim = start().await;
    let client = client();
    sim.inject(Route::Token, Fault::Status { status: 503 }, Times::Next(2));
    for _ in 0..2 {
        assert_eq!(refresh(&client, &sim).await.status, 503);
    }
    refresh(&client, &sim).await.access_token();
    let wrong_secret = refresh_params(DEFAULT_CLIENT_ID, "wrong", DEFAULT_REFRESH_TOKEN);
    let refused = refresh_with(&client, &sim, &wrong_secret).await.json();
    assert_eq!(refused["error"], "invalid_client_secret", "{refused}");
    sim.advance_clock(Duration::from_secs(11 * 60));
    refresh(&client, &sim).await.access_token();

    let stats = sim.stats();
    assert_eq!(stats.token_requests, 5);
    assert_eq!(stats.token_request_times_ms.len(), 5);
    assert_eq!(stats.token_faulted, 2);
    assert_eq!(stats.token_rejected, 1);
    assert_eq!(stats.token_throttled, 0);
    assert_eq!(stats.tokens_minted, 2);
    assert_eq!(stats.token_refused(), 3);
    assert_eq!(
        stats.tokens_minted + stats.token_refused(),
        stats.token_requests
    );
    assert_eq!(
        stats.most_token_requests_within(Duration::from_secs(600)),
        4,
        "the four before the clock jump share a window; the fifth is alone"
    );
    assert_eq!(
        stats.most_token_requests_within(Duration::from_secs(3600)),
        5
    );
}

#[tokio::test]
async fn latency_fault_still_answers_normally() {
    let sim = start().await;
    sim.inject(
        Route::Token,
        Fault::latency(Duration::from_millis(200)),
        Times::Next(1),
    );
    let token = assert_success_shape(&refresh(&client(), &sim).await);
    assert_valid_for_default_client(&sim, &token);
    assert_eq!(sim.stats().faults_injected, 1);
    assert_eq!(sim.stats().tokens_minted, 1);
}

#[tokio::test]
async fn respond_fault_sends_exactly_the_given_body() {
    let sim = start().await;
    let client = client();
    let fault = Fault::Respond {
        status: 200,
        body: r#"{"error":"invalid_code"}"#.to_owned(),
    };
    sim.inject(Route::Token, fault, Times::Next(1));
    let answer = refresh(&client, &sim).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({ "error": "invalid_code" }));
    assert_eq!(sim.stats().tokens_minted, 0);
    // The grant itself is untouched.
    refresh(&client, &sim).await.access_token();
}

#[tokio::test]
async fn throttle_fault_answers_in_the_given_style() {
    let sim = start().await;
    let client = client();
    sim.inject(
        Route::Token,
        Fault::Throttle {
            style: ThrottleStyle::Html,
        },
        Times::Next(1),
    );
    let answer = refresh(&client, &sim).await;
    assert_eq!(answer.status, 200);
    assert!(answer.is_html(), "{answer:?}");
    assert!(answer.body.contains("Access Denied"), "{}", answer.body);
    assert_eq!(sim.stats().faults_injected, 1);
    assert_eq!(sim.stats().tokens_minted, 0);
    refresh(&client, &sim).await.access_token();
}

#[tokio::test]
async fn route_any_faults_apply_to_revoke_too() {
    let sim = start().await;
    let client = client();
    sim.inject(Route::Any, Fault::Status { status: 503 }, Times::Always);
    let revoked = revoke(&client, &sim, DEFAULT_REFRESH_TOKEN).await;
    assert_eq!(revoked.status, 503);
    assert!(revoked.is_html(), "{revoked:?}");
    assert_eq!(refresh(&client, &sim).await.status, 503);
    assert_eq!(sim.stats().count("revoke", 503), 1);
    assert_eq!(sim.stats().count("token", 503), 1);

    sim.clear_faults();
    // The faulted revoke never reached the grant.
    refresh(&client, &sim).await.access_token();
}

#[tokio::test]
async fn control_api_reports_stats() {
    let sim = start().await;
    let client = client();
    refresh(&client, &sim).await.access_token();
    let response = client
        .get(format!("{}/_sim/stats", sim.base_url()))
        .send()
        .await
        .expect("stats");
    let stats = Answer::read(response).await;
    assert_eq!(stats.status, 200);
    let body = stats.json();
    assert_eq!(body["token_requests"], 1);
    assert_eq!(body["tokens_minted"], 1);
    assert_eq!(body["by_route_status"]["token"]["200"], 1);
    // Control routes are not counted as Zoho requests.
    assert_eq!(sim.stats().requests, 1);
}

#[tokio::test]
async fn control_api_injects_and_clears_faults() {
    let sim = start().await;
    let client = client();
    let faults_url = format!("{}/_sim/faults", sim.base_url());

    let inject = json!({ "route": "token", "fault": { "kind": "status", "status": 502 }, "times": { "next": 1 } });
    let response = client
        .post(&faults_url)
        .json(&inject)
        .send()
        .await
        .expect("inject");
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(refresh(&client, &sim).await.status, 502);
    refresh(&client, &sim).await.access_token();

    let always =
        json!({ "route": "any", "fault": { "kind": "status", "status": 503 }, "times": "always" });
    let response = client
        .post(&faults_url)
        .json(&always)
        .send()
        .await
        .expect("inject");
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(refresh(&client, &sim).await.status, 503);
    let response = client.delete(&faults_url).send().await.expect("clear");
    assert_eq!(response.status().as_u16(), 204);
    refresh(&client, &sim).await.access_token();
    assert_eq!(sim.stats().faults_injected, 2);
}

#[tokio::test]
async fn control_api_advances_the_clock() {
    let sim = start().await;
    let client = client();
    let token = refresh(&client, &sim).await.access_token();
    assert_valid_for_default_client(&sim, &token);
    let response = client
        .post(format!("{}/_sim/clock/advance", sim.base_url()))
        .json(&json!({ "seconds": 3600 }))
        .send()
        .await
        .expect("advance");
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(sim.introspect(&token), TokenStatus::Expired);
}

#[tokio::test]
async fn throttle_window_rolls_over_with_the_clock() {
    let sim = start().await;
    let client = client();
    for _ in 0..10 {
        refresh(&client, &sim).await.access_token();
    }
    sim.advance_clock(Duration::from_secs(601));
    refresh(&client, &sim).await.access_token();
    let stats = sim.stats();
    assert_eq!(stats.tokens_minted, 11);
    assert_eq!(stats.token_throttled, 0);
}

#[tokio::test]
async fn an_in_process_mint_is_a_refresh_like_any_other() {
    let sim = start().await;
    let token = sim
        .mint_access_token(zoho_sim::DEFAULT_REFRESH_TOKEN)
        .expect("minted");
    assert!(matches!(sim.introspect(&token), TokenStatus::Valid { .. }));
    let stats = sim.stats();
    assert_eq!((stats.token_requests, stats.tokens_minted), (1, 1));
    // The same throttle as the HTTP route: 9 more pass, the 11th in the window is refused.
    for _ in 0..9 {
        assert!(
            sim.mint_access_token(zoho_sim::DEFAULT_REFRESH_TOKEN)
                .is_some()
        );
    }
    assert_eq!(sim.mint_access_token(zoho_sim::DEFAULT_REFRESH_TOKEN), None);
    assert_eq!(sim.stats().token_throttled, 1);
    assert_eq!(sim.mint_access_token("1000.unknown.grant"), None);
    assert_eq!(sim.stats().token_rejected, 1);
}
