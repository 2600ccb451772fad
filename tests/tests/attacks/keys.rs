//! API keys: missing, wrong and wrong-role keys, refused before Zoho and alike whatever their shape.

use serde_json::{Value, json};

use crate::{
    ADMIN_KEY, PROBE_KEY, READER_KEY, WRITER_KEY, assert_zoho_untouched, code, http, send_scanned,
    start, without_request_id,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_wrong_and_wrong_role_keys_are_refused_before_zoho() {
    let (sim, gateway) = start(&[]).await;
    let client = http();
    let url = |path: &str| format!("{}/api/zoho-desk/{path}", gateway.api);
    let before = sim.stats();

    // No key, unusable headers, unknown keys: 401 with WWW-Authenticate, nothing sent to Zoho.
    let unauthenticated: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("no key", client.get(url("agents"))),
        (
            "Basic credentials",
            client
                .get(url("agents"))
                .basic_auth("reader", Some(READER_KEY)),
        ),
        (
            "empty bearer",
            client.get(url("agents")).header("authorization", "Bearer "),
        ),
        (
            "Zoho's scheme",
            client
                .get(url("agents"))
                .header("authorization", format!("Zoho-oauthtoken {READER_KEY}")),
        ),
        (
            "unknown bearer",
            client
                .get(url("agents"))
                .bearer_auth("atk-unknown-00000000000000"),
        ),
        (
            "unknown X-API-Key",
            client
                .get(url("agents"))
                .header("x-api-key", "atk-unknown-00000000000000"),
        ),
        (
            "a bearer key that is wrong beside a right X-API-Key",
            client
                .get(url("agents"))
                .bearer_auth("atk-unknown-00000000000000")
                .header("x-api-key", READER_KEY),
        ),
        (
            "an overlong key",
            client.get(url("agents")).bearer_auth("k".repeat(4096)),
        ),
        (
            "a key in the query string",
            client.get(format!("{}?api_key={PROBE_KEY}", url("agents"))),
        ),
        (
            "a key with a different case",
            client
                .get(url("agents"))
                .bearer_auth(READER_KEY.to_uppercase()),
        ),
        (
            "a pass-through request without a key",
            client.get(url("v1/departments")),
        ),
        ("the admin route without a key", client.post(url("token"))),
    ];
    for (what, builder) in unauthenticated {
        let answer = send_scanned(what, builder).await;
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        assert_eq!(code(&answer.json()), "unauthorized", "{what}");
        assert_eq!(answer.headers["www-authenticate"], "Bearer", "{what}");
        assert_zoho_untouched(&sim, &before, what);
    }

    // A role too low: 403, nothing sent to Zoho.
    let contact = json!({"lastName": "Attack"});
    let forbidden: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "reader creates a ticket",
            client
                .post(url("tickets"))
                .bearer_auth(READER_KEY)
                .json(&json!({"subject": "x"})),
        ),
        (
            "reader patches a contact",
            client
                .patch(url("contacts/1"))
                .bearer_auth(READER_KEY)
                .json(&contact),
        ),
        (
            "reader writes through the pass-through",
            client
                .post(url("v1/contacts"))
                .bearer_auth(READER_KEY)
                .json(&contact),
        ),
        (
            "reader forces a refresh",
            client.post(url("token")).bearer_auth(READER_KEY),
        ),
        (
            "writer forces a refresh",
            client.post(url("token")).header("x-api-key", WRITER_KEY),
        ),
    ];
    for (what, builder) in forbidden {
        let answer = send_scanned(what, builder).await;
        assert_eq!(answer.status, 403, "{what}: {}", answer.body);
        assert_eq!(code(&answer.json()), "forbidden", "{what}");
        assert_zoho_untouched(&sim, &before, what);
    }

    // The right roles pass (and only they reached Zoho).
    let answer = send_scanned(
        "reader lists agents",
        client
            .get(url("agents"))
            .header("authorization", format!("bearer {READER_KEY}")),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer = send_scanned(
        "writer creates a contact",
        client
            .post(url("contacts"))
            .header("x-api-key", WRITER_KEY)
            .json(&contact),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let answer = send_scanned(
        "admin forces a refresh",
        client.post(url("token")).bearer_auth(ADMIN_KEY),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let after = sim.stats();
    assert_eq!(
        (after.desk_requests, after.token_requests),
        (before.desk_requests + 2, before.token_requests + 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_refused_the_same_whatever_its_length_or_likeness() {
    // Timing is not measured (too noisy to assert); what a constant-time comparison implies is:
    // the answer to a wrong key depends on nothing about the key. Keys are hashed and every
    // digest compared (crates/gateway/src/auth.rs), so a near miss, a prefix, a different
    // length and an overlong key must get byte-identical refusals but for the request id.
    let (sim, gateway) = start(&[]).await;
    let client = http();
    let before = sim.stats();
    let mut near_miss = READER_KEY.to_owned();
    near_miss.pop();
    near_miss.push('0');
    let wrong_keys = [
        (
            "right length, wrong key",
            "atk-reader-0000000000000000".to_owned(),
        ),
        ("right key but the last character", near_miss),
        ("a prefix of the right key", READER_KEY[..20].to_owned()),
        (
            "the right key and one more character",
            format!("{READER_KEY}x"),
        ),
        ("a different length", "short-wrong-key".to_owned()),
        ("the admin key's length, wrong", "z".repeat(ADMIN_KEY.len())),
        ("longer than any key may be", "y".repeat(600)),
    ];
    let mut reference: Option<(Value, Vec<String>)> = None;
    for (what, key) in wrong_keys {
        for header in ["authorization", "x-api-key"] {
            let value = if header == "authorization" {
                format!("Bearer {key}")
            } else {
                key.clone()
            };
            let answer = send_scanned(
                what,
                client
                    .get(format!("{}/api/zoho-desk/tickets", gateway.api))
                    .header(header, value),
            )
            .await;
            assert_eq!(answer.status, 401, "{what} ({header}): {}", answer.body);
            let body = answer.json();
            assert!(
                body["error"]["requestId"].is_string(),
                "{what}: {}",
                answer.body
            );
            let mut header_names: Vec<String> = answer
                .headers
                .keys()
                .map(|name| name.as_str().to_owned())
                .collect();
            header_names.sort();
            let shape = (without_request_id(&body), header_names);
            match &reference {
                None => reference = Some(shape),
                Some(reference) => {
                    assert_eq!(&shape, reference, "{what} ({header}) answered differently")
                }
            }
        }
    }
    assert_zoho_untouched(&sim, &before, "wrong keys");
}
