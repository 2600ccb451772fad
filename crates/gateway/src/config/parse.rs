//! Parsers for single values: each takes the raw text and returns the typed value or a message
//! saying what is wrong (quoting the value only for variables that are not secrets).

use std::net::SocketAddr;

use secrecy::SecretString;
use zoho_auth::DataCentre;

/// `value` in quotes, shortened; only for variables that are not secrets.
pub(super) fn quote(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() > MAX {
        let head: String = value.chars().take(MAX).collect();
        format!("{:?}", format!("{head}…"))
    } else {
        format!("{value:?}")
    }
}

pub(super) fn plain_token(s: &str) -> Result<String, String> {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(format!("must not contain whitespace, got {}", quote(s)))
    } else {
        Ok(s.to_owned())
    }
}

pub(super) fn parse_org_id(s: &str) -> Result<String, String> {
    let trimmed = s.trim();
    if !trimmed.is_empty() && trimmed.len() <= 32 && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        Ok(trimmed.to_owned())
    } else {
        Err(format!(
            "must be the numeric Desk organization id (digits only), got {}",
            quote(s)
        ))
    }
}

pub(super) fn endpoint_message(value: &str) -> String {
    let shown = if value.contains('@') {
        String::new()
    } else {
        format!(", got {}", quote(value))
    };
    format!(
        "must be an absolute http(s) URL without credentials, query or fragment, such as \
         http://127.0.0.1:8700{shown}"
    )
}

/// `scheme://[userinfo@]host…`, split; `None` unless the scheme is one of `schemes`.
fn split_url<'a>(value: &'a str, schemes: &[&str]) -> Option<(Option<&'a str>, &'a str, &'a str)> {
    let (scheme, rest) = value.split_once("://")?;
    if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    let host_name = host.strip_prefix('[').map_or_else(
        || host.split(':').next().unwrap_or(""),
        |h| h.split(']').next().unwrap_or(""),
    );
    if host_name.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some((userinfo, host, path))
}

pub(super) fn parse_sentry_dsn(s: &str) -> Result<SecretString, String> {
    const SHAPE: &str = "must have the shape https://<public key>@<host>/<project id>";
    let (userinfo, _host, path) = split_url(s.trim(), &["https", "http"]).ok_or(SHAPE)?;
    let key_ok = userinfo.is_some_and(|u| !u.split(':').next().unwrap_or("").is_empty());
    let project = path
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    if key_ok && !project.is_empty() {
        Ok(SecretString::from(s.trim().to_owned()))
    } else {
        Err(SHAPE.to_owned())
    }
}

pub(super) fn parse_otlp_endpoint(s: &str) -> Result<String, String> {
    match split_url(s.trim(), &["http", "https"]) {
        Some((None, _, _)) => Ok(s.trim().trim_end_matches('/').to_owned()),
        Some((Some(_), _, _)) => {
            Err("must not contain credentials; use OTEL_EXPORTER_OTLP_HEADERS".to_owned())
        }
        None if s.contains('@') => {
            Err("must be an http(s) URL such as http://127.0.0.1:4318".to_owned())
        }
        None => Err(format!(
            "must be an http(s) URL such as http://127.0.0.1:4318, got {}",
            quote(s)
        )),
    }
}

pub(super) fn parse_redis_url(s: &str) -> Result<SecretString, String> {
    // Several comma-separated node URLs address a Redis Cluster.
    let nodes: Vec<&str> = s.split(',').map(str::trim).collect();
    if nodes
        .iter()
        .all(|node| split_url(node, &["redis", "rediss"]).is_some())
    {
        Ok(SecretString::from(nodes.join(",")))
    } else {
        Err("must be a redis:// or rediss:// URL with a host (or several, comma-separated, for a cluster)".to_owned())
    }
}

pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(format!("must be true or false, got {}", quote(other))),
    }
}

pub(super) fn parse_cors_origins(s: &str) -> Result<Vec<String>, String> {
    let entries: Vec<&str> = s
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.contains(&"*") {
        return if entries.len() == 1 {
            Ok(vec!["*".to_owned()])
        } else {
            Err("\"*\" must be the only entry when given".to_owned())
        };
    }
    let mut origins = Vec::with_capacity(entries.len());
    for entry in entries {
        let normalised = entry.trim_end_matches('/');
        match split_url(normalised, &["http", "https"]) {
            Some((None, _, "")) => origins.push(normalised.to_ascii_lowercase()),
            _ => {
                return Err(format!(
                    "{} is not an origin: use scheme://host[:port] such as \
                     https://app.example.com, without a path",
                    quote(entry)
                ));
            }
        }
    }
    Ok(origins)
}

pub(super) fn same_port(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

pub(super) fn parse_integer(s: &str, min: u64, max: u64) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) => Err(format!("must be between {min} and {max}, got {}", quote(s))),
        Err(_) => Err(format!("must be a whole number, got {}", quote(s))),
    }
}

pub(super) fn parse_socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse::<SocketAddr>().map_err(|_| {
        format!(
            "must be an IP address and port such as 127.0.0.1:3000, 0.0.0.0:3000 or \
             [::1]:3000 (host names are not resolved), got {}",
            quote(s)
        )
    })
}

pub(super) fn parse_data_centre(s: &str) -> Result<DataCentre, String> {
    s.parse::<DataCentre>().map_err(|_| {
        format!(
            "{} is not a Zoho Desk domain or data centre: use e.g. desk.zoho.com, \
             desk.zoho.eu, desk.zoho.in, desk.zoho.com.au, desk.zohocloud.ca, or a \
             name such as US or EU",
            quote(s)
        )
    })
}
