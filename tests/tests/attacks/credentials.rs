//! Credentials in both directions: a client's never reach Zoho, Zoho's never reach a client.

use e2e::{Scanned, assert_no_secrets};
use serde_json::json;
use zoho_sim::{Fault, Route, Times};

use crate::{
    ADMIN_KEY, CLIENT_ZOHO_TOKEN, READER_KEY, WRITER_KEY, code, http, send_scanned, start,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_and_headers_never_reach_zoho() {
    // The emulator records the name of every header that reaches Desk, and it checks the two
    // that matter most: a request carrying anything but the gateway's live token is answered
    // 401, and a foreign orgId OAUTH_ORG_MISMATCH. Every request below succeeding, no 401 at
    // Zoho, and none of the client's own headers among those Zoho saw, shows nothing of the
    // client's was forwarded.
    let (sim, gateway) = start(&[]).await;
    let client = http();
    let other_org = sim.desk_other_org_id();
    let hostile = |builder: reqwest::RequestBuilder| {
        builder
            .header("orgId", &other_org)
            .header("cookie", "session=attacker")
            .header("x-forwarded-for", "203.0.113.9")
            .header("proxy-authorization", format!("Basic {READER_KEY}"))
    };
    let api = &gateway.api;
    let requests: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "typed, Bearer key",
            hostile(
                client
                    .get(format!("{api}/api/zoho-desk/departments"))
                    .bearer_auth(READER_KEY),
            ),
        ),
        (
            "pass-through, Bearer key",
            hostile(
                client
                    .get(format!("{api}/api/zoho-desk/v1/departments"))
                    .bearer_auth(READER_KEY),
            ),
        ),
        (
            "typed, X-API-Key and a Zoho token of the client's",
            hostile(
                client
                    .get(format!("{api}/api/zoho-desk/agents"))
                    .header("x-api-key", READER_KEY)
                    .header(
                        "authorization",
                        format!("Zoho-oauthtoken {CLIENT_ZOHO_TOKEN}"),
                    ),
            ),
        ),
        (
            "pass-through, X-API-Key and a Zoho token of the client's",
            hostile(
                client
                    .get(format!("{api}/api/zoho-desk/v1/agents"))
                    .header("x-api-key", READER_KEY)
                    .header(
                        "authorization",
                        format!("Zoho-oauthtoken {CLIENT_ZOHO_TOKEN}"),
                    ),
            ),
        ),
        (
            "pass-through write, X-API-Key and a Zoho token of the client's",
            hostile(
                client
                    .post(format!("{api}/api/zoho-desk/v1/contacts"))
                    .header("x-api-key", WRITER_KEY)
                    .header(
                        "authorization",
                        format!("Zoho-oauthtoken {CLIENT_ZOHO_TOKEN}"),
                    )
                    .json(&json!({"lastName": "Forwarding"})),
            ),
        ),
    ];
    for (what, builder) in requests {
        let answer: Scanned = send_scanned(what, builder).await;
        assert!(
            answer.status.is_success(),
            "{what}: {} {}",
            answer.status,
            answer.body
        );
        assert!(
            answer.headers.get("set-cookie").is_none(),
            "{what}: Zoho's cookies relayed"
        );
    }
    let stats = sim.stats();
    for (route, by_status) in &stats.by_route_status {
        assert!(
            !by_status.contains_key(&401) && !by_status.contains_key(&403),
            "{route} was refused at Zoho: {by_status:?}"
        );
    }
    assert_eq!(stats.tokens_minted, 1, "no 401 forced a refresh");
    assert_eq!(stats.desk_requests, 5);
    let seen = &stats.desk_header_names;
    for client_only in [
        "cookie",
        "x-forwarded-for",
        "proxy-authorization",
        "x-api-key",
    ] {
        assert!(
            !seen.contains(client_only),
            "{client_only} reached Zoho: {seen:?}"
        );
    }
    for gateway_own in ["authorization", "orgid"] {
        assert!(
            seen.contains(gateway_own),
            "the gateway's {gateway_own} is missing: {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zohos_token_never_reaches_a_client() {
    let (sim, gateway) = start(&[]).await;
    let client = http();
    let api = &gateway.api;
    let get = |path: &str, key: &'static str| client.get(format!("{api}{path}")).bearer_auth(key);
    let mut answers: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("token status", get("/api/zoho-desk/token", READER_KEY)),
        (
            "forced refresh",
            client
                .post(format!("{api}/api/zoho-desk/token"))
                .bearer_auth(ADMIN_KEY),
        ),
        ("token status after", get("/api/zoho-desk/token", ADMIN_KEY)),
        ("tickets", get("/api/zoho-desk/tickets?limit=5", READER_KEY)),
        (
            "pass-through tickets",
            get("/api/zoho-desk/v1/tickets?limit=5", READER_KEY),
        ),
        ("agents", get("/api/zoho-desk/agents", READER_KEY)),
        (
            "organizations",
            get("/api/zoho-desk/organizations", READER_KEY),
        ),
        (
            "a missing ticket",
            get("/api/zoho-desk/tickets/999999", READER_KEY),
        ),
        ("a 401", client.get(format!("{api}/api/zoho-desk/tickets"))),
        (
            "a 403",
            client
                .post(format!("{api}/api/zoho-desk/token"))
                .bearer_auth(READER_KEY),
        ),
        (
            "an unknown route",
            get("/api/zoho-desk/nothing", READER_KEY),
        ),
        ("the OpenAPI document", get("/openapi.json", READER_KEY)),
        ("the docs", get("/docs/", READER_KEY)),
        ("healthz", client.get(format!("{}/healthz", gateway.admin))),
        ("readyz", client.get(format!("{}/readyz", gateway.admin))),
    ];
    let mut status_bodies = Vec::new();
    for (what, builder) in answers.drain(..) {
        let answer = send_scanned(what, builder).await;
        assert!(answer.status.as_u16() < 500, "{what}: {}", answer.body);
        if what.starts_with("token status") || what == "forced refresh" {
            status_bodies.push(answer.json());
        }
    }
    for body in status_bodies {
        let preview = body["tokenPreview"].as_str().expect("a preview");
        assert!(
            preview.ends_with('…') && preview.chars().count() == 17,
            "{preview}"
        );
    }

    // Zoho refusing the gateway's token (twice: before and after the refresh it triggers):
    // the client learns it was Zoho, not which token.
    let invalid_oauth = json!({"errorCode": "INVALID_OAUTH", "message": "The OAuth Token you provided is invalid."});
    for path in ["/api/zoho-desk/agents", "/api/zoho-desk/v1/agents"] {
        sim.inject(
            Route::Desk,
            Fault::Respond {
                status: 401,
                body: invalid_oauth.to_string(),
            },
            Times::Next(2),
        );
        let answer = send_scanned(path, get(path, READER_KEY)).await;
        assert_eq!(answer.status, 502, "{path}: {}", answer.body);
        assert_eq!(code(&answer.json()), "zoho_unauthorized", "{path}");
    }

    // One scrape of the metrics, and the whole output at drop (the harness).
    let metrics = gateway.metrics().await;
    assert!(metrics.contains("zoho_token_refresh_total"), "{metrics}");
    assert_no_secrets("a /metrics scrape", &metrics);
    assert!(sim.stats().tokens_minted >= 3);
}
