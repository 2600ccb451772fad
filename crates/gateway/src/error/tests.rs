//! Rendering through the one layer: body shape, request id, headers, bare answers.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::from_fn;
use axum::response::IntoResponse;
use axum::routing::get;
use tower::ServiceExt;
use zoho_desk_api::{ApiError, DeskError};

use super::*;

/// Answers `error` on `/`, through [`render_errors`]; the status, headers and JSON body.
async fn answer(
    error: impl Fn() -> Response + Clone + Send + Sync + 'static,
    request_id: Option<&str>,
) -> (StatusCode, HeaderMap, serde_json::Value) {
    let app = Router::new()
        .route("/", get(move || std::future::ready(error())))
        .layer(from_fn(render_errors));
    send(app, "/", request_id).await
}

async fn send(
    app: Router,
    uri: &str,
    request_id: Option<&str>,
) -> (StatusCode, HeaderMap, serde_json::Value) {
    let mut request = Request::get(uri);
    if let Some(id) = request_id {
        request = request.header(X_REQUEST_ID, id);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (parts.status, parts.headers, json)
}

#[tokio::test]
async fn the_body_carries_code_message_and_the_request_id() {
    let error = || RouteError::new(ErrorCode::NotAllowed, "not here").into_response();
    let (status, headers, json) = answer(error, Some("req-9")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        json,
        serde_json::json!({"error": {"code": "not_allowed", "message": "not here", "requestId": "req-9"}})
    );
    // Without a (printable) id, no `requestId`.
    let (_, _, json) = answer(error, None).await;
    assert!(json["error"].get("requestId").is_none(), "{json}");
    let (_, _, json) = answer(error, Some(&"x".repeat(129))).await;
    assert!(json["error"].get("requestId").is_none(), "{json}");
}

#[tokio::test]
async fn retry_after_is_rounded_up_on_typed_routes_too() {
    // A Desk 429 with Retry-After 2.7 s, as a typed route answers it: "3", as the pass-through
    // and the rate limit say (typed routes used to say "2").
    let error = || {
        let api = ApiError::from_response(
            429,
            br#"{"errorCode":"TOO_MANY_REQUESTS","message":"slow down"}"#,
            Some(Duration::from_millis(2700)),
        );
        RouteError::from(DeskError::Api(api)).into_response()
    };
    let (status, headers, json) = answer(error, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json["error"]["code"], "zoho_rate_limited");
    assert_eq!(headers[header::RETRY_AFTER], "3");

    // Never "0": a wait under a second is 1.
    let short = || {
        RouteError::new(ErrorCode::TokenUnavailable, "soon")
            .with_retry_after(Some(Duration::from_millis(200)))
            .into_response()
    };
    assert_eq!(answer(short, None).await.1[header::RETRY_AFTER], "1");
    // The rounding rule itself, every method of the gateway's `Retry-After` goes through.
    assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
    assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
    assert_eq!(retry_after_secs(Duration::ZERO), 1);
    assert_eq!(
        retry_after_secs(Duration::MAX),
        u64::MAX,
        "saturates, no overflow"
    );
}

#[tokio::test]
async fn allow_www_authenticate_and_fields_travel_with_the_error() {
    let (status, headers, _) = answer(
        || {
            RouteError::new(ErrorCode::MethodNotAllowed, "no")
                .with_allow(vec![Method::GET, Method::PATCH])
                .into_response()
        },
        None,
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "GET, PATCH");

    let (status, headers, _) = answer(
        || RouteError::new(ErrorCode::Unauthorized, "who?").into_response(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");

    let (status, _, json) = answer(
        || {
            let api = ApiError::from_response(
                422,
                br#"{"errorCode":"INVALID_DATA","message":"bad","errors":[{"fieldName":"/email","errorType":"invalid","errorMessage":"x"}]}"#,
                None,
            );
            RouteError::from(DeskError::Api(api)).into_response()
        },
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["error"]["code"], "validation_failed");
    assert!(json["error"]["fields"].is_array(), "{json}");
}

#[tokio::test]
async fn bare_error_answers_get_the_same_shape_and_json_answers_pass() {
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/zoho",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(serde_json::json!({"errorCode": "URL_NOT_FOUND"})),
                )
            }),
        )
        .route("/slow", get(|| async { StatusCode::GATEWAY_TIMEOUT }))
        .layer(from_fn(render_errors));
    let (status, _, json) = send(app.clone(), "/nowhere", Some("req-1")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json["error"]["code"], "not_found");
    assert_eq!(json["error"]["message"], "Not Found");
    assert_eq!(json["error"]["requestId"], "req-1");

    let (status, _, json) = send(app.clone(), "/slow", None).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(json["error"]["code"], "timeout");

    // Zoho's own JSON, relayed by the pass-through, is not rewritten.
    let (status, _, json) = send(app.clone(), "/zoho", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json, serde_json::json!({"errorCode": "URL_NOT_FOUND"}));

    let (status, _, json) = send(app, "/", None).await;
    assert_eq!((status, json), (StatusCode::OK, serde_json::Value::Null));
}

#[test]
fn bare_statuses_map_to_codes_and_keep_their_status() {
    for (status, code) in [
        (StatusCode::NOT_FOUND, "not_found"),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (StatusCode::REQUEST_TIMEOUT, "timeout"),
        (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        (StatusCode::SERVICE_UNAVAILABLE, "internal"),
        (StatusCode::CONFLICT, "invalid_request"),
    ] {
        let error = RouteError::for_status(status);
        assert_eq!((error.status(), error.code().as_str()), (status, code));
    }
}

#[tokio::test]
async fn a_panic_is_internal_with_the_request_id_and_no_panic_text() {
    async fn boom() -> &'static str {
        panic!("secret-in-panic")
    }
    // As in the API stack: the catcher inside the render layer.
    let app = Router::new()
        .route("/", get(boom))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(from_fn(render_errors));
    let (status, _, json) = send(app, "/", Some("req-p")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json["error"]["code"], "internal");
    assert_eq!(json["error"]["requestId"], "req-p");
    assert!(!json.to_string().contains("secret-in-panic"));
}
