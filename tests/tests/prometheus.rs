//! The Grafana dashboard and the alert rules against a real Prometheus (Debian's `prometheus`
//! package, which ships `promtool` too): a gateway on real sockets, with zoho-sim as Zoho, is
//! driven through token expiry, a forced refresh, a 401 the retry recovers, a 401 it does not,
//! Desk 429s and a failing refresh, while Prometheus scrapes it every second. Then every panel
//! query of `deploy/grafana/dashboards/zoho-gateway.json` must return data, the two figures of
//! the mission must hold the values the traffic implies, the alert rules must load and evaluate,
//! and `promtool check metrics` must find nothing wrong in a real scrape.
//!
//! Without `prometheus` or `promtool` on PATH this test fails with the command that installs
//! them; it never skips.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{Gateway, TempDir, zoho_env};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use zoho_sim::{AccountsConfig, Fault, Route, SimConfig, ThrottleStyle, Times, ZohoSim};

/// How to get both tools on Debian/Ubuntu (`.ci/run` and `cargo xtask ci` do it when root).
const INSTALL: &str = "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus";
/// Token lifetime at the emulator: short enough to expire during the test, long enough that the
/// gateway stays within its refresh budget (10 attempts per 10 minutes).
const TOKEN_LIFETIME: Duration = Duration::from_secs(20);
/// What the dashboard's interval variables become for instant queries.
const WINDOW: &str = "1m";

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The absolute path of `name` on PATH, or a failure that says how to install it.
fn require_tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not on PATH; this test needs a real Prometheus and promtool. \
                 Install them with `{INSTALL}` (or run .ci/run, which does)"
            )
        })
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// A free port on 127.0.0.1 (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A Prometheus server run as a child process with its own config and storage; killed on drop.
struct Prometheus {
    _child: Child,
    url: String,
    log: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (`host:port`) every second as job `zoho-gateway`,
    /// with the project's alert rules, and waits until it is ready.
    async fn start(binary: &Path, target: &str) -> Prometheus {
        let dir = TempDir::new();
        let rules = root().join("deploy/prometheus/rules/zoho-gateway.yml");
        let config = dir.0.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {rules}\n\
                 scrape_configs:\n  - job_name: zoho-gateway\n    static_configs:\n      - targets: [\"{target}\"]\n",
                rules = rules.display()
            ),
        )
        .expect("write prometheus.yml");
        let mut last_log = String::new();
        // The port is free when picked but could be taken before Prometheus binds it: retry.
        for _ in 0..3 {
            let port = free_port();
            let data = dir.0.join(format!("data-{port}"));
            let mut child = Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .current_dir(&dir.0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn prometheus");
            let log = Arc::new(Mutex::new(String::new()));
            let sink = log.clone();
            let stderr = child.stderr.take().expect("stderr");
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    sink.lock().unwrap().push_str(&(line + "\n"));
                }
            });
            let url = format!("http://127.0.0.1:{port}");
            let client = http();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let ready = client.get(format!("{url}/-/ready")).send().await;
                if ready.is_ok_and(|r| r.status().is_success()) {
                    return Prometheus {
                        _child: child,
                        url,
                        log,
                        _dir: dir,
                    };
                }
                if Instant::now() > deadline {
                    panic!(
                        "prometheus was not ready within 30 s:\n{}",
                        log.lock().unwrap()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            last_log = log.lock().unwrap().clone();
        }
        panic!("prometheus exited at start, three times:\n{last_log}");
    }

    /// An instant query; the `result` array, or Prometheus's error.
    async fn query(&self, client: &reqwest::Client, expr: &str) -> Result<Vec<Value>, String> {
        let response = client
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .await
            .map_err(|e| format!("query failed: {e}"))?;
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("query answer is not JSON: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The sum of the values `expr` returns (0 when it returns nothing).
    async fn sum(&self, client: &reqwest::Client, expr: &str) -> f64 {
        self.query(client, expr)
            .await
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .iter()
            .filter_map(sample_value)
            .sum()
    }

    /// Polls `expr` until `done(sum)` holds; fails with `what` after `within`.
    async fn wait_for(
        &self,
        client: &reqwest::Client,
        what: &str,
        expr: &str,
        within: Duration,
        done: impl Fn(f64) -> bool,
    ) {
        let deadline = Instant::now() + within;
        loop {
            let value = self.sum(client, expr).await;
            if done(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: `{expr}` is {value} after {within:?}\nprometheus log:\n{}",
                self.log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The value of one instant-vector sample (`[time, "value"]`).
fn sample_value(sample: &Value) -> Option<f64> {
    sample["value"][1].as_str()?.parse().ok()
}

/// One query of the dashboard: the panel it belongs to and its PromQL.
struct PanelQuery {
    panel: String,
    expr: String,
}

/// Every target of every panel (rows included), with template variables replaced the way
/// Grafana would for "all instances" and the default job.
fn dashboard_queries() -> Vec<PanelQuery> {
    let path = root().join("deploy/grafana/dashboards/zoho-gateway.json");
    let text = std::fs::read_to_string(&path).expect("read the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut variables: Vec<(String, String)> = Vec::new();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        let name = variable["name"].as_str().expect("variable name").to_owned();
        if variable["type"] == "datasource" {
            continue;
        }
        let value = if variable["includeAll"] == true {
            variable["allValue"].as_str().unwrap_or(".*").to_owned()
        } else {
            variable["current"]["value"]
                .as_str()
                .unwrap_or_else(|| panic!("variable {name} has no default value"))
                .to_owned()
        };
        variables.push((name, value));
    }
    let mut panels: Vec<&Value> = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        panels.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            panels.extend(nested);
        }
    }
    let mut queries = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let mut expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title:?}: a target without expr"))
                .to_owned();
            for interval in ["$__rate_interval", "$__interval", "$__range"] {
                expr = expr.replace(interval, WINDOW);
            }
            for (name, value) in &variables {
                expr = expr
                    .replace(&format!("${{{name}}}"), value)
                    .replace(&format!("${name}"), value);
            }
            assert!(
                !expr.contains('$'),
                "panel {title:?}: unresolved variable in {expr}"
            );
            queries.push(PanelQuery {
                panel: format!("{title} [{}]", target["refId"].as_str().unwrap_or("?")),
                expr,
            });
        }
    }
    queries
}

#[test]
fn the_dashboard_is_provisionable_and_uses_the_datasource_variable() {
    let text = std::fs::read_to_string(root().join("deploy/grafana/dashboards/zoho-gateway.json"))
        .expect("read the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(dashboard["uid"], "zoho-gateway");
    assert!(dashboard["title"].is_string() && dashboard["schemaVersion"].is_u64());
    assert!(
        dashboard.get("__inputs").is_none(),
        "provisioned dashboards take no import inputs"
    );
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "a `datasource` variable of type datasource/prometheus"
    );
    let mut ids = std::collections::BTreeSet::new();
    let mut targets = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate id: {title}"
        );
        assert!(panel["gridPos"]["w"].is_u64(), "{title}: gridPos");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            targets += 1;
        }
    }
    assert!(targets >= 20, "{targets} targets");
    for provisioning in [
        "deploy/grafana/provisioning/dashboards/zoho-gateway.yml",
        "deploy/grafana/provisioning/datasources/prometheus.yml",
    ] {
        let text = std::fs::read_to_string(root().join(provisioning)).expect(provisioning);
        assert!(text.contains("apiVersion: 1"), "{provisioning}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_returns_data_from_a_real_prometheus() {
    let started = Instant::now();
    let prometheus_bin = require_tool("prometheus");
    let promtool = require_tool("promtool");

    let sim = ZohoSim::start(SimConfig {
        accounts: AccountsConfig {
            token_lifetime: TOKEN_LIFETIME,
            ..AccountsConfig::default()
        },
        ..SimConfig::default()
    })
    .await
    .expect("emulator");
    let mut env = zoho_env(&sim);
    env.push(("ZOHO_TOKEN_REFRESH_MARGIN_SECS".into(), "1".into()));
    let gateway = Gateway::start(&env).await;
    let cold_start = Instant::now();
    let target = gateway
        .admin
        .strip_prefix("http://")
        .expect("admin url")
        .to_owned();
    let prometheus = Prometheus::start(&prometheus_bin, &target).await;
    let client = http();
    // The first scrape lands before any traffic, so every increase below is seen as one.
    prometheus
        .wait_for(
            &client,
            "the gateway is scraped",
            r#"up{job="zoho-gateway"}"#,
            Duration::from_secs(30),
            |up| up == 1.0,
        )
        .await;

    let api = gateway.api.clone();
    // The status of one request to the API listener: all the traffic below needs.
    let status_of = |method: reqwest::Method, path: &str| {
        let client = client.clone();
        let url = format!("{api}{path}");
        async move {
            client
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
                .status()
                .as_u16()
        }
    };
    let get = |path: &str| status_of(reqwest::Method::GET, path);
    let force_refresh = || status_of(reqwest::Method::POST, "/api/zoho-desk/token");
    // Ordinary traffic: typed routes, the pass-through, a 404.
    let typed = [
        "/api/zoho-desk/tickets?limit=5",
        "/api/zoho-desk/contacts?limit=5",
        "/api/zoho-desk/agents",
        "/api/zoho-desk/departments",
        "/api/zoho-desk/organizations",
        "/api/zoho-desk/v1/departments",
    ];
    for path in typed {
        assert_eq!(get(path).await, 200, "{path}\n{}", gateway.output());
    }
    assert_eq!(get("/api/zoho-desk/tickets/999999999").await, 404);
    assert_eq!(get("/api/zoho-desk/nope").await, 404);
    // An operator forces a refresh.
    assert_eq!(force_refresh().await, 200);
    // Zoho drops the token server-side: one 401, recovered by the retry with a fresh token.
    sim.invalidate_access_tokens();
    assert_eq!(get("/api/zoho-desk/departments").await, 200);
    // A 401 the retry does not get past: Zoho rejects the fresh token too.
    sim.inject(
        Route::Desk,
        Fault::Respond {
            status: 401,
            body: r#"{"errorCode":"INVALID_OAUTH","message":"The OAuth Token you provided is invalid."}"#.into(),
        },
        Times::Next(2),
    );
    let unrecovered = get("/api/zoho-desk/agents").await;
    assert_eq!(
        unrecovered, 502,
        "the caller sees zoho_unauthorized: the gateway's credentials, not the caller's"
    );
    // Desk answers 429 to the first attempt and both retries.
    sim.inject(
        Route::Desk,
        Fault::Throttle {
            style: ThrottleStyle::Json200,
        },
        Times::Next(3),
    );
    let throttled = get("/api/zoho-desk/contacts?limit=5").await;
    assert_eq!(
        throttled, 429,
        "three 429s exhaust the two retries: zoho_rate_limited"
    );
    // A refresh fails: Zoho Accounts answers 503 once.
    let minted = sim.stats().tokens_minted;
    sim.inject(Route::Token, Fault::Status { status: 503 }, Times::Next(1));
    let failed = force_refresh().await;
    println!("forced refresh during the Accounts outage answered {failed}");

    // Keep reading until the cold-start token's lifetime is over and a proactive refresh
    // replaced a token: the gateway is driven through expiry.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut reads = 0;
    loop {
        let path = typed[reads % typed.len()];
        assert_eq!(
            get(path).await,
            200,
            "{path} during expiry\n{}",
            gateway.output()
        );
        reads += 1;
        let proactive = prometheus
            .sum(
                &client,
                r#"zoho_token_refresh_total{outcome="success",reason="proactive"}"#,
            )
            .await;
        if proactive >= 1.0 && cold_start.elapsed() > TOKEN_LIFETIME + Duration::from_secs(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no proactive refresh within 60 s\n{}",
            gateway.output()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let stats = sim.stats();
    assert!(
        stats.tokens_minted > minted,
        "a token was minted after the failed refresh"
    );

    // Prometheus has every event once these hold; two more scrapes give every rate() two
    // samples after the last increase.
    for (what, expr) in [
        (
            "a failed refresh",
            r#"zoho_token_refresh_total{outcome="failure"}"#,
        ),
        (
            "a recovered 401",
            r#"zoho_desk_unauthorized_total{error_code="INVALID_OAUTH",recovered="true"}"#,
        ),
        (
            "an unrecovered 401",
            r#"zoho_desk_unauthorized_total{error_code="INVALID_OAUTH",recovered="false"}"#,
        ),
        (
            "Desk 429s",
            r#"zoho_desk_rate_limited_total{error_code="TOO_MANY_REQUESTS"}"#,
        ),
        (
            "the recovered 401's auth retry",
            r#"zoho_token_auth_retries_total{recovered="true"}"#,
        ),
        (
            "the unrecovered 401's auth retry",
            r#"zoho_token_auth_retries_total{recovered="false"}"#,
        ),
    ] {
        prometheus
            .wait_for(&client, what, expr, Duration::from_secs(15), |v| v >= 1.0)
            .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Every panel query returns at least one series with a finite value.
    let queries = dashboard_queries();
    let mut problems = Vec::new();
    for query in &queries {
        match prometheus.query(&client, &query.expr).await {
            Err(error) => problems.push(format!("{}: {error}\n    {}", query.panel, query.expr)),
            Ok(result) => {
                let finite = result
                    .iter()
                    .filter_map(sample_value)
                    .filter(|v| v.is_finite())
                    .count();
                println!(
                    "panel {}: {} series, {finite} finite",
                    query.panel,
                    result.len()
                );
                if finite == 0 {
                    problems.push(format!(
                        "{}: no data ({} series, none finite)\n    {}",
                        query.panel,
                        result.len(),
                        query.expr
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} panel queries failed:\n{}",
        problems.len(),
        queries.len(),
        problems.join("\n")
    );
    // The auth-retries panel shows the two retries of the 401s above, not only the series the
    // gateway creates at zero: the Desk client's retries are counted by zoho-auth's 401 rule.
    let retries_panel = queries
        .iter()
        .find(|query| query.expr.contains("zoho_token_auth_retries_total"))
        .expect("the dashboard charts zoho_token_auth_retries_total");
    let retries_shown: f64 = prometheus
        .query(&client, &retries_panel.expr)
        .await
        .expect("the auth-retries panel query")
        .iter()
        .filter_map(sample_value)
        .sum();
    assert!(
        retries_shown > 0.0,
        "panel {} shows no auth retry\n    {}",
        retries_panel.panel,
        retries_panel.expr
    );

    // The critical alert is built on `zoho_token_expiry_timestamp_seconds - time()`: the gauge
    // must be a unix time in seconds within one token lifetime of now (not 0, not milliseconds).
    let until_expiry = prometheus
        .sum(
            &client,
            r#"max(zoho_token_expiry_timestamp_seconds{job="zoho-gateway"}) - time()"#,
        )
        .await;
    assert!(
        (-60.0..=TOKEN_LIFETIME.as_secs_f64() + 5.0).contains(&until_expiry),
        "the expiry gauge is {until_expiry} s from now; a {TOKEN_LIFETIME:?} token was expected"
    );

    // The two figures of the mission, in PromQL, hold what the traffic implies.
    let success_rate = prometheus
        .sum(
            &client,
            r#"sum(increase(zoho_token_refresh_total{job="zoho-gateway",outcome="success"}[10m])) / sum(increase(zoho_token_refresh_total{job="zoho-gateway"}[10m]))"#,
        )
        .await;
    assert!(
        success_rate > 0.5 && success_rate < 1.0,
        "refresh success rate with one failure among several successes: {success_rate}"
    );
    let unauthorized = |recovered: &'static str| {
        let prometheus = &prometheus;
        let client = &client;
        async move {
            prometheus
                .sum(
                    client,
                    &format!(
                        r#"sum by (error_code) (increase(zoho_desk_unauthorized_total{{job="zoho-gateway",recovered="{recovered}"}}[10m]))"#
                    ),
                )
                .await
        }
    };
    let (recovered, not_recovered) = (unauthorized("true").await, unauthorized("false").await);
    assert!(
        recovered >= 1.0 && not_recovered >= 1.0,
        "401s recovered {recovered}, not recovered {not_recovered}"
    );
    println!(
        "figures: refresh success rate {success_rate:.3}; 401s recovered {recovered:.1}, not recovered {not_recovered:.1}"
    );

    // The alert rules load, evaluate without error, and carry what the runbook links need.
    check_rules(&prometheus, &client).await;

    // A real scrape passes `promtool check metrics` without a single remark.
    let response = client
        .get(format!("{}/metrics", gateway.admin))
        .send()
        .await
        .expect("scrape");
    let content_type = response.headers()["content-type"].to_str().unwrap_or("");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let scrape = response.text().await.expect("scrape body");
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    let mut stdin = check.stdin.take().expect("stdin");
    stdin
        .write_all(scrape.as_bytes())
        .await
        .expect("feed promtool");
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(30), check.wait_with_output())
        .await
        .expect("promtool finished")
        .expect("promtool ran");
    let remarks = e2e::combined_output(&output);
    assert!(
        output.status.success() && remarks.trim().is_empty(),
        "promtool check metrics: {}\n{remarks}",
        output.status
    );
    println!(
        "{} panel queries returned data; {} scrape lines passed promtool; {:.1} s",
        queries.len(),
        scrape.lines().count(),
        started.elapsed().as_secs_f64()
    );
}

/// The six alerts are loaded and healthy, each with a severity and the annotations the runbook
/// relies on; the unrecovered 401 of the test makes ZohoDeskUnauthorizedNotRecovered fire.
async fn check_rules(prometheus: &Prometheus, client: &reqwest::Client) {
    const ALERTS: [&str; 6] = [
        "ZohoTokenRefreshSuccessRateLow",
        "ZohoTokenExpiringWithoutRefresh",
        "ZohoCredentialsRejected",
        "ZohoDeskUnauthorizedNotRecovered",
        "ZohoDeskRateLimited",
        "ZohoGatewayDown",
    ];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body: Value = client
            .get(format!("{}/api/v1/rules", prometheus.url))
            .send()
            .await
            .expect("rules")
            .json()
            .await
            .expect("rules JSON");
        let rules: Vec<&Value> = body["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|group| group["rules"].as_array().into_iter().flatten())
            .collect();
        let names: Vec<&str> = rules.iter().filter_map(|r| r["name"].as_str()).collect();
        assert_eq!(names, ALERTS, "the alert rules");
        let mut firing = Vec::new();
        for rule in &rules {
            let name = rule["name"].as_str().unwrap();
            assert_eq!(rule["type"], "alerting", "{name}");
            assert_ne!(rule["health"], "err", "{name}: {}", rule["lastError"]);
            assert!(
                ["warning", "critical"]
                    .contains(&rule["labels"]["severity"].as_str().unwrap_or("")),
                "{name}: severity"
            );
            for annotation in ["summary", "description"] {
                assert!(
                    rule["annotations"][annotation]
                        .as_str()
                        .is_some_and(|s| !s.is_empty()),
                    "{name}: {annotation}"
                );
            }
            assert_eq!(
                rule["annotations"]["runbook_url"],
                format!(
                    "https://github.com/example/zoho-gateway/blob/main/docs/runbook.md#{}",
                    name.to_lowercase()
                ),
                "{name}: runbook_url"
            );
            if rule["state"] == "firing" {
                firing.push(name);
            }
        }
        let evaluated = rules.iter().all(|r| r["health"] == "ok");
        if evaluated && firing.contains(&"ZohoDeskUnauthorizedNotRecovered") {
            assert!(!firing.contains(&"ZohoGatewayDown"), "{firing:?}");
            assert!(!firing.contains(&"ZohoCredentialsRejected"), "{firing:?}");
            println!("alert rules healthy; firing: {firing:?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rules not evaluated or the unrecovered 401 not alerted within 15 s: {firing:?}\n{}",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
