//! Where values come from: the [`ConfigSource`] trait and its implementations, stacked by
//! [`standard_sources`] in the binary's order of precedence.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::problem::{ConfigError, Problem, io_error_reason};
use super::var;

/// Somewhere configuration values come from.
pub trait ConfigSource {
    /// The raw value of `name`, if this source sets it.
    fn get(&self, name: &str) -> Option<String>;

    /// Where the values come from, for messages (`the environment`, a file path, …).
    fn describe(&self) -> String;

    /// The value of `name` and a description of the source that set it. Layered sources name
    /// the layer that won.
    fn lookup(&self, name: &str) -> Option<(String, String)> {
        self.get(name).map(|value| (value, self.describe()))
    }
}

/// The process environment. Values that are not valid UTF-8 are converted lossily (and then
/// usually fail validation).
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSource;

impl ConfigSource for EnvSource {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
    }

    fn describe(&self) -> String {
        "the environment".to_owned()
    }
}

/// Values given explicitly: command-line flags converted to variable names, or a test's map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapSource(pub BTreeMap<String, String>);

impl MapSource {
    /// An empty source.
    pub fn new() -> Self {
        MapSource::default()
    }

    /// Sets `name` (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// Sets `name`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapSource {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        MapSource(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl ConfigSource for MapSource {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn describe(&self) -> String {
        "command-line flags".to_owned()
    }
}

/// A `.env`-style file, parsed with `dotenvy` without touching the process environment. A
/// missing file is an empty source. When a name appears twice, the first wins (as in dotenvy).
/// A configuration file read into memory: a `.env`-style file ([`FileSource::dotenv`]) or a
/// TOML file ([`FileSource::toml`]). Both give `NAME -> value` pairs; only the parsing differs.
#[derive(Clone)]
pub struct FileSource {
    path: PathBuf,
    format: FileFormat,
    values: BTreeMap<String, String>,
}

/// The syntax of a [`FileSource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    /// `NAME=value` lines, parsed with `dotenvy`.
    Dotenv,
    /// A TOML table whose keys are the variable names.
    Toml,
}

impl FileSource {
    /// Reads the `.env`-style file `path` without touching the process environment. A missing
    /// file gives an empty source; an unreadable or malformed one is a problem (the offending
    /// line's content is never shown: it may hold a secret). When a name appears twice, the
    /// first wins (as in dotenvy).
    pub fn dotenv(path: &Path) -> Result<Self, ConfigError> {
        // Read the bytes ourselves (rather than `dotenvy::from_path_iter`) to drop a UTF-8
        // byte-order mark, which dotenvy's line parser rejects and Windows editors add.
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => {
                return Err(ConfigError::single(
                    DOTENV,
                    format!("cannot read {}: {}", path.display(), io_error_reason(&err)),
                ));
            }
        };
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let mut values = BTreeMap::new();
        let mut problems = Vec::new();
        let mut previous: Option<String> = None;
        for item in dotenvy::from_read_iter(text) {
            match item {
                Ok((name, value)) => {
                    previous = Some(name.clone());
                    values.entry(name).or_insert(value);
                }
                Err(err) => {
                    let after = previous.as_deref().map_or_else(
                        || "at the start of the file".to_owned(),
                        |name| format!("after {name}"),
                    );
                    let what = match err {
                        dotenvy::Error::LineParse(..) => "cannot parse the line",
                        dotenvy::Error::EnvVar(_) => "cannot substitute a variable in the line",
                        _ => "cannot read the line",
                    };
                    problems.push(Problem::new(
                        DOTENV,
                        format!(
                            "{}: {what} {after} (its content is not shown)",
                            path.display()
                        ),
                    ));
                    if !matches!(err, dotenvy::Error::LineParse(..)) {
                        break;
                    }
                }
            }
        }
        FileSource::new(path, FileFormat::Dotenv, values, problems)
    }

    /// Reads and checks the TOML file `path`, which must exist. See [`FileSource::parse_toml`].
    pub fn toml(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            ConfigError::single(
                var::ZOHO_GATEWAY_CONFIG,
                format!("cannot read {}: {}", path.display(), io_error_reason(&err)),
            )
        })?;
        Self::parse_toml(path, &text)
    }

    /// Parses `text` as the TOML file `path`. Its top-level keys are the variable names
    /// themselves:
    ///
    /// ```toml
    /// ZOHO_DESK_ORG_ID = "123456789"
    /// ZOHO_DESK_DOMAIN = "desk.zoho.eu"
    /// GATEWAY_RATE_LIMIT_PER_SECOND = 50
    /// GATEWAY_CORS_ORIGINS = ["https://app.example.com", "https://admin.example.com"]
    /// ```
    ///
    /// Strings are taken as they are, integers, floats and booleans as their text, arrays of
    /// those are joined with commas. Unknown keys (and tables) are problems, so a typo cannot
    /// pass silently.
    pub fn parse_toml(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let label = path.display();
        let table: toml::Table = toml::from_str(text).map_err(|err| {
            let line = err.span().map(|span| {
                text.bytes()
                    .take(span.start)
                    .filter(|b| *b == b'\n')
                    .count()
                    + 1
            });
            let at = line.map_or_else(String::new, |line| format!(" at line {line}"));
            ConfigError::single(
                var::ZOHO_GATEWAY_CONFIG,
                format!("{label}: invalid TOML{at}: {}", err.message().trim()),
            )
        })?;
        let mut problems = Vec::new();
        let mut values = BTreeMap::new();
        for (key, value) in table {
            let upper = key.to_ascii_uppercase();
            let hint = if upper == var::ZOHO_GATEWAY_CONFIG {
                Some(" (a configuration file cannot name another one)".to_owned())
            } else if var::ALL.contains(&key.as_str()) {
                None
            } else if var::ALL.contains(&upper.as_str()) {
                Some(format!(
                    " (keys are the variable names: did you mean {upper}?)"
                ))
            } else {
                Some(" (keys are the variable names listed in docs/configuration.md)".to_owned())
            };
            if let Some(hint) = hint {
                problems.push(Problem::new(
                    var::ZOHO_GATEWAY_CONFIG,
                    format!("{label}: unknown key {key:?}{hint}"),
                ));
                continue;
            }
            match toml_text(&value) {
                Some(text) => {
                    values.insert(key, text);
                }
                None => problems.push(Problem::new(
                    var::ZOHO_GATEWAY_CONFIG,
                    format!(
                        "{label}: {key} must be a string, number, boolean or an array of those"
                    ),
                )),
            }
        }
        FileSource::new(path, FileFormat::Toml, values, problems)
    }

    fn new(
        path: &Path,
        format: FileFormat,
        values: BTreeMap<String, String>,
        problems: Vec<Problem>,
    ) -> Result<Self, ConfigError> {
        if problems.is_empty() {
            Ok(FileSource {
                path: path.to_owned(),
                format,
                values,
            })
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The file this source was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn toml_text(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(n) => Some(n.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::Array(_) => None,
                other => toml_text(other),
            })
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(",")),
        toml::Value::Datetime(_) | toml::Value::Table(_) => None,
    }
}

/// Names only: the values may be secrets.
impl fmt::Debug for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ConfigSource for FileSource {
    fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    fn describe(&self) -> String {
        match self.format {
            FileFormat::Dotenv => self.path.display().to_string(),
            FileFormat::Toml => format!("TOML file {}", self.path.display()),
        }
    }
}

/// Sources stacked in precedence order: the first that sets a variable wins.
pub struct LayeredSource(pub Vec<Box<dyn ConfigSource>>);

impl LayeredSource {
    /// An empty stack.
    pub fn new() -> Self {
        LayeredSource(Vec::new())
    }

    /// Adds a source below the existing ones (lower precedence).
    pub fn push(&mut self, source: impl ConfigSource + 'static) {
        self.0.push(Box::new(source));
    }
}

impl Default for LayeredSource {
    fn default() -> Self {
        LayeredSource::new()
    }
}

impl fmt::Debug for LayeredSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LayeredSource")
            .field(&self.0.iter().map(|s| s.describe()).collect::<Vec<_>>())
            .finish()
    }
}

impl ConfigSource for LayeredSource {
    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().find_map(|source| source.get(name))
    }

    fn describe(&self) -> String {
        self.0
            .iter()
            .map(|source| source.describe())
            .collect::<Vec<_>>()
            .join(", then ")
    }

    fn lookup(&self, name: &str) -> Option<(String, String)> {
        self.0.iter().find_map(|source| source.lookup(name))
    }
}

/// The sources the binary uses, in precedence order: `flags` > the process environment >
/// `dir/.env.local` > `dir/.env` > the TOML file. The TOML file is `toml_path` if given (the
/// `--config` flag), else the value of `ZOHO_GATEWAY_CONFIG` found in the layers above; a named
/// file must exist. Relative paths are relative to the working directory.
pub fn standard_sources(
    flags: MapSource,
    toml_path: Option<&Path>,
    dir: &Path,
) -> Result<LayeredSource, ConfigError> {
    layered_sources(flags, Box::new(EnvSource), toml_path, dir)
}

fn layered_sources(
    flags: MapSource,
    env: Box<dyn ConfigSource>,
    toml_path: Option<&Path>,
    dir: &Path,
) -> Result<LayeredSource, ConfigError> {
    let mut problems = Vec::new();
    let mut layers = LayeredSource(vec![Box::new(flags), env]);
    for name in [".env.local", ".env"] {
        match FileSource::dotenv(&dir.join(name)) {
            Ok(source) => layers.push(source),
            Err(err) => problems.extend(err.problems),
        }
    }
    let toml_path = toml_path.map(Path::to_owned).or_else(|| {
        layers
            .get(var::ZOHO_GATEWAY_CONFIG)
            .map(|path| path.trim().to_owned())
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = toml_path {
        match FileSource::toml(&path) {
            Ok(source) => layers.push(source),
            Err(err) => problems.extend(err.problems),
        }
    }
    if problems.is_empty() {
        Ok(layers)
    } else {
        Err(ConfigError { problems })
    }
}

/// The `variable` of problems found in a `.env` file (the message names the file).
const DOTENV: &str = ".env";

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::config::fixtures::{SECRET, minimal, temp_dir};

    #[test]
    fn precedence_is_flags_env_dotenv_local_dotenv_toml() {
        let dir = temp_dir("precedence");
        let toml_path = dir.join("gateway.toml");
        std::fs::write(
            &toml_path,
            "ZOHO_DESK_ORG_ID = \"5\"\nZOHO_DESK_CLIENT_ID = \"toml\"\n\
             ZOHO_DESK_DOMAIN = \"desk.zoho.jp\"\nGATEWAY_LOG_FORMAT = \"pretty\"\n\
             GATEWAY_RATE_LIMIT_BURST = 5\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(".env"),
            "# the original integration's file\nZOHO_DESK_ORG_ID=4\n\
             ZOHO_DESK_CLIENT_ID=dotenv\nZOHO_DESK_DOMAIN=desk.zoho.in\nGATEWAY_LOG_FORMAT=json\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(".env.local"),
            "ZOHO_DESK_ORG_ID=3\nZOHO_DESK_CLIENT_ID=local\nZOHO_DESK_DOMAIN=\"desk.zoho.eu\"\n",
        )
        .unwrap();
        let env = MapSource::new()
            .with(var::ZOHO_DESK_ORG_ID, "2")
            .with(var::ZOHO_DESK_CLIENT_ID, "env")
            .with(var::ZOHO_GATEWAY_CONFIG, toml_path.display().to_string());
        let flags = MapSource::new().with(var::ZOHO_DESK_ORG_ID, "1");
        let layers = layered_sources(flags, Box::new(env), None, &dir).unwrap();

        assert_eq!(layers.get(var::ZOHO_DESK_ORG_ID).as_deref(), Some("1"));
        assert_eq!(layers.get(var::ZOHO_DESK_CLIENT_ID).as_deref(), Some("env"));
        assert_eq!(
            layers.get(var::ZOHO_DESK_DOMAIN).as_deref(),
            Some("desk.zoho.eu")
        );
        assert_eq!(layers.get(var::GATEWAY_LOG_FORMAT).as_deref(), Some("json"));
        assert_eq!(
            layers.get(var::GATEWAY_RATE_LIMIT_BURST).as_deref(),
            Some("5")
        );
        assert_eq!(layers.get(var::GATEWAY_LISTEN), None);
        let (_, origin) = layers.lookup(var::GATEWAY_LOG_FORMAT).unwrap();
        assert!(origin.ends_with(".env"), "{origin}");
        let (_, origin) = layers.lookup(var::GATEWAY_RATE_LIMIT_BURST).unwrap();
        assert!(origin.starts_with("TOML file"), "{origin}");

        // An explicit --config path wins over ZOHO_GATEWAY_CONFIG, and a missing one is an error.
        let missing = dir.join("missing.toml");
        let err = layered_sources(
            MapSource::new(),
            Box::new(MapSource::new()),
            Some(&missing),
            &dir,
        )
        .unwrap_err();
        assert!(err.mentions(var::ZOHO_GATEWAY_CONFIG), "{err}");
        assert!(err.to_string().contains("no such file"), "{err}");

        // A bad value reports the file it came from.
        std::fs::write(dir.join(".env"), "GATEWAY_LOG_FORMAT=xml\n").unwrap();
        let layers = layered_sources(MapSource::new(), Box::new(minimal()), None, &dir).unwrap();
        let err = Config::load(&layers).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("(from {})", dir.join(".env").display())),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn missing_dotenv_files_are_empty_sources() {
        let dir = temp_dir("no-dotenv");
        let layers = layered_sources(MapSource::new(), Box::new(minimal()), None, &dir).unwrap();
        assert_eq!(layers.0.len(), 4);
        Config::load(&layers).unwrap();

        // A byte-order mark does not hide the first variable.
        std::fs::write(dir.join(".env"), "\u{feff}ZOHO_DESK_ORG_ID=77\n").unwrap();
        let source = FileSource::dotenv(&dir.join(".env")).unwrap();
        assert_eq!(source.get(var::ZOHO_DESK_ORG_ID).as_deref(), Some("77"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn malformed_dotenv_lines_are_reported_without_their_content() {
        let dir = temp_dir("bad-dotenv");
        std::fs::write(
            dir.join(".env"),
            format!("ZOHO_DESK_ORG_ID=1\nZOHO_DESK_CLIENT_SECRET='{SECRET}\n"),
        )
        .unwrap();
        let err =
            layered_sources(MapSource::new(), Box::new(MapSource::new()), None, &dir).unwrap_err();
        let text = err.to_string();
        assert!(err.mentions(".env"), "{text}");
        assert!(text.contains("after ZOHO_DESK_ORG_ID"), "{text}");
        assert!(!text.contains(SECRET), "{text}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn toml_files_use_the_variable_names_and_reject_unknown_keys() {
        let path = Path::new("/etc/zoho-gateway/gateway.toml");
        let source = FileSource::parse_toml(
            path,
            "ZOHO_DESK_ORG_ID = 123\nGATEWAY_CORS_ORIGINS = [\"https://a.example\", \
             \"https://b.example\"]\nGATEWAY_LOG_FORMAT = \"json\"\n",
        )
        .unwrap();
        assert_eq!(source.get(var::ZOHO_DESK_ORG_ID).as_deref(), Some("123"));
        assert_eq!(
            source.get(var::GATEWAY_CORS_ORIGINS).as_deref(),
            Some("https://a.example,https://b.example")
        );

        let err = FileSource::parse_toml(path, "zoho_desk_org_id = \"1\"\nTYPO = 1\n").unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 2, "{text}");
        assert!(text.contains("did you mean ZOHO_DESK_ORG_ID?"), "{text}");
        assert!(text.contains("unknown key \"TYPO\""), "{text}");

        let err = FileSource::parse_toml(path, "[zoho]\nZOHO_DESK_ORG_ID = 1\n").unwrap_err();
        assert!(err.mentions(var::ZOHO_GATEWAY_CONFIG), "{err}");

        let err = FileSource::parse_toml(
            path,
            &format!("ZOHO_DESK_ORG_ID = \"1\"\nZOHO_DESK_CLIENT_SECRET = \"{SECRET}\n"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("invalid TOML at line 2"), "{text}");
        assert!(!text.contains(SECRET), "{text}");
    }
}
