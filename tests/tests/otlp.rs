//! The real binary exports its spans over OTLP/HTTP to a local receiver and flushes them on
//! SIGTERM.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{Gateway, zoho_env};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zoho_sim::{SimConfig, ZohoSim};

const INBOUND_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const INBOUND_SPAN: &str = "00f067aa0ba902b7";

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Export {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// A minimal OTLP/HTTP receiver: HTTP/1.1 with keep-alive, `Content-Length` bodies, answers
/// every request with an empty `200` (an empty `ExportTraceServiceResponse`).
async fn receiver() -> (String, Arc<Mutex<Vec<Export>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let exports = Arc::new(Mutex::new(Vec::new()));
    let store = exports.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(connection(socket, store.clone()));
        }
    });
    (endpoint, exports)
}

async fn connection(mut socket: TcpStream, store: Arc<Mutex<Vec<Export>>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let mut lines = head.lines();
        let path = lines
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .unwrap_or("")
            .to_owned();
        let header = |name: &str| {
            head.lines().skip(1).find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        store.lock().unwrap().push(Export {
            path,
            content_type: header("content-type").unwrap_or_default(),
            body: buffer[head_end..head_end + length].to_vec(),
        });
        buffer.drain(..head_end + length);
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if socket.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_and_are_flushed_on_sigterm() {
    let sim = ZohoSim::start(SimConfig::default())
        .await
        .expect("emulator");
    let (endpoint, exports) = receiver().await;
    let mut env = zoho_env(&sim);
    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint));
    let mut gateway = Gateway::start(&env).await;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/api/zoho-desk/tickets?limit=1", gateway.api))
        .header(
            "traceparent",
            format!("00-{INBOUND_TRACE}-{INBOUND_SPAN}-01"),
        )
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();

    // The batch exporter would wait up to 5 s; SIGTERM must flush it before the process exits.
    gateway.terminate();
    let status = gateway.wait().await;
    assert!(
        status.success(),
        "clean exit: {status:?}\n{}",
        gateway.output()
    );

    let exports = exports.lock().unwrap().clone();
    assert!(
        !exports.is_empty(),
        "no OTLP request arrived\n{}",
        gateway.output()
    );
    let mut spans: Vec<Span> = Vec::new();
    let mut service_names = Vec::new();
    for export in &exports {
        assert_eq!(export.path, "/v1/traces");
        assert_eq!(export.content_type, "application/x-protobuf");
        assert!(!export.body.is_empty(), "an empty export");
        let request = ExportTraceServiceRequest::decode(export.body.as_slice())
            .expect("an OTLP protobuf ExportTraceServiceRequest");
        for resource_spans in request.resource_spans {
            for attribute in resource_spans.resource.iter().flat_map(|r| &r.attributes) {
                if attribute.key == "service.name"
                    && let Some(AnyValue::StringValue(name)) =
                        attribute.value.as_ref().and_then(|v| v.value.clone())
                {
                    service_names.push(name);
                }
            }
            spans.extend(resource_spans.scope_spans.into_iter().flat_map(|s| s.spans));
        }
    }
    assert!(
        service_names.iter().all(|n| n == "zoho-gateway") && !service_names.is_empty(),
        "{service_names:?}"
    );
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();

    let server = spans
        .iter()
        .find(|s| s.name == "GET /api/zoho-desk/tickets")
        .unwrap_or_else(|| panic!("no server span among {names:?}"));
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(hex(&server.trace_id), INBOUND_TRACE);
    assert_eq!(hex(&server.parent_span_id), INBOUND_SPAN);

    let desk_call = spans
        .iter()
        .find(|s| s.name == "GET /tickets")
        .unwrap_or_else(|| panic!("no Desk client span among {names:?}"));
    assert_eq!(desk_call.kind, SpanKind::Client as i32);
    assert_eq!(desk_call.trace_id, server.trace_id);
    assert_eq!(desk_call.parent_span_id, server.span_id);

    let refresh = spans
        .iter()
        .find(|s| s.name == "zoho_token.refresh")
        .unwrap_or_else(|| panic!("no refresh span among {names:?}"));
    assert!(
        refresh.parent_span_id.is_empty(),
        "the refresh is a root span"
    );
}
