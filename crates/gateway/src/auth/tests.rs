//! Keys, roles and the middleware, through a router.

use std::sync::Arc;

use super::keys::{ApiKeyEntry, hash_key_hex};
use super::middleware::AuthError;
use super::*;
use crate::config::var;
use crate::error::render_errors;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use tower::ServiceExt;

const READ_KEY: &str = "read-key-0123456789abcdef";
const WRITE_KEY: &str = "write-key-0123456789abcdef";
const ADMIN_KEY: &str = "admin-key-0123456789abcdef";
const WRONG_KEY: &str = "wrong-key-0123456789abcdef";

fn keys() -> ApiKeys {
    ApiKeys::parse(&format!(
        "reader:read:{READ_KEY}, writer:write:sha256:{}, ops:admin:{ADMIN_KEY}",
        hash_key_hex(WRITE_KEY)
    ))
    .unwrap()
}

#[test]
fn roles_nest() {
    assert!(Role::Read < Role::Write && Role::Write < Role::Admin);
    for (role, allowed) in [
        (Role::Read, [true, false, false]),
        (Role::Write, [true, true, false]),
        (Role::Admin, [true, true, true]),
    ] {
        for (required, want) in [Role::Read, Role::Write, Role::Admin]
            .into_iter()
            .zip(allowed)
        {
            assert_eq!(role.allows(required), want, "{role} for {required}");
        }
    }
    assert_eq!("ADMIN".parse::<Role>(), Ok(Role::Admin));
    assert!("owner".parse::<Role>().is_err());
}

#[test]
fn raw_and_digest_entries_authenticate() {
    let keys = keys();
    assert_eq!(keys.len(), 3);
    let who = |key: &str| keys.authenticate(key).map(|e| (e.name.as_str(), e.role));
    assert_eq!(who(READ_KEY), Some(("reader", Role::Read)));
    assert_eq!(who(WRITE_KEY), Some(("writer", Role::Write)));
    assert_eq!(who(ADMIN_KEY), Some(("ops", Role::Admin)));
    assert_eq!(who(WRONG_KEY), None);
    assert_eq!(who(""), None);
    // A prefix or an extension of a key is not the key.
    assert_eq!(who(&READ_KEY[..READ_KEY.len() - 1]), None);
    assert_eq!(who(&format!("{READ_KEY}x")), None);
    // Digests are accepted in either case; the sha256 prefix too.
    let upper = ApiKeys::parse(&format!(
        "w:write:SHA256:{}",
        hash_key_hex(WRITE_KEY).to_uppercase()
    ))
    .unwrap();
    assert!(upper.authenticate(WRITE_KEY).is_some());
    assert!(ApiKeys::none().authenticate(READ_KEY).is_none());
}

#[test]
fn every_entry_is_compared() {
    // The match is selected by index with `conditional_assign`, never by returning early, so
    // with the key last or first the loop does the same work. This test pins the observable
    // half of that: a match in any position is found, and exactly one entry is returned.
    let entries: Vec<_> = (0..50)
        .map(|i| {
            ApiKeyEntry::from_raw(
                format!("k{i}"),
                Role::Read,
                &format!("key-number-{i:04}-padding"),
            )
        })
        .collect();
    let keys = ApiKeys::from_entries(entries).unwrap();
    for i in [0, 1, 25, 49] {
        let found = keys
            .authenticate(&format!("key-number-{i:04}-padding"))
            .unwrap();
        assert_eq!(found.name, format!("k{i}"));
    }
    assert!(keys.authenticate("key-number-0050-padding").is_none());
}

#[test]
fn malformed_entries_are_problems_that_never_show_the_key() {
    let secret = "SECRET-KEY-VALUE-0123456789";
    let cases = [
        (secret.to_owned(), "entry 1: expected name:role:key"),
        (format!("ci:{secret}:write"), "entry 1: role must be"),
        (
            format!("{secret}:write:x"),
            "entry 1: the raw key is shorter",
        ),
        (format!("{secret}!:write:x"), "entry 1: the name must be"),
        ("ci:write:short".to_owned(), "shorter than 16 characters"),
        ("ci:write:sha256:abcd".to_owned(), "64 hexadecimal digits"),
        (format!("ci:write:{secret} x"), "contains whitespace"),
        (
            format!("ci:read:{secret}, ci:write:{READ_KEY}"),
            "entry 2 (\"ci\"): duplicate name (also entry 1)",
        ),
        (
            format!("a:read:{secret},b:write:sha256:{}", hash_key_hex(secret)),
            "entry 2 (\"b\"): same key as \"a\"",
        ),
    ];
    for (value, want) in cases {
        let problems = ApiKeys::parse(&value).unwrap_err();
        let text = problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(problems.iter().all(|p| p.variable == var::GATEWAY_API_KEYS));
        assert!(text.contains(want), "{value}: wanted {want:?} in {text}");
        assert!(!text.contains(secret), "key leaked: {text}");
    }
    // All problems are reported, not only the first.
    let problems = ApiKeys::parse("a:read:short,b:owner:0123456789abcdef0123").unwrap_err();
    assert_eq!(problems.len(), 2);
}

#[test]
fn keys_file_entries_and_list_entries_combine() {
    let path = std::env::temp_dir().join(format!(
        "gateway-auth-keys-{}-{}",
        std::process::id(),
        line!()
    ));
    std::fs::write(
        &path,
        format!("# ops keys\n\n  ops:admin:{ADMIN_KEY}  \nreader:read:{WRONG_KEY}\n"),
    )
    .unwrap();
    let problems =
        ApiKeys::from_config(Some(&format!("reader:read:{READ_KEY}")), Some(&path)).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].variable, var::GATEWAY_API_KEYS_FILE);
    assert!(problems[0].message.contains("line 4 of"), "{problems:?}");
    assert!(
        problems[0].message.contains("entry 1 of GATEWAY_API_KEYS"),
        "{problems:?}"
    );

    std::fs::write(&path, format!("ops:admin:{ADMIN_KEY}\n")).unwrap();
    let keys = ApiKeys::from_config(Some(&format!("reader:read:{READ_KEY}")), Some(&path)).unwrap();
    assert_eq!(keys.len(), 2);
    std::fs::remove_file(&path).ok();
}

#[test]
fn debug_shows_names_not_digests() {
    let debug = format!("{:?}", keys());
    assert!(
        debug.contains("reader") && debug.contains("Admin"),
        "{debug}"
    );
    assert!(!debug.contains(&hash_key_hex(WRITE_KEY)), "{debug}");
    assert!(!debug.contains("digest"), "{debug}");
}

async fn ok() -> &'static str {
    "ok"
}

async fn whoami(axum::Extension(key): axum::Extension<AuthenticatedKey>) -> String {
    format!("{}:{}", key.name, key.role)
}

fn app(keys: ApiKeys) -> Router {
    let keys = Arc::new(keys);
    let guard = |role| from_fn_with_state(RequireRole::new(keys.clone(), role), require_role);
    Router::new()
        .route("/read", get(whoami))
        .route_layer(guard(Role::Read))
        .merge(
            Router::new()
                .route("/write", get(ok).post(ok))
                .route_layer(guard(Role::Write)),
        )
        .merge(
            Router::new()
                .route("/admin", get(ok))
                .route_layer(guard(Role::Admin)),
        )
        .layer(from_fn(render_errors))
}

async fn call(
    app: &Router,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::builder().uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

#[tokio::test]
async fn middleware_answers_401_403_and_200() {
    let app = app(keys());

    let (status, headers, body) = call(&app, "/read", &[("x-request-id", "req-1")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["code"], "unauthorized");
    assert_eq!(json["error"]["requestId"], "req-1");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing API key")
    );

    let (status, headers, body) =
        call(&app, "/read", &[("authorization", &bearer(WRONG_KEY))]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    assert!(!body.contains(WRONG_KEY), "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json["error"].get("requestId").is_none());

    let (status, _, body) = call(&app, "/write", &[("x-api-key", READ_KEY)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["code"], "forbidden");
    assert!(body.contains("\\\"reader\\\" has role read"), "{body}");
    assert!(!body.contains(READ_KEY), "{body}");

    let (status, _, body) = call(&app, "/admin", &[("authorization", &bearer(WRITE_KEY))]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    for path in ["/read", "/write", "/admin"] {
        let (status, _, _) = call(
            &app,
            path,
            &[("Authorization", &format!("bearer {ADMIN_KEY}"))],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (status, _, body) = call(&app, "/read", &[("x-api-key", READ_KEY)]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "reader:read"));
    let (status, _, _) = call(&app, "/write", &[("x-api-key", WRITE_KEY)]).await;
    assert_eq!(status, StatusCode::OK);

    // Basic auth is not an API key.
    let (status, _, body) = call(&app, "/read", &[("authorization", "Basic dXNlcjpwdw==")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("malformed Authorization header"), "{body}");
}

#[tokio::test]
async fn no_keys_means_anonymous_admin() {
    let app = app(ApiKeys::none());
    for path in ["/write", "/admin"] {
        let (status, _, _) = call(&app, path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (_, _, body) = call(&app, "/read", &[]).await;
    assert_eq!(body, "anonymous:admin");
}

#[tokio::test]
async fn an_outer_layer_identity_is_reused() {
    // Outer layer: any valid key. Inner route layer: admin. A read key authenticates once and
    // is then refused by the inner check.
    let keys = Arc::new(keys());
    let app = Router::new()
        .route("/admin", get(ok))
        .route_layer(from_fn_with_state(
            RequireRole::new(keys.clone(), Role::Admin),
            require_role,
        ))
        .layer(from_fn_with_state(
            RequireRole::new(keys, Role::Read),
            require_role,
        ))
        .layer(from_fn(render_errors));
    let (status, _, _) = call(&app, "/admin", &[("x-api-key", READ_KEY)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(&app, "/admin", &[("x-api-key", ADMIN_KEY)]).await;
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn errors_never_contain_the_key() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&bearer(WRONG_KEY)).unwrap(),
    );
    let guard = RequireRole::new(Arc::new(keys()), Role::Read);
    let err = guard.check(&headers, None).unwrap_err();
    assert_eq!(err, AuthError::UnknownKey);
    assert!(!format!("{err} {err:?}").contains(WRONG_KEY));
}
