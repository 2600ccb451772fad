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

    #[test]
    fn architecture_doc_maps_every_crate() {
        let architecture = read("docs/ARCHITECTURE.md");
        for entry in fs::read_dir(root().join("crates")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                architecture.contains(&format!("crates/{name}")),
                "docs/ARCHITECTURE.md does not map crates/{name}"
            );
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
    }

    /// The `.rs` files at `path`: the file itself, or every one below a folder.
    fn rust_files(path: &Path) -> Vec<PathBuf> {
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
                found.extend(rust_files(&entry));
            } else if entry.extension().is_some_and(|e| e == "rs") {
                found.push(entry);
            }
        }
        found
    }

    #[test]
    fn every_metric_is_documented() {
        let telemetry_doc = read("docs/telemetry.md");
        let mut found = 0;
        for entry in fs::read_dir(root().join("crates")).unwrap() {
            let source = entry.unwrap().path().join("src/telemetry.rs");
            let Ok(text) = fs::read_to_string(&source) else {
                continue;
            };
            for name in text
                .lines()
                .filter(|l| l.trim_start().starts_with("pub const") && l.contains(": &str"))
                .filter_map(|l| l.split('"').nth(1))
            {
                found += 1;
                assert!(
                    telemetry_doc.contains(&format!("`{name}`")),
                    "{name} is not documented in docs/telemetry.md"
                );
            }
        }
        assert!(found > 0, "no metric names found: did telemetry.rs move?");
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
