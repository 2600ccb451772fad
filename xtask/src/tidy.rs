//! Tidy checks, run as ordinary tests: the docs and scripts that the next reader relies on stay
//! true as the code changes.

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root")
            .to_path_buf()
    }

    fn read(path: &str) -> String {
        fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The crate (or top-level folder) a `### ` heading of ARCHITECTURE.md maps: its first
    /// backticked word, e.g. `crates/gateway` or `tests`.
    fn heading_folder(line: &str) -> Option<&str> {
        let rest = line.strip_prefix("### ")?;
        rest.split('`').nth(1)
    }

    /// Does a backticked word of ARCHITECTURE.md name a file or folder of the tree?
    fn looks_like_path(word: &str) -> bool {
        let is_file = [".rs", ".md", ".toml", ".yml", ".yaml", ".json"]
            .iter()
            .any(|ext| word.ends_with(ext));
        let forbidden = [' ', '{', '*', '<', '…', '=', '(', '"', ':'];
        // Build output (`target/…`) exists only after a build, never in a fresh clone.
        (is_file || word.ends_with('/'))
            && !word.starts_with('/')
            && !word.starts_with('.')
            && !word.starts_with("target/")
            && !word.contains(forbidden)
    }

    /// Every file and folder below `path` (or `path` itself when it is a file), depth first,
    /// outside build output (`target/`).
    fn tree(path: &Path) -> Vec<PathBuf> {
        if path.is_file() {
            return vec![path.to_path_buf()];
        }
        let mut found = Vec::new();
        let Ok(entries) = fs::read_dir(path) else {
            return found;
        };
        for entry in entries {
            let entry = entry.unwrap().path();
            if entry.is_dir() {
                if entry.file_name().is_some_and(|n| n != "target") {
                    found.extend(tree(&entry));
                    found.push(entry);
                }
            } else {
                found.push(entry);
            }
        }
        found
    }

    /// Does `path` pass through a folder called `name`?
    fn passes_through(path: &Path, name: &str) -> bool {
        path.components().any(|c| c.as_os_str() == name)
    }

    /// The `.rs` files at `path`: the file itself, or every one below a folder.
    fn rust_files(path: &Path) -> Vec<PathBuf> {
        tree(path)
            .into_iter()
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "rs"))
            .collect()
    }

    /// The source folders below `path`; fixture data is not code.
    fn folders_below(path: &Path) -> Vec<PathBuf> {
        tree(path)
            .into_iter()
            .filter(|p| p.is_dir() && !passes_through(p, "fixtures"))
            .collect()
    }

    /// The `.rs` and `.md` files below `path`; fuzz corpora are data.
    fn text_files(path: &Path) -> Vec<PathBuf> {
        tree(path)
            .into_iter()
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "rs" || e == "md"))
            .filter(|p| !passes_through(p, "corpus"))
            .collect()
    }

    /// Every crate and source folder is mapped in ARCHITECTURE.md, and every file or folder it
    /// names exists (relative to the root, `docs/`, the section's crate, or the crate's `src/`).
    #[test]
    fn architecture_doc_names_what_exists_and_maps_every_folder() {
        let architecture = read("docs/ARCHITECTURE.md");
        let mut section = String::new();
        let mut named = Vec::new();
        for line in architecture.lines() {
            if let Some(folder) = heading_folder(line) {
                section = folder.to_owned();
                continue;
            }
            for word in line.split('`').skip(1).step_by(2) {
                if !looks_like_path(word) {
                    continue;
                }
                let candidates = [
                    root().join(word),
                    root().join("docs").join(word),
                    root().join(&section).join(word),
                    root().join(&section).join("src").join(word),
                ];
                let Some(found) = candidates.iter().find(|c| c.exists()) else {
                    panic!(
                        "docs/ARCHITECTURE.md names `{word}` (under {section:?}), which does not exist"
                    );
                };
                named.push(found.canonicalize().unwrap());
            }
        }
        assert!(named.len() > 40, "only {} paths found", named.len());

        let mut crates: Vec<PathBuf> = fs::read_dir(root().join("crates"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        crates.extend(["tests", "bench", "xtask"].map(|c| root().join(c)));
        let root = root().canonicalize().unwrap();
        for krate in crates {
            let relative = krate
                .strip_prefix(&root)
                .unwrap_or(&krate)
                .display()
                .to_string();
            let relative = relative.trim_start_matches(&format!("{}/", root.display()));
            assert!(
                architecture.contains(&format!("### `{relative}`")),
                "docs/ARCHITECTURE.md has no section for {relative}"
            );
            for folder in ["src", "tests", "benches"] {
                for dir in folders_below(&krate.join(folder)) {
                    let dir = dir.canonicalize().unwrap();
                    assert!(
                        named.contains(&dir),
                        "docs/ARCHITECTURE.md does not map the folder {}",
                        dir.strip_prefix(&root).unwrap().display()
                    );
                }
            }
        }
    }

    /// The module path of a file below `src` (`config/problem.rs` → `config::problem`,
    /// `config/mod.rs` → `config`).
    fn module_of(relative: &Path) -> String {
        let mut parts: Vec<String> = relative
            .with_extension("")
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        parts.join("::")
    }

    /// The `crate::…` and `super::…` paths a piece of Rust names, made absolute (without the
    /// `crate::`), with `{…}` groups expanded one level.
    fn referenced_paths(text: &str, module: &str) -> Vec<String> {
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
        let mut found = Vec::new();
        for (anchor, is_super) in [("crate::", false), ("super::", true)] {
            for (at, _) in text.match_indices(anchor) {
                let before = text[..at].chars().next_back();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                    continue; // `$crate::`, `a::super::`
                }
                let rest = &text[at + anchor.len()..];
                let head: String = rest.chars().take_while(|&c| ident(c)).collect();
                let base = if is_super {
                    match module.rsplit_once("::") {
                        Some((parent, _)) => format!("{parent}::"),
                        None => String::new(),
                    }
                } else {
                    String::new()
                };
                let after = &rest[head.len()..];
                if after.starts_with('{') {
                    let group = &after[1..after.find('}').unwrap_or(after.len())];
                    for item in group.split(',') {
                        let item: String = item.trim().chars().take_while(|&c| ident(c)).collect();
                        found.push(format!("{base}{head}{item}"));
                    }
                } else {
                    found.push(format!("{base}{head}"));
                }
            }
        }
        found
    }

    /// Inside the gateway crate, imports go one way between top-level modules (`auth`,
    /// `config`, …), judged on the `crate::`/`super::` paths of non-test code. A leaf file (one
    /// that imports nothing of the crate, such as `config/problem.rs`) counts on its own, so
    /// modules that `config` imports may still import `crate::config::problem` by that path.
    #[test]
    fn gateway_imports_have_no_cycle() {
        use std::collections::{BTreeMap, BTreeSet};

        let src = root().join("crates/gateway/src");
        let mut files = Vec::new();
        for path in rust_files(&src) {
            let relative = path.strip_prefix(&src).unwrap().to_path_buf();
            let name = relative.file_name().unwrap().to_string_lossy().into_owned();
            if matches!(
                name.as_str(),
                "lib.rs" | "main.rs" | "tests.rs" | "fixtures.rs"
            ) {
                continue;
            }
            files.push((module_of(&relative), fs::read_to_string(&path).unwrap()));
        }
        let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
        // The deepest module a path lands in.
        let resolve = |path: &str| -> Option<String> {
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|candidate| modules.contains(candidate))
        };
        let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, text) in &files {
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let targets = referenced_paths(code, module)
                .iter()
                .filter_map(|path| resolve(path))
                .filter(|target| target != module)
                .collect();
            imports.insert(module.clone(), targets);
        }
        let node = |module: &str| -> String {
            if imports[module].is_empty() {
                module.to_owned()
            } else {
                module.split("::").next().unwrap().to_owned()
            }
        };
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, targets) in &imports {
            for target in targets {
                let (from, to) = (node(module), node(target));
                if from != to {
                    edges.entry(from).or_default().insert(to);
                }
            }
        }
        assert!(edges.len() > 10, "import graph looks empty: {edges:?}");
        // Depth-first search for a back edge.
        fn visit(
            node: &str,
            edges: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) {
            if done.contains(node) {
                return;
            }
            if let Some(at) = path.iter().position(|p| p == node) {
                panic!(
                    "import cycle in the gateway crate: {} -> {node}",
                    path[at..].join(" -> ")
                );
            }
            path.push(node.to_owned());
            for next in edges.get(node).into_iter().flatten() {
                visit(next, edges, path, done);
            }
            path.pop();
            done.insert(node.to_owned());
        }
        let mut done = BTreeSet::new();
        for module in &modules {
            visit(&node(module), &edges, &mut Vec::new(), &mut done);
        }
    }

    /// Every `path::test_name` that docs/zoho-behaviour.md cites names a test function that exists
    /// in that file (or, for a folder, in a file below it), and the doc cites no shared spec.
    #[test]
    fn zoho_behaviour_cites_tests_that_exist() {
        let doc = read("docs/zoho-behaviour.md");
        let mut cited = 0;
        for citation in doc.split('`').skip(1).step_by(2) {
            let Some((path, test)) = citation.split_once("::") else {
                continue;
            };
            if !(path.ends_with(".rs") || path.ends_with('/')) {
                continue;
            }
            cited += 1;
            let sources = rust_files(&root().join(path));
            assert!(
                !sources.is_empty(),
                "docs/zoho-behaviour.md cites {path}, which does not exist"
            );
            let defined = sources.iter().any(|source| {
                let text = fs::read_to_string(source).unwrap();
                text.contains(&format!("fn {test}("))
            });
            assert!(
                defined,
                "docs/zoho-behaviour.md cites {path}::{test}, which is not defined there"
            );
        }
        assert!(
            cited > 50,
            "only {cited} test citations found in docs/zoho-behaviour.md"
        );

        // The shared spec is not in the repository: code and docs cite this file instead.
        let shared_spec = ["zoho", "-spec.md"].concat();
        let bare_section = ["spec", " §"].concat();
        for folder in [
            "crates", "tests", "bench", "xtask", "fuzz", "docs", "deploy",
        ] {
            for path in text_files(&root().join(folder)) {
                let text = fs::read_to_string(&path).unwrap_or_default();
                assert!(
                    !text.contains(&shared_spec) && !text.contains(&bare_section),
                    "{} cites the shared spec; cite docs/zoho-behaviour.md",
                    path.display()
                );
            }
        }
        let readme = read("README.md");
        assert!(
            !readme.contains(&shared_spec),
            "README.md cites the shared spec"
        );
    }

    /// Is `word` shaped like one of the project's metric names?
    fn is_metric_name(word: &str) -> bool {
        ["zoho_token_", "zoho_desk_", "zoho_gateway_", "http_server_"]
            .iter()
            .any(|prefix| word.starts_with(prefix))
            && word
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    /// Every metric the clients and the gateway can record (any string literal shaped like a
    /// metric name in their non-test source, wherever and however it is declared) is in a
    /// metric table of docs/telemetry.md, and every metric documented there exists in the code.
    #[test]
    fn every_metric_is_documented_and_every_documented_metric_exists() {
        // Crate names double as log targets (`zoho_desk_api`); they are not metrics.
        let crate_names = ["zoho_auth", "zoho_desk_api", "zoho_sim", "test_support"];
        let mut in_code = std::collections::BTreeSet::new();
        for krate in ["gateway", "zoho-auth", "zoho-desk-api"] {
            for path in rust_files(&root().join("crates").join(krate).join("src")) {
                let text = fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for literal in code.split('"').skip(1).step_by(2) {
                    if is_metric_name(literal) && !crate_names.contains(&literal) {
                        in_code.insert(literal.to_owned());
                    }
                }
            }
        }
        let mut documented = std::collections::BTreeSet::new();
        for line in read("docs/telemetry.md").lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // `| name | type | labels | meaning |` rows: the type says it is a metric row.
            if cells.len() > 3 && ["counter", "gauge", "histogram"].contains(&cells[2]) {
                let name = cells[1].trim_matches('`');
                assert!(
                    is_metric_name(name),
                    "docs/telemetry.md: odd metric row {line:?}"
                );
                documented.insert(name.to_owned());
            }
        }
        assert!(
            in_code.len() > 20,
            "only {} metric names found in code",
            in_code.len()
        );
        let undocumented: Vec<_> = in_code.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "not in docs/telemetry.md: {undocumented:?}"
        );
        let missing: Vec<_> = documented.difference(&in_code).collect();
        assert!(
            missing.is_empty(),
            "documented but recorded nowhere: {missing:?}"
        );
    }

    /// The README opens with exactly two commands (the sandbox, then the test suite), and
    /// `.ci/run` ends by running exactly that test command and runs no other cargo command.
    #[test]
    fn ci_runs_exactly_the_readme_test_command() {
        let readme = read("README.md");
        let first_block = readme
            .split("```")
            .nth(1)
            .expect("README starts with a code block");
        let commands: Vec<&str> = first_block
            .lines()
            .skip(1) // the info string (`sh`)
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            commands.len(),
            2,
            "README's first block holds the sandbox and the test command: {commands:?}"
        );
        assert!(commands[0].contains("serve --sandbox"), "{commands:?}");
        let test_command = commands[1];
        assert_eq!(test_command, "cargo xtask ci");

        let ci = read(".ci/run");
        let steps: Vec<&str> = ci
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(
            steps.last().copied(),
            Some(test_command),
            ".ci/run must end with the README's test command"
        );
        let cargo_runs: Vec<&&str> = steps
            .iter()
            .filter(|l| {
                l.starts_with("cargo ") || l.contains("&& cargo ") || l.contains("; cargo ")
            })
            .collect();
        assert_eq!(
            cargo_runs,
            [&test_command],
            ".ci/run runs no cargo command but the README's"
        );
    }

    /// The emulator shares no code with the clients it tests (a shared bug would hide itself):
    /// no dependency of any kind on a client crate.
    #[test]
    fn zoho_sim_depends_on_no_client_crate() {
        let output = std::process::Command::new(env!("CARGO"))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(root())
            .output()
            .expect("cargo metadata runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let packages = metadata["packages"].as_array().unwrap();
        let sim = packages
            .iter()
            .find(|p| p["name"] == "zoho-sim")
            .expect("zoho-sim is a workspace member");
        let dependencies: Vec<&str> = sim["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        assert!(dependencies.contains(&"axum"), "parsed: {dependencies:?}");
        for client in ["zoho-auth", "zoho-desk-api", "gateway"] {
            assert!(
                !dependencies.contains(&client),
                "zoho-sim depends on the client crate {client}"
            );
        }
        // The e2e crate is a leaf: shared test code lives in test-support.
        for package in packages {
            let on_e2e = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["name"] == "e2e");
            assert!(!on_e2e, "{} depends on the e2e crate", package["name"]);
        }
    }

    /// zoho-auth is the OAuth core for any Zoho product: no Desk wording in what it logs.
    #[test]
    fn zoho_auth_speaks_of_no_product() {
        for path in rust_files(&root().join("crates/zoho-auth/src")) {
            let text = fs::read_to_string(&path).unwrap();
            assert!(
                !text.contains("[Zoho Desk]"),
                "{} logs as Zoho Desk",
                path.display()
            );
        }
    }

    /// `deploy/k8s/base/prometheusrule.yaml` is generated from the rules file by
    /// `cargo xtask k8s-rules`; both are parsed here and their groups compared as data.
    #[test]
    fn prometheus_rule_matches_the_rules_file() {
        use serde_yaml_ng::Value;

        let parse = |path: &str| -> Value {
            serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        let rules_path = "deploy/prometheus/rules/zoho-gateway.yml";
        let manifest_path = "deploy/k8s/base/prometheusrule.yaml";
        let rules = parse(rules_path);
        let manifest = parse(manifest_path);
        assert_eq!(
            (manifest["apiVersion"].as_str(), manifest["kind"].as_str()),
            (Some("monitoring.coreos.com/v1"), Some("PrometheusRule")),
            "{manifest_path} is not a PrometheusRule"
        );
        let expected = &rules["groups"];
        let actual = &manifest["spec"]["groups"];
        assert!(
            expected.as_sequence().is_some_and(|g| !g.is_empty()),
            "{rules_path} has no groups"
        );
        assert!(
            actual == expected,
            "the spec.groups of {manifest_path} differ from the groups of {rules_path} ({}): \
             run `cargo xtask k8s-rules`",
            first_difference(expected, actual)
        );

        /// Where two `groups` lists first differ, by group and rule name.
        fn first_difference(expected: &Value, actual: &Value) -> String {
            let items = |v: &Value| v.as_sequence().cloned().unwrap_or_default();
            let name = |v: &Value, keys: &[&str]| {
                keys.iter()
                    .find_map(|k| v[*k].as_str())
                    .unwrap_or("?")
                    .to_owned()
            };
            let (expected, actual) = (items(expected), items(actual));
            for (i, group) in expected.iter().enumerate() {
                let group_name = name(group, &["name"]);
                let Some(other) = actual.get(i) else {
                    return format!("group {group_name:?} is missing");
                };
                if other == group {
                    continue;
                }
                let (rules, other_rules) = (items(&group["rules"]), items(&other["rules"]));
                for (j, rule) in rules.iter().enumerate() {
                    if other_rules.get(j) != Some(rule) {
                        let rule_name = name(rule, &["alert", "record"]);
                        return format!("group {group_name:?}, rule {rule_name:?}");
                    }
                }
                return format!("group {group_name:?}");
            }
            format!("{} groups instead of {}", actual.len(), expected.len())
        }
    }

    /// Every alert has a `## <AlertName>` section in docs/runbook.md, its `runbook_url` points at
    /// that section, and every `(#anchor)` link in the runbook lands on a heading.
    #[test]
    fn runbook_covers_every_alert() {
        let runbook = read("docs/runbook.md");
        // GitHub's heading anchors: lower case, spaces to `-`, other punctuation dropped.
        let anchors: Vec<String> = runbook
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .map(|l| {
                l.trim_start_matches('#')
                    .trim()
                    .to_lowercase()
                    .chars()
                    .filter_map(|c| match c {
                        ' ' => Some('-'),
                        c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        let rules: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&read("deploy/prometheus/rules/zoho-gateway.yml"))
                .expect("the rules file is YAML");
        let mut alerts = 0;
        for group in rules["groups"].as_sequence().into_iter().flatten() {
            for rule in group["rules"].as_sequence().into_iter().flatten() {
                let Some(alert) = rule["alert"].as_str() else {
                    continue;
                };
                alerts += 1;
                assert!(
                    runbook.lines().any(|l| l.trim() == format!("## {alert}")),
                    "docs/runbook.md has no `## {alert}` section"
                );
                if let Some(url) = rule["annotations"]["runbook_url"].as_str() {
                    assert!(
                        url.ends_with(&format!("docs/runbook.md#{}", alert.to_lowercase())),
                        "the runbook_url of {alert} does not point at its section: {url}"
                    );
                }
            }
        }
        assert!(alerts > 0, "no alerts found in the rules file");
        for link in runbook.split("](#").skip(1) {
            let anchor = link.split(')').next().unwrap_or_default();
            assert!(
                anchors.iter().any(|a| a == anchor),
                "docs/runbook.md links to #{anchor}, which is no heading"
            );
        }
    }
}
