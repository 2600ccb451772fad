//! CRLF and header injection, request smuggling.

use std::time::Duration;

use e2e::assert_no_secrets;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::raw::{get, raw, read_all, socket_addr};
use crate::{READER_KEY, WRITER_KEY, assert_zoho_untouched, code, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crlf_and_header_injection_are_refused() {
    let (sim, gateway) = start(&[]).await;
    let before = sim.stats();
    let route = "/api/zoho-desk/v1/departments";
    let head = |extra: &str| {
        format!(
            "GET {route} HTTP/1.1\r\nHost: x\r\nX-API-Key: {READER_KEY}\r\n{extra}Connection: close\r\n\r\n"
        )
        .into_bytes()
    };
    let refused = [
        (
            "a bare CR in a header value",
            head("X-Request-Id: abc\rSet-Cookie: injected=1\r\n"),
        ),
        (
            "a folded header line (obs-fold)",
            head("X-Request-Id: abc\r\n Set-Cookie: injected=1\r\n"),
        ),
        (
            "a header name with a space",
            head("X-Request Id: abc\r\n"),
        ),
        (
            "a header line without a colon",
            head("Set-Cookie injected\r\n"),
        ),
        (
            "a NUL in a header value",
            head("X-Request-Id: a\0b\r\n"),
        ),
        (
            "CRLF in the request target",
            format!(
                "GET {route}\r\nX-Injected: 1 HTTP/1.1\r\nHost: x\r\nX-API-Key: {READER_KEY}\r\nConnection: close\r\n\r\n"
            )
            .into_bytes(),
        ),
        (
            "two Content-Lengths",
            format!(
                "POST /api/zoho-desk/v1/contacts HTTP/1.1\r\nHost: x\r\nX-API-Key: {WRITER_KEY}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{{}}"
            )
            .into_bytes(),
        ),
    ];
    for (what, bytes) in refused {
        let answer = raw(&gateway, &bytes).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.head);
        assert!(
            !answer.head.to_ascii_lowercase().contains("injected"),
            "{what}: reflected: {}",
            answer.head
        );
        assert_zoho_untouched(&sim, &before, what);
    }

    // Encoded CRLF reaches the gateway's own checks: refused as JSON, reflected nowhere.
    for (what, target, expected) in [
        (
            "%0d%0a in the path",
            "/api/zoho-desk/v1/departments%0d%0aSet-Cookie:%20injected=1",
            "invalid_path",
        ),
        (
            "%0d%0a in a pass-through query",
            "/api/zoho-desk/v1/departments?x=%0d%0aSet-Cookie:%20injected=1",
            "invalid_query",
        ),
    ] {
        let answer = raw(&gateway, &get(target)).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        assert_eq!(code(&answer.json()), expected, "{what}");
        assert!(
            answer.header("set-cookie").is_none(),
            "{what}: {}",
            answer.head
        );
        assert_zoho_untouched(&sim, &before, what);
    }

    // The only request header the gateway echoes is x-request-id: as one opaque value.
    let answer = raw(
        &gateway,
        &head("X-Request-Id: abc%0d%0aSet-Cookie:%20injected=1\r\n"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.header("set-cookie").is_none(), "{}", answer.head);
    assert_eq!(
        answer.header("x-request-id"),
        Some("abc%0d%0aSet-Cookie:%20injected=1")
    );

    // Smuggling: Transfer-Encoding wins over Content-Length and the connection is closed after
    // the first request, so the request hidden in the "body" is never served.
    let smuggled = format!(
        "GET {route} HTTP/1.1\r\nHost: x\r\nX-API-Key: {READER_KEY}\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/zoho-desk/v1/agents HTTP/1.1\r\nHost: x\r\nX-API-Key: {READER_KEY}\r\n\r\n"
    );
    let mut stream = TcpStream::connect(socket_addr(&gateway)).await.unwrap();
    stream.write_all(smuggled.as_bytes()).await.unwrap();
    let text =
        String::from_utf8_lossy(&read_all(&mut stream, Duration::from_secs(10)).await).into_owned();
    assert_no_secrets("the smuggling answer", &text);
    assert_eq!(
        text.matches("HTTP/1.1 ").count(),
        1,
        "one answer only: {text}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        sim.stats().calls("GET /agents"),
        0,
        "the smuggled request was served"
    );
}
