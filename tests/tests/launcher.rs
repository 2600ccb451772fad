//! The launcher's modes the benchmarks use, against the real binary: output to a file, the
//! `/readyz` wait, and a graceful stop.

use std::time::Duration;

use e2e::{Env, Launch, TempDir};
use zoho_sim::{SimConfig, ZohoSim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_logging_to_a_file_is_found_ready_and_stopped_by_sigterm() {
    let sim = ZohoSim::start(SimConfig::default())
        .await
        .expect("emulator");
    let dir = TempDir::new();
    let log = dir.0.join("gateway.log");
    let env = Env::zoho(&sim).with("RUST_LOG", "info");
    let gateway = Launch::serve(&env).log_file(&log).start().await;
    assert!(
        gateway.api.starts_with("http://127.0.0.1:"),
        "{}",
        gateway.api
    );
    gateway.ready(Duration::from_secs(30)).await;
    let pid = gateway.pid();
    gateway.stop().await;
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the process outlived stop()"
    );
    let printed = std::fs::read_to_string(&log).expect("the log file");
    assert!(printed.contains("zoho-gateway listening: "), "{printed}");
    e2e::assert_no_secrets("the gateway's log file", &printed);
}
