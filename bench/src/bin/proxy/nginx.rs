//! nginx as the upstream and as the reverse proxy the gateway is compared with.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

pub async fn wait_for_port(port: u16) {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// A value as a double-quoted nginx string (tokens and org ids never need escaping).
fn nginx_quote(value: &str) -> String {
    assert!(
        !value.contains(['"', '\\', '$']),
        "unexpected character in an nginx header value"
    );
    format!("\"{value}\"")
}

fn nginx_common(dir: &Path, name: &str, workers: &str) -> String {
    let tmp = dir.join(format!("{name}-tmp"));
    std::fs::create_dir_all(&tmp).expect("nginx temp dir");
    let tmp = tmp.display();
    format!(
        "daemon off;\nmaster_process on;\nworker_processes {workers};\nerror_log stderr warn;\n\
         pid {dir}/{name}.pid;\nevents {{ worker_connections 4096; }}\n",
        dir = dir.display(),
    ) + &format!(
        "http {{\n  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n  \
         fastcgi_temp_path {tmp}/fastcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n  \
         keepalive_requests 1000000;\n"
    )
}

pub fn upstream_conf(dir: &Path, port: u16) -> String {
    nginx_common(dir, "upstream", "1")
        + &format!(
            "  access_log off;\n  open_file_cache max=16 inactive=300s;\n  server {{\n    \
             listen 127.0.0.1:{port};\n    root {www};\n    location / {{ default_type application/json; }}\n  }}\n}}\n",
            www = dir.join("www").display()
        )
}

pub fn proxy_conf(dir: &Path, port: u16, upstream: u16, token: &str, org_id: &str) -> String {
    let headers = format!(
        "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      \
         proxy_set_header Authorization {auth};\n      proxy_set_header orgId {org};\n",
        auth = nginx_quote(&format!("Zoho-oauthtoken {token}")),
        org = nginx_quote(org_id),
    );
    nginx_common(dir, "proxy", "auto")
        + &format!(
            "  access_log {log};\n  upstream desk {{ server 127.0.0.1:{upstream}; keepalive 32; keepalive_requests 1000000; }}\n  \
             server {{\n    listen 127.0.0.1:{port};\n    \
             location /api/zoho-desk/v1/ {{\n      proxy_pass http://desk/api/v1/;\n{headers}    }}\n    \
             location = /api/zoho-desk/departments {{\n      proxy_pass http://desk/api/v1/departments;\n{headers}    }}\n  }}\n}}\n",
            log = dir.join("proxy-access.log").display(),
        )
}

/// Stops an nginx master with SIGTERM when dropped (also on a panic), so its workers exit with
/// it; a plain kill of the master would leave them running.
pub struct NginxGuard(pub Option<u32>);

impl Drop for NginxGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

pub async fn spawn_nginx(nginx: &Path, dir: &Path, name: &str, conf: String) -> Child {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).expect("write nginx config");
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("nginx log");
    Command::new(nginx)
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start nginx")
}

pub async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    if tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}
