//! Pass-through paths and methods: traversal, encodings and targets that must never reach Zoho or choose its host.

use std::time::Duration;

use crate::raw::{get, raw, request};
use crate::{ADMIN_KEY, READER_KEY, assert_zoho_untouched, code, start};

/// One attack on the pass-through and the refusal expected: a status and, for refusals the
/// gateway itself writes, a JSON error code. `None`: hyper refuses the request line or headers
/// before any of the gateway's code runs, with an empty body.
struct Case {
    what: &'static str,
    request: Vec<u8>,
    status: u16,
    code: Option<&'static str>,
}

fn case(what: &'static str, request: Vec<u8>, status: u16, code: Option<&'static str>) -> Case {
    Case {
        what,
        request,
        status,
        code,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_through_path_and_method_attacks_never_reach_zoho() {
    let (sim, gateway) = start(&[]).await;
    let p = "/api/zoho-desk/v1";
    let long_segment = "a".repeat(600);
    let many_segments = "/tickets".repeat(13);
    let long_query = format!("from=0&x={}", "9".repeat(2100));
    let invalid = Some("invalid_path");
    let ticket = r#"{"subject":"attack"}"#;
    let cases = vec![
        // Dot segments, plain and encoded, single and double.
        case("..", get(&format!("{p}/tickets/../agents")), 400, invalid),
        case("leading ..", get(&format!("{p}/../../oauth/v2/token")), 400, invalid),
        case("trailing ..", get(&format!("{p}/tickets/..")), 400, invalid),
        case(".", get(&format!("{p}/./tickets")), 400, invalid),
        case("%2e%2e", get(&format!("{p}/%2e%2e/%2e%2e/oauth/v2/token")), 400, invalid),
        case("%2E%2E", get(&format!("{p}/tickets/%2E%2E/agents")), 400, invalid),
        case(".%2e", get(&format!("{p}/tickets/.%2e/agents")), 400, invalid),
        case("%2f", get(&format!("{p}/tickets%2f..%2f..%2foauth%2fv2%2ftoken")), 400, invalid),
        case("%2F", get(&format!("{p}/tickets%2F1")), 400, invalid),
        case("double-encoded ..", get(&format!("{p}/%252e%252e/%252e%252e/oauth")), 400, invalid),
        case("double-encoded /", get(&format!("{p}/tickets%252f..%252fagents")), 400, invalid),
        case("%00", get(&format!("{p}/tickets%00")), 400, invalid),
        case("overlong UTF-8 dot", get(&format!("{p}/%c0%ae%c0%ae/agents")), 400, invalid),
        // Backslashes, raw and encoded.
        case("backslash", get(&format!("{p}/tickets\\..\\..\\oauth")), 400, invalid),
        case("%5c", get(&format!("{p}/tickets%5c..%5cagents")), 400, invalid),
        // Other hosts: network paths, schemes, userinfo, ports.
        case("//host inside", get(&format!("{p}//evil.example/tickets")), 400, invalid),
        case("//host in front", get(&format!("//evil.example{p}/tickets")), 404, Some("not_found")),
        case("scheme in the path", get(&format!("{p}/https://evil.example/tickets")), 400, invalid),
        case("@host", get(&format!("{p}/@evil.example/tickets")), 400, invalid),
        case("user@", get(&format!("{p}/tickets@evil.example")), 400, invalid),
        case(":port", get(&format!("{p}/tickets:443")), 400, invalid),
        case(";params", get(&format!("{p}/tickets;jsessionid=1")), 400, invalid),
        case("empty segment", get(&format!("{p}/tickets//1")), 400, invalid),
        case("trailing slash", get(&format!("{p}/tickets/")), 400, invalid),
        case("bare prefix", get(p), 400, invalid),
        case("bare prefix and slash", get(&format!("{p}/")), 400, invalid),
        case("absolute-form, other host", get("http://evil.example/"), 404, Some("not_found")),
        case(
            "absolute-form, encoded ..",
            get(&format!("http://evil.example{p}/%2e%2e/oauth/v2/token")),
            400,
            invalid,
        ),
        case(
            "absolute-form with userinfo and ..",
            get(&format!("http://admin@evil.example{p}/tickets/../agents")),
            400,
            invalid,
        ),
        case(
            "CONNECT",
            format!("CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nX-API-Key: {ADMIN_KEY}\r\nConnection: close\r\n\r\n")
                .into_bytes(),
            404,
            Some("not_found"),
        ),
        // Sizes.
        case("a path over 512 bytes", get(&format!("{p}/{long_segment}")), 400, invalid),
        case("13 segments", get(&format!("{p}{many_segments}")), 400, invalid),
        case("a query over 2048 bytes", get(&format!("{p}/tickets?{long_query}")), 400, Some("invalid_query")),
        case("a 70 kB request line", get(&format!("{p}/{}", "a".repeat(70_000))), 414, None),
        // Bytes that are not a path.
        case("non-ASCII", get(&format!("{p}/tickets\u{2215}agents")), 400, invalid),
        case("a raw space", get(&format!("{p}/tick ets")), 400, None),
        case("a raw NUL", get(&format!("{p}/tickets\0")), 400, None),
        case("a raw tab", get(&format!("{p}/tickets\t1")), 400, None),
        // Not on the allowlist, or denied.
        case("Zoho's token endpoint", get(&format!("{p}/oauth/v2/token")), 404, Some("not_allowed")),
        case("an area not listed", get(&format!("{p}/organizations")), 404, Some("not_allowed")),
        case("a listed area in another case", get(&format!("{p}/Tickets")), 404, Some("not_allowed")),
        case("a prefix lookalike", get(&format!("{p}/ticketsx")), 404, Some("not_allowed")),
        case(
            "moveToTrash (a delete as POST)",
            request("POST", &format!("{p}/tickets/moveToTrash"), ADMIN_KEY, Some(r#"{"ticketIds":["1"]}"#)),
            404,
            Some("not_allowed"),
        ),
        // Methods off the allowlist.
        case("DELETE", request("DELETE", &format!("{p}/tickets/1"), ADMIN_KEY, None), 405, Some("method_not_allowed")),
        case("PUT", request("PUT", &format!("{p}/tickets/1"), ADMIN_KEY, Some(ticket)), 405, Some("method_not_allowed")),
        case("TRACE", request("TRACE", &format!("{p}/tickets"), ADMIN_KEY, None), 405, Some("method_not_allowed")),
        case("OPTIONS", request("OPTIONS", &format!("{p}/tickets"), ADMIN_KEY, None), 405, Some("method_not_allowed")),
        case("an invented method", request("PROPFIND", &format!("{p}/tickets"), ADMIN_KEY, None), 405, Some("method_not_allowed")),
        case("HEAD (no body to check)", request("HEAD", &format!("{p}/tickets"), ADMIN_KEY, None), 405, None),
        case("PATCH on a read-only area", request("PATCH", &format!("{p}/agents/1"), ADMIN_KEY, Some(ticket)), 405, Some("method_not_allowed")),
        // Queries and bodies the pass-through refuses.
        case("orgId in the query", get(&format!("{p}/tickets?orgId=1")), 400, Some("invalid_query")),
        case("ORGID in the query", get(&format!("{p}/tickets?ORGID=1")), 400, Some("invalid_query")),
        case("CRLF in the query", get(&format!("{p}/tickets?from=%0d%0aX-Injected:%201")), 400, Some("invalid_query")),
        case("a nameless parameter", get(&format!("{p}/tickets?=1")), 400, Some("invalid_query")),
        case("a GET with a body", request("GET", &format!("{p}/tickets"), ADMIN_KEY, Some(ticket)), 400, Some("body_not_allowed")),
        case(
            "a body that is not JSON",
            format!(
                "POST {p}/tickets HTTP/1.1\r\nHost: x\r\nX-API-Key: {ADMIN_KEY}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
            )
            .into_bytes(),
            415,
            Some("unsupported_media_type"),
        ),
        // The role comes first: a reader cannot even probe write paths.
        case("reader POSTs", request("POST", &format!("{p}/tickets"), READER_KEY, Some(ticket)), 403, Some("forbidden")),
    ];

    let before = sim.stats();
    let mut table = Vec::new();
    for case in &cases {
        let answer = raw(&gateway, &case.request).await;
        assert_eq!(
            answer.status, case.status,
            "{}: {}\n{}",
            case.what, answer.head, answer.body
        );
        match case.code {
            Some(expected) => {
                assert!(answer.is_json(), "{}: not JSON: {}", case.what, answer.head);
                assert_eq!(
                    code(&answer.json()),
                    expected,
                    "{}: {}",
                    case.what,
                    answer.body
                );
            }
            None => assert!(
                answer.body.is_empty(),
                "{}: expected an empty body: {}\n{}",
                case.what,
                answer.head,
                answer.body
            ),
        }
        if case.status == 405 {
            assert!(answer.header("allow").is_some(), "{}: no Allow", case.what);
        }
        assert_zoho_untouched(&sim, &before, case.what);
        // Refusals written by the gateway carry its request id; hyper's own do not.
        let by = if answer.header("x-request-id").is_some() {
            "gateway"
        } else {
            "hyper"
        };
        table.push(format!(
            "| {} | {} | {} | {by} |",
            case.what,
            answer.status,
            case.code.unwrap_or("(empty body)")
        ));
    }
    println!(
        "pass-through attacks, none reached Zoho:\n{}",
        table.join("\n")
    );

    // The control: a clean request does reach Zoho, so the counters above could have moved.
    let answer = raw(
        &gateway,
        &request("GET", &format!("{p}/departments"), READER_KEY, None),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(sim.stats().desk_requests, before.desk_requests + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_target_never_chooses_the_upstream_host() {
    let (sim, gateway) = start(&[]).await;
    // A host the attacker controls: it must never see a connection.
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_addr = evil.local_addr().unwrap();
    let p = "/api/zoho-desk/v1";
    let attempts = [
        format!(
            "GET http://{evil_addr}{p}/departments HTTP/1.1\r\nHost: {evil_addr}\r\nX-API-Key: {READER_KEY}\r\nConnection: close\r\n\r\n"
        ),
        format!(
            "GET {p}/departments HTTP/1.1\r\nHost: {evil_addr}\r\nX-Forwarded-Host: {evil_addr}\r\nX-Forwarded-Proto: http\r\nForwarded: host={evil_addr}\r\nX-API-Key: {READER_KEY}\r\nConnection: close\r\n\r\n"
        ),
        format!(
            "GET /api/zoho-desk/departments HTTP/1.1\r\nHost: {evil_addr}\r\nX-API-Key: {READER_KEY}\r\nConnection: close\r\n\r\n"
        ),
    ];
    for attempt in &attempts {
        let answer = raw(&gateway, attempt.as_bytes()).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    // A fragment is not part of the path: what is forwarded is what was checked.
    let answer = raw(&gateway, &get(&format!("{p}/departments#/../../agents"))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let accepted = tokio::time::timeout(Duration::from_millis(500), evil.accept()).await;
    assert!(
        accepted.is_err(),
        "the gateway connected to the attacker's host"
    );
    let stats = sim.stats();
    assert_eq!(
        stats.calls("GET /departments"),
        4,
        "{:?}",
        stats.by_route_status
    );
    assert_eq!(stats.calls("GET /agents"), 0);
}
