//! Bodies: oversized, malformed, JSON the parser refuses, invented methods.

use e2e::{assert_no_secrets, scan_response};
use serde_json::json;

use crate::raw::raw;
use crate::{
    WRITER_KEY, assert_still_serving, assert_zoho_untouched, code, http, send_scanned, start,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_bodies_are_refused_before_zoho() {
    let (sim, gateway) = start(&[
        ("GATEWAY_BODY_LIMIT_BYTES", "4096"),
        ("GATEWAY_REQUEST_TIMEOUT_SECS", "3"),
    ])
    .await;
    let client = http();
    let before = sim.stats();
    let big =
        json!({"subject": "x".repeat(5000), "departmentId": "1", "contactId": "1"}).to_string();
    // Nested past serde_json's recursion limit, in a field the typed models keep (`extra`).
    let deep = format!(
        "{{\"subject\":\"x\",\"deep\":{}{}}}",
        "[".repeat(2000),
        "]".repeat(2000)
    );
    assert!(deep.len() < 4096);
    let routes = [
        ("typed", "/api/zoho-desk/tickets"),
        ("pass-through", "/api/zoho-desk/v1/tickets"),
    ];
    for (kind, path) in routes {
        let url = format!("{}{path}", gateway.api);
        let send = |body: Vec<u8>, content_type: &'static str| {
            client
                .post(&url)
                .bearer_auth(WRITER_KEY)
                .header("content-type", content_type)
                .body(body)
                .send()
        };
        let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
            (
                "5000 bytes of JSON",
                big.clone().into_bytes(),
                "application/json",
                413,
                "payload_too_large",
            ),
            (
                "truncated JSON",
                b"{\"subject\": \"x\"".to_vec(),
                "application/json",
                400,
                "invalid_json",
            ),
            (
                "not JSON at all",
                b"subject=x".to_vec(),
                "application/json",
                400,
                "invalid_json",
            ),
            (
                "2000 levels of nesting",
                deep.clone().into_bytes(),
                "application/json",
                400,
                "invalid_json",
            ),
            (
                "invalid UTF-8",
                b"{\"subject\": \"\xff\xfe\"}".to_vec(),
                "application/json",
                400,
                "invalid_json",
            ),
            (
                "JSON as text/plain",
                b"{}".to_vec(),
                "text/plain",
                415,
                "unsupported_media_type",
            ),
        ];
        for (what, body, content_type, status, expected) in cases {
            let what = format!("{kind}: {what}");
            let answer = scan_response(&what, send(body, content_type).await.unwrap()).await;
            assert_eq!(answer.status, status, "{what}: {}", answer.body);
            assert_eq!(code(&answer.json()), expected, "{what}: {}", answer.body);
            assert_zoho_untouched(&sim, &before, &what);
        }

        // Without a Content-Length (chunked), the limit still holds.
        let chunk = "x".repeat(1000);
        let mut chunked = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {WRITER_KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        for _ in 0..6 {
            chunked.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
        }
        chunked.push_str("0\r\n\r\n");
        let answer = raw(&gateway, chunked.as_bytes()).await;
        assert_eq!(answer.status, 413, "{kind}: chunked: {}", answer.body);
        assert_eq!(code(&answer.json()), "payload_too_large");

        // A declared length far over the limit: refused as soon as the limit's worth of body
        // has arrived, never buffered further.
        let declared = |body: &str| {
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {WRITER_KEY}\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\nConnection: close\r\n\r\n{body}"
            )
        };
        let answer = raw(&gateway, declared(&"x".repeat(8192)).as_bytes()).await;
        assert_eq!(answer.status, 413, "{kind}: declared: {}", answer.body);
        assert_eq!(code(&answer.json()), "payload_too_large");
        // The same declaration with no body behind it: refused on the declaration alone, not
        // held until the request timeout (3 s here, which would answer 504).
        let answer = raw(&gateway, declared("{").as_bytes()).await;
        assert_eq!(
            answer.status, 413,
            "{kind}: declared, unsent: {}",
            answer.body
        );
        assert_eq!(code(&answer.json()), "payload_too_large");
        assert_zoho_untouched(&sim, &before, kind);
    }
    // Still serving.
    assert_still_serving(&client, &gateway, "after the bodies").await;
}

/// Found by this suite and fixed: the pass-through once checked bodies with
/// `serde_json::from_slice::<IgnoredAny>`, which skips values without serde_json's recursion
/// limit and strings without validating their UTF-8, so such JSON reached Zoho (a call and
/// credits spent) where the typed routes answer 400 `invalid_json`. It now parses fully.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_the_parser_refuses_is_refused_by_the_pass_through() {
    let (sim, gateway) = start(&[("GATEWAY_BODY_LIMIT_BYTES", "4096")]).await;
    let before = sim.stats();
    let deep = format!(
        "{{\"subject\":\"x\",\"deep\":{}{}}}",
        "[".repeat(2000),
        "]".repeat(2000)
    );
    let bodies = [
        ("2000 levels of nesting", deep.into_bytes()),
        ("invalid UTF-8", b"{\"subject\": \"\xff\xfe\"}".to_vec()),
    ];
    for (what, body) in bodies {
        let answer = send_scanned(
            what,
            http()
                .post(format!("{}/api/zoho-desk/v1/tickets", gateway.api))
                .bearer_auth(WRITER_KEY)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        assert_eq!(code(&answer.json()), "invalid_json", "{what}");
        assert_zoho_untouched(&sim, &before, what);
    }
}

/// Found by this suite and fixed: `http_metrics` runs before authentication and once labelled
/// `http_server_requests_total` and the duration histogram with the raw request method, so
/// anyone who could connect — without a key — minted a new series per invented method. Methods
/// outside the standard set are labelled `_OTHER`, as OpenTelemetry's HTTP conventions do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_do_not_mint_metric_series() {
    let (sim, gateway) = start(&[]).await;
    let before = sim.stats();
    for n in 0..50 {
        let answer = raw(
            &gateway,
            format!(
                "ATTACK{n} /api/zoho-desk/tickets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(answer.status, 401, "{}", answer.body);
    }
    assert_zoho_untouched(&sim, &before, "invented methods");
    let metrics = gateway.metrics().await;
    assert_no_secrets("a /metrics scrape", &metrics);
    let invented = metrics
        .lines()
        .filter(|line| line.starts_with("http_server_requests_total") && line.contains("ATTACK"))
        .count();
    assert_eq!(invented, 0, "one series per invented method");
    // …yet every one of them is counted, under the one bounded label: a gateway that stopped
    // counting refused requests would pass the check above.
    let counted: f64 = metrics
        .lines()
        .filter(|line| {
            line.starts_with("http_server_requests_total{")
                && line.contains(r#"method="_OTHER""#)
                && line.contains(r#"status="401""#)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        counted, 50.0,
        "the 50 invented-method requests, counted as _OTHER 401s"
    );
}
