//! Slow clients: trickled headers and bodies, the connection limit.

use std::time::{Duration, Instant};

use e2e::Gateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::raw::{Raw, socket_addr};
use crate::{
    HEADER_READ_TIMEOUT, READER_KEY, WRITER_KEY, assert_still_serving, assert_zoho_untouched, code,
    http, start,
};

/// What became of a connection whose client trickles bytes.
#[derive(Debug)]
enum Trickled {
    /// The server closed the connection (or reset it) without answering.
    Closed,
    /// The server answered.
    Answered(Raw),
    /// Nothing happened within the bound.
    StillOpen,
}

/// Connects, sends `start`, then one byte of `drip` every `every` (cycling) until the server
/// answers or closes the connection, or `bound` passes.
async fn trickle(
    gateway: &Gateway,
    start: &[u8],
    drip: &[u8],
    every: Duration,
    bound: Duration,
) -> Trickled {
    let stream = TcpStream::connect(socket_addr(gateway)).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(start).await.unwrap();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let drip = drip.to_vec();
    let dripping = tokio::spawn(async move {
        if drip.is_empty() {
            // Silent, but the write half stays open (dropping it would send a FIN).
            let _ = stop_rx.await;
            drop(writer);
            return;
        }
        for byte in drip.iter().cycle() {
            tokio::select! {
                _ = &mut stop_rx => return,
                () = tokio::time::sleep(every) => {}
            }
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    });
    let deadline = tokio::time::Instant::now() + bound;
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let outcome = loop {
        match tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await {
            Err(_) => break Trickled::StillOpen,
            Ok(Ok(0)) | Ok(Err(_)) => {
                break match Raw::parse(&received) {
                    Some(answer) => Trickled::Answered(answer),
                    None => Trickled::Closed,
                };
            }
            Ok(Ok(n)) => {
                received.extend_from_slice(&chunk[..n]);
                // Stop sending once an answer starts, so the close is not turned into a reset
                // that discards it; then read it to the end.
                if let Some(answer) = received
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .and_then(|_| Raw::parse(&received))
                {
                    let length = answer
                        .header("content-length")
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if answer.body.len() >= length {
                        break Trickled::Answered(answer);
                    }
                }
            }
        }
    };
    let _ = stop_tx.send(());
    let _ = dripping.await;
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_do_not_hold_up_other_clients() {
    let (sim, gateway) = start(&[]).await;
    let before = sim.stats();
    let bound = HEADER_READ_TIMEOUT + Duration::from_secs(15);
    // Slowloris: a request line, then a header that never ends, one byte a second.
    let opening = format!(
        "GET /api/zoho-desk/agents HTTP/1.1\r\nHost: x\r\nX-API-Key: {READER_KEY}\r\nX-Slow: "
    );
    let slowloris = trickle(
        &gateway,
        opening.as_bytes(),
        b"abcdefgh",
        Duration::from_secs(1),
        bound,
    );
    // A connection that never sends a byte.
    let silent = trickle(&gateway, b"", b"", Duration::from_secs(3600), bound);
    // Meanwhile everyone else is served.
    let others = async {
        let client = http();
        for _ in 0..5 {
            assert_still_serving(&client, &gateway, "a normal request during the slowloris").await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    };
    let started = Instant::now();
    let (slowloris, silent, ()) = tokio::join!(slowloris, silent, others);
    for (what, outcome) in [("slowloris", slowloris), ("silent", silent)] {
        match outcome {
            Trickled::Closed => {}
            Trickled::Answered(answer) => assert!(
                (400..500).contains(&answer.status),
                "{what}: served: {answer:?}"
            ),
            Trickled::StillOpen => panic!(
                "{what}: the connection was still open after {:?}: no header read timeout",
                started.elapsed()
            ),
        }
    }
    let stats = sim.stats();
    assert_eq!(
        stats.desk_requests,
        before.desk_requests + 5,
        "only the normal requests reached Zoho"
    );
}

/// `GATEWAY_MAX_CONNECTIONS`: idle connections up to the limit leave the next client waiting
/// (not served, not refused with a socket error: it waits in the backlog), and the admin
/// listener keeps answering; one idle connection closing lets the waiting client through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_holds_and_frees_up() {
    let (_sim, gateway) = start(&[("GATEWAY_MAX_CONNECTIONS", "3")]).await;
    let client = http();
    let url = format!("{}/api/zoho-desk/agents", gateway.api);
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(socket_addr(&gateway)).await.unwrap());
    }
    // Let the gateway accept all three.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move {
            let answer = client.get(url).bearer_auth(READER_KEY).send().await;
            answer.map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!waiting.is_finished(), "a fourth connection was served");
    let health = client
        .get(format!("{}/healthz", gateway.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the admin listener is not limited");
    drop(idle.pop());
    let status = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("served once a connection closed")
        .unwrap()
        .expect("an answer");
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_time_out_with_a_json_error() {
    let (sim, gateway) = start(&[("GATEWAY_REQUEST_TIMEOUT_SECS", "2")]).await;
    let before = sim.stats();
    for path in ["/api/zoho-desk/tickets", "/api/zoho-desk/v1/tickets"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {WRITER_KEY}\r\nContent-Type: application/json\r\nContent-Length: 200\r\nConnection: close\r\n\r\n{{\"subject\": \""
        );
        let started = Instant::now();
        let outcome = trickle(
            &gateway,
            head.as_bytes(),
            b"slow",
            Duration::from_millis(500),
            Duration::from_secs(15),
        )
        .await;
        let Trickled::Answered(answer) = outcome else {
            panic!("{path}: no answer to a trickling body: {outcome:?}");
        };
        assert!(
            matches!(answer.status, 408 | 504),
            "{path}: {} {}",
            answer.status,
            answer.body
        );
        assert!(answer.is_json(), "{path}: {}", answer.head);
        assert_eq!(code(&answer.json()), "timeout", "{path}: {}", answer.body);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path}: answered only after {:?}",
            started.elapsed()
        );
        assert_zoho_untouched(&sim, &before, path);
    }
}
