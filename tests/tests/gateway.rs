//! The real `zoho-gateway` binary on real sockets, with zoho-sim as Zoho.

use std::time::Duration;

use e2e::{Gateway, run, zoho_env};
use reqwest::StatusCode;
use serde_json::{Value, json};
use zoho_sim::{AccountsConfig, Fault, Route, SimConfig, SimHandle, Times, ZohoSim};

async fn sim() -> SimHandle {
    ZohoSim::start(SimConfig::default())
        .await
        .expect("emulator")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn get_json(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    status_and_json(client.get(url)).await
}

/// Sends a write with a JSON body, asserts the answer's status and returns its JSON.
async fn write(request: reqwest::RequestBuilder, body: &Value, expected: u16) -> Value {
    let (status, answer) = status_and_json(request.json(body)).await;
    assert_eq!(status, expected, "{answer}");
    answer
}

/// The status and the JSON body (null when the body is not JSON, so error checks can still read it).
async fn status_and_json(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("gateway answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_with_its_shape() {
    let sim = sim().await;
    let gateway = Gateway::start(&zoho_env(&sim)).await;
    let client = http();
    let api = &gateway.api;

    let (status, page) = get_json(
        &client,
        &format!("{api}/api/zoho-desk/tickets?limit=5&status=Open"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 5);
    assert_eq!(page["from"], 0);
    assert_eq!(page["limit"], 5);
    let next = page["next"].as_str().expect("a next link");
    assert!(
        next.starts_with("/api/zoho-desk/tickets?")
            && next.contains("from=5")
            && next.contains("status=Open")
    );
    let (status, second) = get_json(&client, &format!("{api}{next}")).await;
    assert_eq!(status, 200);
    assert_ne!(second["data"][0]["id"], page["data"][0]["id"]);

    let ticket = page["data"][0].clone();
    let id = ticket["id"].as_str().unwrap();
    let (status, one) = get_json(&client, &format!("{api}/api/zoho-desk/tickets/{id}")).await;
    assert_eq!(
        (status, one["id"].clone()),
        (StatusCode::OK, ticket["id"].clone())
    );
    for path in [
        format!("tickets/{id}/threads"),
        format!("tickets/{id}/comments"),
        "contacts".into(),
        "agents".into(),
        "departments".into(),
    ] {
        let (status, list) = get_json(&client, &format!("{api}/api/zoho-desk/{path}")).await;
        assert_eq!(status, 200, "{path}: {list}");
        assert!(list["data"].is_array(), "{path}");
    }
    let (status, orgs) = get_json(&client, &format!("{api}/api/zoho-desk/organizations")).await;
    assert_eq!(status, 200);
    assert_eq!(orgs["data"][0]["id"], sim.desk_org_id());
    let word = ticket["subject"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let (status, found) = get_json(
        &client,
        &format!("{api}/api/zoho-desk/tickets/search?subject={word}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!found["data"].as_array().unwrap().is_empty());

    // Writes.
    let new_ticket = json!({"subject": "E2E ticket", "departmentId": ticket["departmentId"], "contactId": ticket["contactId"]});
    let created = write(
        client.post(format!("{api}/api/zoho-desk/tickets")),
        &new_ticket,
        201,
    )
    .await;
    let new_id = created["id"].as_str().unwrap();
    write(
        client.patch(format!("{api}/api/zoho-desk/tickets/{new_id}")),
        &json!({"priority": "High"}),
        200,
    )
    .await;
    write(
        client.post(format!("{api}/api/zoho-desk/tickets/{new_id}/comments")),
        &json!({"content": "from e2e"}),
        201,
    )
    .await;
    let contact = write(
        client.post(format!("{api}/api/zoho-desk/contacts")),
        &json!({"lastName": "E2E", "email": "e2e@example.com"}),
        201,
    )
    .await;
    let contact_id = contact["id"].as_str().unwrap();
    write(
        client.patch(format!("{api}/api/zoho-desk/contacts/{contact_id}")),
        &json!({"phone": "+1 555 0101"}),
        200,
    )
    .await;
    let (status, contact) = get_json(
        &client,
        &format!("{api}/api/zoho-desk/contacts/{contact_id}"),
    )
    .await;
    assert_eq!(
        (status, contact["phone"].clone()),
        (StatusCode::OK, json!("+1 555 0101"))
    );
    let (status, found) = get_json(
        &client,
        &format!("{api}/api/zoho-desk/contacts/search?email=e2e@example.com"),
    )
    .await;
    assert_eq!(
        (status, found["data"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(sim.tickets_with_subject("E2E ticket"), 1);

    // Pass-through.
    let (status, raw) = get_json(&client, &format!("{api}/api/zoho-desk/v1/departments")).await;
    assert_eq!(status, 200, "{raw}");
    assert!(raw["data"].is_array());

    // Errors are JSON with stable codes.
    let (status, error) = get_json(&client, &format!("{api}/api/zoho-desk/tickets/999999")).await;
    assert_eq!(
        (status, error["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    assert!(error["error"]["requestId"].is_string());
    let (status, error) =
        get_json(&client, &format!("{api}/api/zoho-desk/tickets?limit=101")).await;
    assert_eq!(
        (status, error["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_request"))
    );
    let (status, error) = get_json(&client, &format!("{api}/api/zoho-desk/nope")).await;
    assert_eq!(
        (status, error["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let (status, error) = status_and_json(
        client
            .post(format!("{api}/api/zoho-desk/tickets"))
            .body("{not json")
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "invalid_json");

    // OpenAPI and docs.
    let (status, doc) = get_json(&client, &format!("{api}/openapi.json")).await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/api/zoho-desk/tickets"].is_object());
    let docs = client.get(format!("{api}/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_routes_keep_the_original_shapes_and_admin_routes_report_health() {
    let sim = sim().await;
    let gateway = Gateway::start(&zoho_env(&sim)).await;
    let client = http();
    // Readiness turns green once the start-up refresh lands.
    gateway.ready(Duration::from_secs(5)).await;
    let (status, body) = get_json(&client, &format!("{}/api/zoho-desk/token", gateway.api)).await;
    assert_eq!(status, 200);
    for field in [
        "success",
        "autoRefreshEnabled",
        "hasToken",
        "tokenPreview",
        "timestamp",
        "expiresAt",
        "state",
        "lastRefresh",
        "fallback",
    ] {
        assert!(body.get(field).is_some(), "missing {field}: {body}");
    }
    assert_eq!(body["state"], "fresh");
    let preview = body["tokenPreview"].as_str().unwrap();
    assert!(
        preview.ends_with('…') && preview.chars().count() == 17,
        "{preview}"
    );

    let (status, refreshed) =
        status_and_json(client.post(format!("{}/api/zoho-desk/token", gateway.api))).await;
    assert_eq!(status, 200);
    assert_eq!(refreshed["success"], true);
    assert_eq!(refreshed["message"], "Token refreshed successfully");
    assert_ne!(refreshed["tokenPreview"], body["tokenPreview"]);
    assert_eq!(sim.stats().tokens_minted, 2);

    // Every log line of a request carries its id, given or generated.
    let traced = client
        .get(format!("{}/api/zoho-desk/agents", gateway.api))
        .header("x-request-id", "e2e-request-42")
        .send()
        .await
        .unwrap();
    assert_eq!(traced.headers()["x-request-id"], "e2e-request-42");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !gateway
        .output()
        .lines()
        .any(|l| l.contains("request_id") && l.contains("e2e-request-42"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no log line with the request id:\n{}",
            gateway.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, health) = get_json(&client, &format!("{}/healthz", gateway.admin)).await;
    assert_eq!(
        (status, health["status"].clone()),
        (StatusCode::OK, json!("ok"))
    );
    let metrics = gateway.metrics().await;
    assert!(metrics.contains("zoho_token_refresh_total"), "{metrics}");
    assert!(metrics.contains("http_server_requests_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_keeps_loading_across_token_expiry_and_revocation_with_zero_401s() {
    // Tokens live 12 s; the gateway refreshes them ahead of expiry while a client keeps reading.
    let sim = ZohoSim::start(SimConfig {
        accounts: AccountsConfig {
            token_lifetime: Duration::from_secs(12),
            ..AccountsConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut env = zoho_env(&sim);
    env.push(("ZOHO_TOKEN_REFRESH_MARGIN_SECS".into(), "1".into()));
    let gateway = Gateway::start(&env).await;
    let client = http();
    let started = std::time::Instant::now();
    let mut requests = 0;
    while started.elapsed() < Duration::from_secs(15) {
        let response = client
            .get(format!("{}/api/zoho-desk/departments", gateway.api))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().await.unwrap_or_default()
        );
        requests += 1;
        if requests == 20 {
            // Zoho drops the token server-side: one 401 at Zoho, none at the client.
            sim.invalidate_access_tokens();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = sim.stats();
    assert!(
        stats.tokens_minted >= 3,
        "proactive refreshes plus one after the 401: {}",
        stats.tokens_minted
    );
    assert_eq!(
        stats.count("GET /departments", 401),
        1,
        "only the revoked token met a 401"
    );
    println!(
        "E2E across expiry: {requests} requests, 0 client errors, {} tokens minted, {} Desk 401s",
        stats.tokens_minted,
        stats.count("GET /departments", 401)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_roles_guard_the_routes() {
    let sim = sim().await;
    let mut env = zoho_env(&sim);
    env.push((
        "GATEWAY_API_KEYS".into(),
        "reader:read:reader-key-0123456789,writer:write:writer-key-0123456789,ops:admin:admin-key-01234567890".into(),
    ));
    let gateway = Gateway::start(&env).await;
    let client = http();
    let url = |path: &str| format!("{}/api/zoho-desk/{path}", gateway.api);
    let status = |r: reqwest::Response| r.status().as_u16();

    assert_eq!(status(client.get(url("agents")).send().await.unwrap()), 401);
    assert_eq!(
        status(
            client
                .get(url("agents"))
                .bearer_auth("wrong-key-0123456789")
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            client
                .get(url("agents"))
                .header("x-api-key", "reader-key-0123456789")
                .send()
                .await
                .unwrap()
        ),
        200
    );
    let body = json!({"lastName": "Roles"});
    assert_eq!(
        status(
            client
                .post(url("contacts"))
                .bearer_auth("reader-key-0123456789")
                .json(&body)
                .send()
                .await
                .unwrap()
        ),
        403
    );
    assert_eq!(
        status(
            client
                .post(url("contacts"))
                .bearer_auth("writer-key-0123456789")
                .json(&body)
                .send()
                .await
                .unwrap()
        ),
        201
    );
    assert_eq!(
        status(
            client
                .post(url("token"))
                .bearer_auth("writer-key-0123456789")
                .send()
                .await
                .unwrap()
        ),
        403
    );
    assert_eq!(
        status(
            client
                .post(url("token"))
                .bearer_auth("admin-key-01234567890")
                .send()
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            client
                .delete(url("v1/contacts"))
                .bearer_auth("admin-key-01234567890")
                .send()
                .await
                .unwrap()
        ),
        405
    );
    let unauthorized = client.get(url("agents")).send().await.unwrap();
    assert_eq!(unauthorized.headers()["www-authenticate"], "Bearer");
    let text = unauthorized.text().await.unwrap();
    assert!(text.contains("\"unauthorized\""), "{text}");
    assert!(
        !gateway.output().contains("reader-key-0123456789"),
        "a key reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_rate_limit_gets_429_with_retry_after() {
    let sim = sim().await;
    let mut env = zoho_env(&sim);
    env.push(("GATEWAY_RATE_LIMIT_PER_SECOND".into(), "1".into()));
    env.push(("GATEWAY_RATE_LIMIT_BURST".into(), "3".into()));
    let gateway = Gateway::start(&env).await;
    let client = http();
    let mut limited = 0;
    for attempt in 0..10 {
        let response = client
            .get(format!("{}/api/zoho-desk/departments", gateway.api))
            .send()
            .await
            .unwrap();
        if attempt < 3 {
            // The burst is spent first: a limiter that refuses everything fails here.
            assert_eq!(
                response.status(),
                200,
                "request {attempt} is within the burst"
            );
        }
        if response.status() == 429 {
            limited += 1;
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited");
        }
    }
    assert!(
        limited >= 6,
        "burst of 3 allowed, the rest limited: {limited} limited"
    );
    assert_eq!(
        sim.desk_calls("GET /departments"),
        10 - limited,
        "every admitted request reached Zoho once, no limited one did"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_exits_64_naming_the_variable_before_binding() {
    let sim = sim().await;
    let base = zoho_env(&sim);
    let with = |name: &str, value: &str| {
        let mut env: Vec<_> = base.iter().filter(|(k, _)| k != name).cloned().collect();
        env.push((name.to_owned(), value.to_owned()));
        env
    };
    let without = |name: &str| {
        base.iter()
            .filter(|(k, _)| k != name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        ("ZOHO_DESK_CLIENT_ID", without("ZOHO_DESK_CLIENT_ID")),
        (
            "ZOHO_DESK_REFRESH_TOKEN",
            without("ZOHO_DESK_REFRESH_TOKEN"),
        ),
        ("ZOHO_DESK_ORG_ID", without("ZOHO_DESK_ORG_ID")),
        (
            "ZOHO_DESK_DOMAIN",
            with("ZOHO_DESK_DOMAIN", "desk.zoho.mars"),
        ),
        (
            "ZOHO_TOKEN_REFRESH_MARGIN_SECS",
            with("ZOHO_TOKEN_REFRESH_MARGIN_SECS", "soon"),
        ),
        ("GATEWAY_LISTEN", with("GATEWAY_LISTEN", "0.0.0.0:3999")),
        (
            "ZOHO_ACCOUNTS_URL",
            with("ZOHO_ACCOUNTS_URL", "ftp://accounts"),
        ),
    ];
    for (variable, env) in cases {
        let (code, output) = run(&["serve", "--admin-listen", "127.0.0.1:0"], &env).await;
        assert_eq!(code, Some(64), "{variable}: {output}");
        assert!(output.contains(variable), "{variable} not named: {output}");
        assert!(
            !output.contains("listening"),
            "{variable}: bound a port: {output}"
        );
        assert!(
            !output.contains(zoho_sim::DEFAULT_CLIENT_SECRET),
            "{variable}: echoed a secret"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_loses_none() {
    let sim = sim().await;
    let gateway = Gateway::start(&zoho_env(&sim)).await;
    let mut gateway = gateway;
    let client = http();
    // Warm up, then make Zoho slow so requests are in flight when SIGTERM arrives.
    client
        .get(format!("{}/api/zoho-desk/departments", gateway.api))
        .send()
        .await
        .unwrap();
    sim.inject(
        Route::Desk,
        Fault::latency(Duration::from_millis(1500)),
        Times::Always,
    );
    let requests: Vec<_> = (0..5)
        .map(|_| {
            let client = client.clone();
            let url = format!("{}/api/zoho-desk/departments", gateway.api);
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    for _ in 0..200 {
        if sim.stats().in_flight >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(sim.stats().in_flight >= 5, "requests in flight at Zoho");
    gateway.terminate();
    for request in requests {
        assert_eq!(
            request.await.unwrap().expect("answered").as_u16(),
            200,
            "an in-flight request was lost"
        );
    }
    let status = gateway.wait().await;
    assert!(
        status.success(),
        "clean exit: {status:?}\n{}",
        gateway.output()
    );
    assert!(gateway.output().contains("draining"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_the_outcome_and_classifies_failures() {
    let sim = sim().await;
    let (code, output) = run(&["check"], &zoho_env(&sim)).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("token refresh: ok") && output.contains("…"),
        "{output}"
    );
    assert!(output.contains(&sim.desk_org_id()));
    sim.revoke_refresh_token(zoho_sim::DEFAULT_REFRESH_TOKEN);
    let (code, output) = run(&["check"], &zoho_env(&sim)).await;
    assert_eq!(code, Some(77), "{output}");
    assert!(
        output.contains("invalid_code") && output.contains("re-consent"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_needs_no_configuration() {
    let gateway = sandbox(&[], &[]).await;
    let client = http();
    let (status, page) = get_json(
        &client,
        &format!("{}/api/zoho-desk/tickets?limit=3", gateway.api),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let output = gateway.output();
    assert!(
        output.contains("curl -s http://127.0.0.1:") && output.contains("/api/zoho-desk/token"),
        "{output}"
    );
}

/// `serve --sandbox` with its listeners on port 0 and `env` as the only configuration.
async fn sandbox(extra_args: &[&str], env: &[(String, String)]) -> Gateway {
    let mut args = vec![
        "serve",
        "--sandbox",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra_args);
    Gateway::start_with_args(&args, env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_honours_api_keys_and_rate_limits() {
    const KEY: &str = "sandbox-reader-key-0123456789";
    let env: Vec<(String, String)> = [
        ("GATEWAY_API_KEYS", format!("demo:read:{KEY}")),
        ("GATEWAY_RATE_LIMIT_PER_SECOND", "1".to_owned()),
        ("GATEWAY_RATE_LIMIT_BURST", "2".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let gateway = sandbox(&[], &env).await;
    let client = http();
    let url = format!("{}/api/zoho-desk/departments", gateway.api);

    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "a sandbox with keys needs one");

    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client
            .get(&url)
            .header("x-api-key", KEY)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(
        &statuses[..2],
        [200, 200],
        "the burst of 2 is served: {statuses:?}"
    );
    assert!(
        statuses[2..].iter().all(|s| *s == 429),
        "past the burst the key is limited at 1/s: {statuses:?}"
    );
    assert!(!gateway.output().contains(KEY), "a key reached the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_banner_shows_the_token_lifetime_used() {
    let gateway = sandbox(&["--sandbox-token-lifetime", "90"], &[]).await;
    // The banner follows the listening line; a request gives it time to arrive.
    let (status, _) = get_json(&http(), &format!("{}/api/zoho-desk/token", gateway.api)).await;
    assert_eq!(status, 200);
    let output = gateway.output();
    assert!(output.contains("tokens live 90 seconds"), "{output}");
    assert!(!output.contains("5 minutes"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_without_keys_still_refuses_a_public_listener() {
    let (code, output) = run(
        &[
            "serve",
            "--sandbox",
            "--listen",
            "0.0.0.0:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    assert_eq!(code, Some(64), "{output}");
    assert!(
        output.contains("refusing to serve without API keys on a non-loopback address"),
        "{output}"
    );
}
