//! The API's own layers: request ids for requests without one, CORS, and the declared-size
//! check.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::auth::X_API_KEY;
use crate::error::{RouteError, X_REQUEST_ID};

/// `x-request-id` values for requests that come without one.
#[derive(Clone, Copy, Default)]
pub(super) struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // 32 lowercase hex digits, as `format!("{:016x}{:016x}")` wrote them, without the
        // formatting machinery.
        let mut id = [0u8; 32];
        let random = (u128::from(fastrand_u64()) << 64) | u128::from(fastrand_u64());
        for (index, digit) in id.iter_mut().enumerate() {
            *digit = HEX[((random >> (124 - 4 * index)) & 0xf) as usize];
        }
        HeaderValue::from_bytes(&id).ok().map(RequestId::new)
    }
}

fn fastrand_u64() -> u64 {
    // std's RandomState is seeded per process from the OS; hashing a counter gives cheap,
    // unpredictable-enough ids without another dependency.
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static STATE: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
    STATE
        .get_or_init(RandomState::new)
        .hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub(super) fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| o.parse::<HeaderValue>().ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PATCH])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                X_API_KEY,
                X_REQUEST_ID,
            ]),
    )
}

/// Refuses a request whose declared `Content-Length` is over the body limit before reading any
/// of it: the limit alone trips only once that many bytes have arrived, so a client declaring a
/// huge body and sending nothing would hold its connection until the request timeout. Answers
/// what the limit itself would: 413 `payload_too_large`.
pub(super) async fn refuse_declared_oversize(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: Request,
    next: Next,
) -> Result<Response, RouteError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(RouteError::for_status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    Ok(next.run(request).await)
}
