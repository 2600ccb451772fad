//! Zoho data centres and the URLs they imply (`docs/zoho-behaviour.md` §3).

use std::fmt;
use std::str::FromStr;

/// A Zoho data centre. The client id is common to all of them; the secret may differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataCentre {
    /// United States (`zoho.com`).
    Us,
    /// Europe (`zoho.eu`).
    Eu,
    /// India (`zoho.in`).
    In,
    /// Australia (`zoho.com.au`).
    Au,
    /// Japan (`zoho.jp`).
    Jp,
    /// Canada (`zohocloud.ca`, not `zoho.ca`).
    Ca,
    /// Saudi Arabia (`zoho.sa`).
    Sa,
    /// United Kingdom (`zoho.uk`).
    Uk,
    /// China (`zoho.com.cn`).
    Cn,
    /// Singapore (`zoho.sg`).
    Sg,
    /// United Arab Emirates (`zoho.ae`).
    Ae,
}

impl DataCentre {
    /// Every data centre, for listings and error messages.
    pub const ALL: [DataCentre; 11] = [
        DataCentre::Us,
        DataCentre::Eu,
        DataCentre::In,
        DataCentre::Au,
        DataCentre::Jp,
        DataCentre::Ca,
        DataCentre::Sa,
        DataCentre::Uk,
        DataCentre::Cn,
        DataCentre::Sg,
        DataCentre::Ae,
    ];

    /// Short name: `US`, `EU`, …
    pub fn name(self) -> &'static str {
        match self {
            DataCentre::Us => "US",
            DataCentre::Eu => "EU",
            DataCentre::In => "IN",
            DataCentre::Au => "AU",
            DataCentre::Jp => "JP",
            DataCentre::Ca => "CA",
            DataCentre::Sa => "SA",
            DataCentre::Uk => "UK",
            DataCentre::Cn => "CN",
            DataCentre::Sg => "SG",
            DataCentre::Ae => "AE",
        }
    }

    /// The domain suffix shared by the DC's Accounts and Desk hosts.
    fn domain(self) -> &'static str {
        match self {
            DataCentre::Us => "zoho.com",
            DataCentre::Eu => "zoho.eu",
            DataCentre::In => "zoho.in",
            DataCentre::Au => "zoho.com.au",
            DataCentre::Jp => "zoho.jp",
            DataCentre::Ca => "zohocloud.ca",
            DataCentre::Sa => "zoho.sa",
            DataCentre::Uk => "zoho.uk",
            DataCentre::Cn => "zoho.com.cn",
            DataCentre::Sg => "zoho.sg",
            DataCentre::Ae => "zoho.ae",
        }
    }

    /// `https://accounts.<domain>`.
    pub fn accounts_url(self) -> String {
        format!("https://accounts.{}", self.domain())
    }

    /// `https://desk.<domain>/api/v1`.
    pub fn desk_api_url(self) -> String {
        format!("https://desk.{}/api/v1", self.domain())
    }
}

impl fmt::Display for DataCentre {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a data-centre string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown Zoho data centre {0:?}: use a name (US, EU, IN, AU, JP, CA, SA, UK, CN, SG, AE) or a Desk domain such as desk.zoho.eu"
)]
pub struct UnknownDataCentre(pub String);

impl FromStr for DataCentre {
    type Err = UnknownDataCentre;

    /// Accepts a name (`US`, `eu`, case-insensitive; `COM` for US), a Desk or Accounts domain
    /// (`desk.zoho.eu`, `accounts.zohocloud.ca`), optionally with a scheme and path.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let trimmed = input.trim();
        let lower = trimmed.to_ascii_lowercase();
        if let Some(dc) = DataCentre::ALL.into_iter().find(|dc| {
            dc.name().eq_ignore_ascii_case(&lower) || (lower == "com" && *dc == DataCentre::Us)
        }) {
            return Ok(dc);
        }
        let host = lower
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        let domain = host
            .strip_prefix("desk.")
            .or_else(|| host.strip_prefix("accounts."))
            .unwrap_or("");
        DataCentre::ALL
            .into_iter()
            .find(|dc| dc.domain() == domain)
            .ok_or_else(|| UnknownDataCentre(trimmed.to_owned()))
    }
}

/// Where to find Zoho Accounts and the Desk API: from a data centre, or explicit URLs (the
/// emulator, a proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZohoEndpoints {
    accounts_url: String,
    desk_api_url: String,
}

/// Why an explicit endpoint URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be an absolute http(s) URL without credentials or query, got {value:?}")]
pub struct InvalidEndpoint {
    /// Which URL was wrong.
    pub what: &'static str,
    /// The value given.
    pub value: String,
}

impl ZohoEndpoints {
    /// The production endpoints of a data centre.
    pub fn for_data_centre(dc: DataCentre) -> Self {
        ZohoEndpoints {
            accounts_url: dc.accounts_url(),
            desk_api_url: dc.desk_api_url(),
        }
    }

    /// Explicit URLs: `accounts_url` is the Accounts server root (the token endpoint is
    /// `{accounts_url}/oauth/v2/token`), `desk_api_url` the Desk API base (`…/api/v1`).
    pub fn custom(accounts_url: &str, desk_api_url: &str) -> Result<Self, InvalidEndpoint> {
        Ok(ZohoEndpoints {
            accounts_url: validate_url("accounts URL", accounts_url)?,
            desk_api_url: validate_url("Desk API URL", desk_api_url)?,
        })
    }

    /// Replaces the Accounts URL only.
    pub fn with_accounts_url(mut self, accounts_url: &str) -> Result<Self, InvalidEndpoint> {
        self.accounts_url = validate_url("accounts URL", accounts_url)?;
        Ok(self)
    }

    /// Replaces the Desk API URL only.
    pub fn with_desk_api_url(mut self, desk_api_url: &str) -> Result<Self, InvalidEndpoint> {
        self.desk_api_url = validate_url("Desk API URL", desk_api_url)?;
        Ok(self)
    }

    /// The Accounts server root.
    pub fn accounts_url(&self) -> &str {
        &self.accounts_url
    }

    /// The Desk API base, ending in `/api/v1` for Zoho's own hosts.
    pub fn desk_api_url(&self) -> &str {
        &self.desk_api_url
    }

    /// `POST` here to refresh.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/v2/token", self.accounts_url)
    }

    /// `POST` here to revoke a refresh token.
    pub fn revoke_url(&self) -> String {
        format!("{}/oauth/v2/token/revoke", self.accounts_url)
    }
}

fn validate_url(what: &'static str, value: &str) -> Result<String, InvalidEndpoint> {
    let invalid = || InvalidEndpoint {
        what,
        value: value.to_owned(),
    };
    let trimmed = value.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') || trimmed.contains(['?', '#', ' ']) {
        return Err(invalid());
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_centres_parse_from_names_and_domains() {
        let cases = [
            ("US", DataCentre::Us),
            ("eu", DataCentre::Eu),
            ("com", DataCentre::Us),
            ("desk.zoho.com", DataCentre::Us),
            ("desk.zoho.eu", DataCentre::Eu),
            ("https://desk.zoho.in/api/v1", DataCentre::In),
            ("desk.zoho.com.au", DataCentre::Au),
            ("accounts.zohocloud.ca", DataCentre::Ca),
            ("desk.zoho.com.cn", DataCentre::Cn),
            (" JP ", DataCentre::Jp),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<DataCentre>(), Ok(want), "{input}");
        }
        for bad in ["desk.zoho.ca", "mars", "", "desk.example.com"] {
            assert!(bad.parse::<DataCentre>().is_err(), "{bad}");
        }
    }

    #[test]
    fn canada_uses_zohocloud() {
        let endpoints = ZohoEndpoints::for_data_centre(DataCentre::Ca);
        assert_eq!(
            endpoints.token_url(),
            "https://accounts.zohocloud.ca/oauth/v2/token"
        );
        assert_eq!(endpoints.desk_api_url(), "https://desk.zohocloud.ca/api/v1");
    }

    #[test]
    fn custom_urls_are_validated_and_normalised() {
        let endpoints =
            ZohoEndpoints::custom("http://127.0.0.1:8700/", "http://127.0.0.1:8700/api/v1")
                .unwrap();
        assert_eq!(
            endpoints.token_url(),
            "http://127.0.0.1:8700/oauth/v2/token"
        );
        for bad in [
            "ftp://x",
            "127.0.0.1:80",
            "http://user:pw@host",
            "http://host/?a=b",
            "http://",
        ] {
            assert!(
                ZohoEndpoints::custom(bad, "http://x/api/v1").is_err(),
                "{bad}"
            );
        }
    }
}
