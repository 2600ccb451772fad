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

    #[test]
    fn ci_runs_exactly_the_readme_test_command() {
        let readme = read("README.md");
        let first_block = readme
            .split("```")
            .nth(1)
            .expect("README starts with a code block");
        assert!(
            first_block.contains("cargo xtask ci"),
            "README's first code block lacks `cargo xtask ci`"
        );
        let ci = read(".ci/run");
        assert!(
            ci.lines().any(|l| l.trim() == "cargo xtask ci"),
            ".ci/run must run `cargo xtask ci`"
        );
    }
}
