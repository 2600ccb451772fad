//! Secret-holding types. Their `Debug` and `Display` never show the secret: at most a short
//! preview, so a stray `{:?}` in a log line cannot leak a token.

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

/// Characters of a token shown in previews (`1000.45a7b8cf863…`).
pub const PREVIEW_CHARS: usize = 16;

/// The first [`PREVIEW_CHARS`] characters of `secret` followed by `…`, or `…` alone when the
/// secret is too short for a preview to hide most of it.
pub fn preview(secret: &str) -> String {
    if secret.chars().count() <= PREVIEW_CHARS * 2 {
        return "…".to_owned();
    }
    let head: String = secret.chars().take(PREVIEW_CHARS).collect();
    format!("{head}…")
}

/// A Zoho access token. Cheap to clone; `Debug`/`Display` show only a preview.
#[derive(Clone)]
pub struct AccessToken(Arc<SecretString>);

impl AccessToken {
    /// Wraps a raw token.
    pub fn new(token: impl Into<String>) -> Self {
        AccessToken(Arc::new(SecretString::from(token.into())))
    }

    /// The raw token, for the `Authorization` header and nothing else.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// A short, safe preview for logs and status responses.
    pub fn preview(&self) -> String {
        preview(self.expose_secret())
    }

    /// The `Authorization` header value Zoho expects: `Zoho-oauthtoken <token>`.
    pub fn authorization(&self) -> String {
        format!("Zoho-oauthtoken {}", self.expose_secret())
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken({})", self.preview())
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.preview())
    }
}

/// OAuth client credentials and the refresh token they go with.
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    client_secret: Arc<SecretString>,
    refresh_token: Arc<SecretString>,
}

impl Credentials {
    /// Credentials of a "Server-based Application" and a refresh token it was granted.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        refresh_token: impl Into<String>,
    ) -> Self {
        Credentials {
            client_id: client_id.into(),
            client_secret: Arc::new(SecretString::from(client_secret.into())),
            refresh_token: Arc::new(SecretString::from(refresh_token.into())),
        }
    }

    /// The client id (not a secret: it appears in Zoho's consent URLs).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret, for the token request body only.
    pub fn client_secret(&self) -> &SecretString {
        &self.client_secret
    }

    /// The refresh token, for the token request body only.
    pub fn refresh_token(&self) -> &SecretString {
        &self.refresh_token
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field(
                "refresh_token",
                &preview(self.refresh_token.expose_secret()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_shows_sixteen_characters_of_a_zoho_token() {
        let token = "1000.45a7b8cf8630d5aa9b7e2c1d0f3e4a5b.6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f";
        assert_eq!(preview(token), "1000.45a7b8cf863…");
        assert_eq!(preview("short-secret"), "…");
    }
}
