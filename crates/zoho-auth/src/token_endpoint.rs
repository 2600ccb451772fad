//! One call to Zoho's token endpoint, and the classification of whatever comes back.
//!
//! Zoho breaks RFC 6749 here (`zoho-behaviour.md` §1): most errors arrive with HTTP 200, throttling may be JSON
//! (200 or 400, English or translated) or an HTML page, and a success may use the legacy shape in
//! which `expires_in` is in milliseconds. Classification is by shape first, text second.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::Value;

use crate::error::RefreshError;
use crate::secret::{AccessToken, Credentials};
use crate::transport::TransportKind;

/// Zoho's documented access-token lifetime, assumed when a success omits `expires_in`.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Bodies larger than this are not read: a token response is a few hundred bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A successful refresh.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The new access token.
    pub access_token: AccessToken,
    /// Its lifetime as Zoho stated it.
    pub expires_in: Duration,
    /// `api_domain`, when present (used at most to detect the data centre).
    pub api_domain: Option<String>,
}

/// Performs the refresh grant: a urlencoded `POST` body, so no secret is ever part of a URL.
pub(crate) async fn refresh(
    http: &reqwest::Client,
    token_url: &str,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<Grant, RefreshError> {
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", credentials.client_id()),
        ("client_secret", credentials.client_secret().expose_secret()),
        ("refresh_token", credentials.refresh_token().expose_secret()),
    ];
    let exchange = async {
        let response = http
            .post(token_url)
            .form(&form)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(RefreshError::Malformed {
                    status,
                    detail: "body too large",
                });
            }
            body.extend_from_slice(&chunk);
        }
        classify(status, &body)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(RefreshError::Timeout(timeout)))
}

/// A transport error by kind only: its message names the URL (which holds no secret, but error
/// text should stay short and stable).
fn transport_error(error: reqwest::Error) -> RefreshError {
    RefreshError::Transport(TransportKind::of(&error))
}

/// Classifies a token-endpoint response. Pure, so it can be tested and fuzzed on its own.
pub fn classify(status: u16, body: &[u8]) -> Result<Grant, RefreshError> {
    let Ok(Value::Object(json)) = serde_json::from_slice::<Value>(body) else {
        return Err(classify_non_json(status, body));
    };
    if let Some(token) = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        let expires_in = match (
            number(json.get("expires_in_sec")),
            number(json.get("expires_in")),
        ) {
            // Legacy shape: `expires_in_sec` present means `expires_in` is in milliseconds.
            (Some(secs), _) => Duration::from_secs_f64(secs),
            (None, Some(secs)) => Duration::from_secs_f64(secs),
            (None, None) => DEFAULT_TOKEN_LIFETIME,
        };
        if expires_in.is_zero() {
            return Err(RefreshError::Malformed {
                status,
                detail: "non-positive expires_in",
            });
        }
        return Ok(Grant {
            access_token: AccessToken::new(token),
            expires_in,
            api_domain: json
                .get("api_domain")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    if status == 429 {
        return Err(RefreshError::Throttled);
    }
    let Some(error) = json.get("error") else {
        return Err(if status >= 500 {
            RefreshError::ServerError { status }
        } else {
            RefreshError::Malformed {
                status,
                detail: "no access_token and no error",
            }
        });
    };
    let code = error.as_str().unwrap_or("");
    match code {
        "invalid_code" => Err(RefreshError::RevokedRefreshToken),
        "invalid_client" => Err(RefreshError::InvalidClient),
        "invalid_client_secret" => Err(RefreshError::InvalidClientSecret),
        // Throttling by shape: an `error` with a human description (English, newer wording or
        // translated), or Zoho's `"status":"failure"` marker.
        _ if json.contains_key("error_description")
            || json.get("status").and_then(Value::as_str) == Some("failure")
            || code.eq_ignore_ascii_case("Access Denied") =>
        {
            Err(RefreshError::Throttled)
        }
        _ if status >= 500 => Err(RefreshError::ServerError { status }),
        _ => Err(RefreshError::Rejected {
            code: sanitize_code(code),
        }),
    }
}

fn classify_non_json(status: u16, body: &[u8]) -> RefreshError {
    let text = String::from_utf8_lossy(&body[..body.len().min(8 * 1024)]).to_ascii_lowercase();
    if status == 429
        || text.contains("access denied")
        || text.contains("request limit")
        || text.contains("too many requests")
    {
        RefreshError::Throttled
    } else if status >= 500 {
        RefreshError::ServerError { status }
    } else {
        RefreshError::Malformed {
            status,
            detail: "body is not a JSON object",
        }
    }
}

/// A non-negative number, given as a JSON number or a numeric string.
fn number(value: Option<&Value>) -> Option<f64> {
    let n = match value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (0.0..1e12).contains(&n).then_some(n)
}

/// Keeps an unknown error code printable and short: it ends up in logs and status responses.
fn sanitize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, body: &str, want: Result<Duration, RefreshError>) {
        let got = classify(status, body.as_bytes()).map(|g| g.expires_in);
        assert_eq!(got, want, "status {status}, body {body}");
    }

    #[test]
    fn classifies_every_documented_response() {
        use RefreshError::*;
        let hour = Ok(Duration::from_secs(3600));
        check(
            200,
            r#"{"access_token":"1000.a.b","api_domain":"https://www.zohoapis.com","token_type":"Bearer","expires_in":3600}"#,
            hour.clone(),
        );
        check(
            200,
            r#"{"access_token":"1000.a.b","expires_in":3600,"scope":"Desk.tickets.ALL"}"#,
            hour.clone(),
        );
        check(
            200,
            r#"{"access_token":"1000.a.b","expires_in_sec":3600,"expires_in":3600000}"#,
            hour.clone(),
        );
        check(
            200,
            r#"{"access_token":"1000.a.b","expires_in":"3600"}"#,
            hour.clone(),
        );
        check(200, r#"{"access_token":"1000.a.b"}"#, hour);
        check(
            200,
            r#"{"access_token":"1000.a.b","expires_in":0}"#,
            Err(Malformed {
                status: 200,
                detail: "non-positive expires_in",
            }),
        );
        check(200, r#"{"error":"invalid_code"}"#, Err(RevokedRefreshToken));
        check(400, r#"{"error":"invalid_code"}"#, Err(RevokedRefreshToken));
        check(200, r#"{"error":"invalid_client"}"#, Err(InvalidClient));
        check(
            200,
            r#"{"error":"invalid_client_secret"}"#,
            Err(InvalidClientSecret),
        );
        check(
            200,
            r#"{"error_description":"You have made too many requests continuously. Please try again after some time.","error":"Access Denied","status":"failure"}"#,
            Err(Throttled),
        );
        check(
            400,
            r#"{"error_description":"You have made too many requests continuously. Please try again after some time.","error":"Access Denied","status":"failure"}"#,
            Err(Throttled),
        );
        check(
            200,
            r#"{"error_description":"Token creation throttle limit reached. Please reuse the valid tokens you currently have.","error":"Access Denied"}"#,
            Err(Throttled),
        );
        check(
            400,
            r#"{"error_description":"Sie haben zu viele Anfragen gestellt.","error":"Zugriff verweigert","status":"failure"}"#,
            Err(Throttled),
        );
        check(
            200,
            "<html><body>Access Denied: Maximum request limit reached for your account...</body></html>",
            Err(Throttled),
        );
        check(429, "", Err(Throttled));
        check(
            200,
            r#"{"status":"ok"}"#,
            Err(Malformed {
                status: 200,
                detail: "no access_token and no error",
            }),
        );
        check(
            200,
            r#"{"access_token":""}"#,
            Err(Malformed {
                status: 200,
                detail: "no access_token and no error",
            }),
        );
        check(
            200,
            "[]",
            Err(Malformed {
                status: 200,
                detail: "body is not a JSON object",
            }),
        );
        check(
            200,
            "",
            Err(Malformed {
                status: 200,
                detail: "body is not a JSON object",
            }),
        );
        check(
            502,
            "<html><head><title>502 Bad Gateway</title></head></html>",
            Err(ServerError { status: 502 }),
        );
        check(
            503,
            r#"{"message":"down"}"#,
            Err(ServerError { status: 503 }),
        );
        check(
            200,
            r#"{"error":"unsupported_grant_type"}"#,
            Err(Rejected {
                code: "unsupported_grant_type".into(),
            }),
        );
        check(
            200,
            r#"{"error":"bad\n\u0000code"}"#,
            Err(Rejected {
                code: "badcode".into(),
            }),
        );
    }
}
