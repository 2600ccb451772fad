//! What the end-to-end tests, the soak, the benchmarks and `zoho-auth`'s tests share. Not
//! published; nothing here is part of the product.
//!
//! - [`Gateway`] / [`Launch`]: the real `zoho-gateway` binary as a child process on port 0, its
//!   listeners read from the `zoho-gateway listening: api=… admin=…` line, stopped by signal,
//!   its output collected and scanned for secrets when it is dropped.
//! - [`assert_no_secrets`] and friends: the secret scanner every test's output goes through.
//! - [`Env`] / [`zoho_env`]: a gateway's environment pointed at a zoho-sim.
//! - [`redis::PrivateRedis`] and [`cluster::RedisCluster`]: a `redis-server`, or a Redis
//!   Cluster of several, on free loopback ports, killed on drop.
//! - [`raw_http`]: read a request head and write a JSON answer on a bare socket (fake Zoho servers).

pub mod cluster;
mod env;
mod gateway;
pub mod raw_http;
pub mod redis;
mod secrets;
mod tempdir;

pub use env::{Env, zoho_env};
pub use gateway::{Gateway, Launch, binary, run};
pub use secrets::{
    Scanned, assert_no_secrets, assert_no_secrets_in_headers, find_secret, find_token_shape,
    register_secret, scan_response,
};
pub use tempdir::TempDir;

/// What a finished child process printed: its stdout, then its stderr.
pub fn combined_output(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `count` distinct free TCP ports on 127.0.0.1: all bound at once, then released, so no two
/// are the same.
pub fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}
