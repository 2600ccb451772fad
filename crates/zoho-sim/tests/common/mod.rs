//! What both HTTP test files of the emulator start from: the client they speak with, and the
//! emulator itself.

#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

use zoho_sim::{AccountsConfig, SimConfig, SimHandle, ZohoSim};

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

pub async fn start_with(config: SimConfig) -> SimHandle {
    ZohoSim::start(config).await.expect("start emulator")
}

/// An emulator that keeps at most `cap` live access tokens per refresh token.
pub async fn start_with_live_token_cap(cap: usize) -> SimHandle {
    start_with(SimConfig {
        accounts: AccountsConfig {
            live_token_cap: cap,
            ..AccountsConfig::default()
        },
        ..SimConfig::default()
    })
    .await
}
