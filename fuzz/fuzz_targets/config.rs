//! The gateway's configuration: the TOML file parser (`FileSource::parse_toml`) and the
//! variable-level validation (`Config::load`).
//!
//! Input: text, read two ways: as a TOML file, and as `NAME=VALUE` lines (names and values
//! trimmed, one pair of surrounding double quotes dropped) in a `MapSource`, the in-memory source
//! tests use. Each source that parses is loaded.
//!
//! Invariants beyond "never panics": no rendering of the outcome — the error's message, or the
//! `Debug` and warnings of a valid configuration — contains the value of a secret variable
//! (`var::SECRETS`), nor the key part of a `GATEWAY_API_KEYS` entry.

#![no_main]

use std::path::Path;

use gateway::config::{Config, ConfigError, ConfigSource, FileSource, MapSource, var};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let map: MapSource = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (name.trim(), value)
        })
        .collect();
    load(&map);
    match FileSource::parse_toml(Path::new("fuzz.toml"), &text) {
        Ok(file) => load(&file),
        // A file that does not parse has no values yet: check its error against the values the
        // lines reading found, which covers `NAME = "value"` lines. Keys are named in messages
        // on purpose (`unknown key "…"`), so they explain what they contain.
        Err(error) => {
            let keys: Vec<&str> = map.0.keys().map(String::as_str).collect();
            assert_no_leak(&error.to_string(), &map, &keys.join("\n"));
        }
    }
});

/// Loads `source` and checks the outcome against its secrets. Two renderings are compared: text
/// that also appears when every secret is masked is not a leak (a secret value can happen to
/// equal a fixed phrase of a message, or a non-secret value that is rightly echoed).
fn load(source: &dyn ConfigSource) {
    let rendered = render(Config::load(&Sandboxed {
        inner: source,
        mask_secrets: false,
    }));
    let baseline = render(Config::load(&Sandboxed {
        inner: source,
        mask_secrets: true,
    }));
    assert_no_leak(&rendered, source, &baseline);
}

fn render(outcome: Result<Config, ConfigError>) -> String {
    match outcome {
        Ok(config) => format!("{config:?}\n{}", config.warnings().join("\n")),
        Err(error) => error.to_string(),
    }
}

/// `source` as the fuzz target lets `Config::load` see it: without `GATEWAY_API_KEYS_FILE`, whose
/// value is a path to read (a fuzzer-chosen path would make runs depend on the machine, and
/// `/dev/zero` would never end), and with secrets masked when asked.
struct Sandboxed<'a> {
    inner: &'a dyn ConfigSource,
    mask_secrets: bool,
}

impl ConfigSource for Sandboxed<'_> {
    fn get(&self, name: &str) -> Option<String> {
        if name == var::GATEWAY_API_KEYS_FILE {
            return None;
        }
        let value = self.inner.get(name)?;
        if self.mask_secrets && var::SECRETS.contains(&name) {
            return Some("masked".to_owned());
        }
        Some(value)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Fails if `rendered` shows a secret of `source` that `explained` (text known to be no leak)
/// does not account for.
fn assert_no_leak(rendered: &str, source: &dyn ConfigSource, explained: &str) {
    let secrets = var::SECRETS.iter().filter_map(|name| source.get(name));
    let mut texts: Vec<String> = Vec::new();
    let mut key_names: Vec<String> = Vec::new();
    for value in secrets {
        texts.push(value.trim().to_owned());
    }
    // Each `name:role:key` entry's key is a secret on its own; its name is shown on purpose.
    for entry in source
        .get(var::GATEWAY_API_KEYS)
        .iter()
        .flat_map(|v| v.split(','))
    {
        let mut fields = entry.splitn(3, ':');
        key_names.extend(fields.next().map(|n| n.trim().to_owned()));
        texts.extend(fields.nth(1).map(|k| k.trim().to_owned()));
    }
    // Text that may rightly appear: non-secret values (quoted in messages), key names and
    // variable names.
    let public: Vec<String> = var::ALL
        .iter()
        .filter(|name| !var::SECRETS.contains(name))
        .filter_map(|name| source.get(name))
        .chain(key_names)
        .chain(var::ALL.iter().map(|name| (*name).to_owned()))
        .collect();
    for text in texts {
        // Messages quote at most the first 64 characters of a value; a short secret could match
        // a message by chance, so only 12 characters or more count.
        let head: String = text.chars().take(32).collect();
        // Messages quote with `{:?}`, so look for the escaped form too.
        let escaped = format!("{head:?}");
        let forms = [head.as_str(), &escaped[1..escaped.len() - 1]];
        if head.chars().count() < 12
            || public.iter().any(|p| p.contains(&head))
            || forms.iter().any(|form| explained.contains(form))
        {
            continue;
        }
        for form in forms {
            assert!(
                !rendered.contains(form),
                "secret text {form:?} leaked into:\n{rendered}"
            );
        }
    }
}
