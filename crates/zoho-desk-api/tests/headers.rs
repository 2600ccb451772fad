//! The `request_headers` hook and the "401 persisted" warning, against a raw HTTP server that
//! records every request head it receives (zoho-sim does not expose request headers).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use test_support::raw_http::{read_request_head, write_json_answer};
use tokio::net::TcpListener;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use zoho_auth::{AccessToken, TokenError};
use zoho_desk_api::{DeskClient, PageRequest, TicketFilter, TokenSource};

const TOKEN: &str = "1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const DEADLINE: Duration = Duration::from_secs(20);

/// A token source that always hands out [`TOKEN`] and counts rejections.
#[derive(Default, Clone)]
struct StaticTokens {
    rejected: Arc<AtomicUsize>,
}

impl TokenSource for StaticTokens {
    fn token(&self) -> Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send + '_>> {
        Box::pin(async { Ok(AccessToken::new(TOKEN)) })
    }

    fn reject(&self, _token: &AccessToken) {
        self.rejected.fetch_add(1, Ordering::SeqCst);
    }
}

/// A one-request-per-connection HTTP server: answers the n-th request with `answers[n]` (the last
/// answer repeats) and records each request head, lower-cased.
struct RawServer {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

async fn raw_server(answers: Vec<(u16, &'static str)>) -> RawServer {
    raw_server_with_headers(answers.into_iter().map(|(s, b)| (s, "", b)).collect()).await
}

/// [`raw_server`] whose answers also carry extra header lines (each ending in `\r\n`).
async fn raw_server_with_headers(answers: Vec<(u16, &'static str, &'static str)>) -> RawServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let head = read_request_head(&mut socket).await;
            let n = {
                let mut seen = seen.lock().unwrap();
                seen.push(head);
                seen.len() - 1
            };
            let (status, extra, body) = answers[n.min(answers.len() - 1)];
            write_json_answer(&mut socket, &format!("{status} X"), extra, body).await;
        }
    });
    RawServer { url, heads }
}

/// Every value of header `name` in a recorded (lower-cased) request head.
fn header_values<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim())
        .collect()
}

/// One event's fields, `message` included, as text.
type EventFields = Vec<(String, String)>;

/// Captures WARN-and-above events.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<EventFields>>>);

impl<S: tracing::Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        struct Fields(Vec<(String, String)>);
        impl Visit for Fields {
            fn record_str(&mut self, field: &Field, value: &str) {
                self.0.push((field.name().to_owned(), value.to_owned()));
            }
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                self.0.push((field.name().to_owned(), format!("{value:?}")));
            }
        }
        if *event.metadata().level() <= tracing::Level::WARN {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
}

#[tokio::test]
async fn the_hook_adds_headers_to_every_attempt_inside_the_client_span() {
    let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry());
    let server = raw_server(vec![
        (401, r#"{"errorCode":"INVALID_OAUTH","message":"expired"}"#),
        (200, r#"{"data":[]}"#),
    ])
    .await;
    let tokens = StaticTokens::default();
    let spans_seen = Arc::new(Mutex::new(Vec::new()));
    let seen = spans_seen.clone();
    let desk = DeskClient::builder(&server.url, "123456", tokens.clone())
        .request_headers(move |headers| {
            let current = tracing::Span::current();
            seen.lock()
                .unwrap()
                .push(current.metadata().map(|m| m.name()).unwrap_or("none"));
            headers.insert("traceparent", TRACEPARENT.parse().unwrap());
            // Reserved for the client: must not reach Zoho from the hook.
            headers.insert("authorization", "Zoho-oauthtoken stolen".parse().unwrap());
            headers.insert("orgid", "999".parse().unwrap());
        })
        .build();
    let page = tokio::time::timeout(
        DEADLINE,
        desk.list_tickets(&TicketFilter::default(), PageRequest::first(5)),
    )
    .await
    .expect("answered in time")
    .expect("the retry after the 401 succeeds");
    assert!(page.data.is_empty());

    let heads = server.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "one 401 and one retry: {heads:?}");
    for head in &heads {
        assert_eq!(header_values(head, "traceparent"), [TRACEPARENT], "{head}");
        assert_eq!(
            header_values(head, "authorization"),
            [format!("zoho-oauthtoken {TOKEN}").as_str()],
            "only the client's own Authorization: {head}"
        );
        assert_eq!(header_values(head, "orgid"), ["123456"], "{head}");
    }
    assert_eq!(
        *spans_seen.lock().unwrap(),
        ["zoho_desk.request", "zoho_desk.request"],
        "the hook runs inside the attempt's client span"
    );
    assert_eq!(tokens.rejected.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_401_that_survives_the_retry_is_warned_once() {
    let captured = Captured::default();
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(captured.clone()));
    let server = raw_server(vec![(
        401,
        r#"{"errorCode":"INVALID_OAUTH","message":"expired"}"#,
    )])
    .await;
    let tokens = StaticTokens::default();
    let desk = DeskClient::builder(&server.url, "123456", tokens.clone()).build();
    let result = tokio::time::timeout(
        DEADLINE,
        desk.list_tickets(&TicketFilter::default(), PageRequest::first(5)),
    )
    .await
    .expect("answered in time");
    assert_eq!(result.unwrap_err().status(), Some(401));
    assert_eq!(
        server.heads.lock().unwrap().len(),
        2,
        "sent once, retried once"
    );
    assert_eq!(tokens.rejected.load(Ordering::SeqCst), 1);

    let events = captured.0.lock().unwrap().clone();
    let persisted: Vec<_> = events
        .iter()
        .filter(|fields| {
            fields.iter().any(|(k, v)| {
                k == "message" && v == "[Zoho Desk] 401 persisted after refresh and retry"
            })
        })
        .collect();
    assert_eq!(persisted.len(), 1, "{events:?}");
    let field = |name: &str| {
        persisted[0]
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("error_code"), Some("INVALID_OAUTH"));
    assert_eq!(field("endpoint"), Some("/tickets"));
    assert!(
        events
            .iter()
            .flatten()
            .all(|(_, v)| !v.contains("0123456789abcdef0123456789abcdef")),
        "no token in any warning: {events:?}"
    );
}

/// Zoho's `Retry-After` is untrusted: a value too large for a `Duration` once panicked the client.
/// Absurd waits are clamped to a day, unusable ones ignored, fractions kept.
#[tokio::test]
async fn an_absurd_retry_after_is_clamped_not_trusted() {
    const SPENT: &str = r#"{"errorCode":"THRESHOLD_EXCEEDED","message":"credits spent"}"#;
    let day = Duration::from_secs(24 * 60 * 60);
    for (header, expected) in [
        ("retry-after: 1e300\r\n", Some(day)),
        ("retry-after: 99999999999\r\n", Some(day)),
        ("retry-after: 2.5\r\n", Some(Duration::from_millis(2500))),
        ("retry-after: -5\r\n", None),
        ("retry-after: Wed, 21 Oct 2015 07:28:00 GMT\r\n", None),
    ] {
        let server = raw_server_with_headers(vec![(429, header, SPENT)]).await;
        let desk = DeskClient::builder(&server.url, "123456", StaticTokens::default()).build();
        let filter = TicketFilter::default();
        let call = desk.list_tickets(&filter, PageRequest::first(5));
        let error = tokio::time::timeout(DEADLINE, call)
            .await
            .expect("answered in time")
            .unwrap_err();
        assert_eq!(error.status(), Some(429), "{header}");
        assert_eq!(error.retry_after(), expected, "{header}");
    }
}
