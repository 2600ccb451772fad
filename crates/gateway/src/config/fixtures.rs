//! Values and helpers shared by the configuration's unit tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{MapSource, var};

pub const SECRET: &str = "client-secret-VALUE-7f3a9c";
pub const REFRESH: &str = "1000.refresh-token-VALUE.8e2b4d";
pub const ACCESS: &str = "1000.access-token-VALUE.2c9d1e0f7a6b5c4d3e2f1a0b9c8d7e6f";
pub const RAW_KEY: &str = "raw-api-key-VALUE-0123456789";

/// The required variables, nothing else.
pub fn minimal() -> MapSource {
    MapSource::new()
        .with(var::ZOHO_DESK_CLIENT_ID, "1000.CLIENTID")
        .with(var::ZOHO_DESK_CLIENT_SECRET, SECRET)
        .with(var::ZOHO_DESK_REFRESH_TOKEN, REFRESH)
        .with(var::ZOHO_DESK_ORG_ID, "123456789")
}

/// A fresh directory under the system's temporary one.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gateway-config-{}-{name}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
