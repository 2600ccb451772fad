//! API keys and roles: parsing `GATEWAY_API_KEYS` entries, SHA-256 digests, and constant-time
//! lookup.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::problem::{Problem, io_error_reason};
use crate::config::var;

/// Shortest raw key accepted in configuration.
pub const MIN_RAW_KEY_LEN: usize = 16;

/// Longest raw key accepted (in configuration and in requests, before hashing).
pub const MAX_RAW_KEY_LEN: usize = 512;

/// What a key may do. Ordered: `Read < Write < Admin`, and a higher role allows everything a
/// lower one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `GET` routes.
    Read,
    /// Data-changing routes (`POST`/`PATCH` on tickets, contacts, …).
    Write,
    /// Operational routes such as forcing a token refresh (`POST /api/zoho-desk/token`).
    Admin,
}

impl Role {
    /// `read`, `write` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// Whether a key with this role may use a route requiring `required`.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role text was not `read`, `write` or `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be read, write or admin")]
pub struct InvalidRole;

impl FromStr for Role {
    type Err = InvalidRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(InvalidRole),
        }
    }
}

/// SHA-256 of a raw key: what configuration stores and requests are compared against.
pub fn hash_key(raw: &str) -> [u8; 32] {
    Sha256::digest(raw.as_bytes()).into()
}

/// [`hash_key`] as lowercase hex, the form `name:role:sha256:<hex>` entries take. Equivalent to
/// `printf %s "$KEY" | sha256sum`. Tests build digest entries with it.
#[cfg(test)]
pub(crate) fn hash_key_hex(raw: &str) -> String {
    hex::encode(hash_key(raw))
}

/// One configured key: a name (for logs and rate limiting), a role and the key's SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyEntry {
    /// Unique, non-secret name (`ci`, `voice-agent`, …).
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// SHA-256 of the raw key.
    digest: [u8; 32],
}

impl ApiKeyEntry {
    /// An entry for a raw key (hashed here; the raw key is not kept).
    pub fn from_raw(name: impl Into<String>, role: Role, raw_key: &str) -> Self {
        ApiKeyEntry::from_digest(name, role, hash_key(raw_key))
    }

    /// An entry for a key known only by its SHA-256.
    pub fn from_digest(name: impl Into<String>, role: Role, digest: [u8; 32]) -> Self {
        ApiKeyEntry {
            name: name.into(),
            role,
            digest,
        }
    }

    /// SHA-256 of the key.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

impl fmt::Debug for ApiKeyEntry {
    // The digest is left out: a digest of a weak key can be brute-forced.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyEntry")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The configured client keys. Empty means loopback-only anonymous mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiKeys {
    entries: Vec<ApiKeyEntry>,
}

impl ApiKeys {
    /// No keys: anonymous mode.
    pub fn none() -> Self {
        ApiKeys::default()
    }

    /// Keys built in code (the sandbox, tests). Names and keys must be unique; problems are
    /// reported against `GATEWAY_API_KEYS`.
    pub fn from_entries(
        entries: impl IntoIterator<Item = ApiKeyEntry>,
    ) -> Result<Self, Vec<Problem>> {
        let mut parser = Parser::default();
        for (index, entry) in entries.into_iter().enumerate() {
            parser.add(var::GATEWAY_API_KEYS, format!("entry {}", index + 1), entry);
        }
        parser.finish()
    }

    /// Parses a `GATEWAY_API_KEYS` value: comma-separated `name:role:key` or
    /// `name:role:sha256:<64 hex>` entries (blank entries are ignored).
    pub fn parse(list: &str) -> Result<Self, Vec<Problem>> {
        ApiKeys::from_config(Some(list), None)
    }

    /// The keys from `GATEWAY_API_KEYS` (`list`) and the file named by `GATEWAY_API_KEYS_FILE`
    /// (`file`), together. Every malformed entry, duplicate name or duplicate key is a problem
    /// naming the variable and the entry's position (a duplicate also by its name), never the
    /// key.
    pub fn from_config(list: Option<&str>, file: Option<&Path>) -> Result<Self, Vec<Problem>> {
        let mut parser = Parser::default();
        if let Some(list) = list {
            let entries = list.split(',').map(str::trim).filter(|e| !e.is_empty());
            for (index, text) in entries.enumerate() {
                parser.parse(var::GATEWAY_API_KEYS, format!("entry {}", index + 1), text);
            }
        }
        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Ok(contents) => {
                    for (index, line) in contents.lines().enumerate() {
                        let text = line.trim();
                        if text.is_empty() || text.starts_with('#') {
                            continue;
                        }
                        let position = format!("line {} of {}", index + 1, path.display());
                        parser.parse(var::GATEWAY_API_KEYS_FILE, position, text);
                    }
                }
                Err(err) => parser.problems.push(Problem::new(
                    var::GATEWAY_API_KEYS_FILE,
                    format!("cannot read {}: {}", path.display(), io_error_reason(&err)),
                )),
            }
        }
        parser.finish()
    }

    /// Whether no keys are configured (anonymous mode).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The configured entries.
    pub fn entries(&self) -> &[ApiKeyEntry] {
        &self.entries
    }

    /// The entry whose key is `presented`, if any.
    ///
    /// The presented key is hashed, and its digest is compared with *every* entry's digest in
    /// constant time (`subtle`), selecting the match without branching and without stopping
    /// early: the time taken depends only on the number of entries, not on which entry matched
    /// or how much of a key was right.
    pub fn authenticate(&self, presented: &str) -> Option<&ApiKeyEntry> {
        let digest = hash_key(presented);
        let mut matched = u64::MAX; // no entry has this index
        for (index, entry) in self.entries.iter().enumerate() {
            let equal = entry.digest[..].ct_eq(&digest[..]);
            matched.conditional_assign(&(index as u64), equal);
        }
        usize::try_from(matched)
            .ok()
            .and_then(|index| self.entries.get(index))
    }
}

/// Collects entries from every source, then checks names and keys are unique.
#[derive(Default)]
struct Parser {
    /// (variable, position, entry)
    entries: Vec<(&'static str, String, ApiKeyEntry)>,
    problems: Vec<Problem>,
}

impl Parser {
    fn parse(&mut self, variable: &'static str, position: String, text: &str) {
        match parse_entry(text) {
            Ok(entry) => self.add(variable, position, entry),
            Err(message) => self
                .problems
                .push(Problem::new(variable, format!("{position}: {message}"))),
        }
    }

    fn add(&mut self, variable: &'static str, position: String, entry: ApiKeyEntry) {
        let duplicate = self
            .entries
            .iter()
            .find_map(|(other_var, other_pos, other)| {
                let place = if *other_var == variable {
                    other_pos.clone()
                } else {
                    format!("{other_pos} of {other_var}")
                };
                if other.name == entry.name {
                    Some(format!("duplicate name (also {place})"))
                } else if bool::from(other.digest[..].ct_eq(&entry.digest[..])) {
                    Some(format!(
                        "same key as {:?} ({place}); give every client its own key",
                        other.name
                    ))
                } else {
                    None
                }
            });
        match duplicate {
            Some(message) => self.problems.push(Problem::new(
                variable,
                format!("{position} ({:?}): {message}", entry.name),
            )),
            None => self.entries.push((variable, position, entry)),
        }
    }

    fn finish(self) -> Result<ApiKeys, Vec<Problem>> {
        if self.problems.is_empty() {
            Ok(ApiKeys {
                entries: self.entries.into_iter().map(|(_, _, e)| e).collect(),
            })
        } else {
            Err(self.problems)
        }
    }
}

/// Parses one entry, or says what is wrong with it. The message quotes nothing from the entry:
/// with its fields in the wrong order (`key:role:name`), the "name" or "role" could be the key.
fn parse_entry(text: &str) -> Result<ApiKeyEntry, String> {
    const SHAPE: &str = "expected name:role:key or name:role:sha256:<64 hex digits>";
    let mut parts = text.splitn(3, ':');
    let (Some(name), Some(role), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SHAPE.to_owned());
    };
    let (name, role, key) = (name.trim(), role.trim(), key.trim());
    let name_ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err("the name must be 1–64 letters, digits, '-', '_' or '.'".to_owned());
    }
    let role: Role = role.parse().map_err(|e: InvalidRole| e.to_string())?;
    let digest = match key.get(..7).filter(|p| p.eq_ignore_ascii_case("sha256:")) {
        Some(_) => {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(&key[7..], &mut digest)
                .map_err(|_| "the sha256 digest must be 64 hexadecimal digits".to_owned())?;
            digest
        }
        None => {
            if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err("the key contains whitespace".to_owned());
            }
            let len = key.chars().count();
            if len < MIN_RAW_KEY_LEN {
                return Err(format!(
                    "the raw key is shorter than {MIN_RAW_KEY_LEN} characters"
                ));
            }
            if len > MAX_RAW_KEY_LEN {
                return Err(format!(
                    "the raw key is longer than {MAX_RAW_KEY_LEN} characters"
                ));
            }
            hash_key(key)
        }
    };
    Ok(ApiKeyEntry::from_digest(name, role, digest))
}
