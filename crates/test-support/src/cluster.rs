//! A local Redis Cluster for the fleet work: several `redis-server --cluster-enabled yes`
//! processes on free loopback ports, joined with `redis-cli --cluster create`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TempDir, free_ports};

/// Real time the cluster gets to come up (every node listening, then `cluster_state:ok`).
const STARTUP: Duration = Duration::from_secs(30);

/// A Redis Cluster of masters only (no replicas), each node on a free port with its cluster bus
/// on another, its `nodes.conf` in a directory of its own. Every process is killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    /// Every node's `nodes.conf`, one directory per node; removed on drop.
    dir: TempDir,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3, Redis Cluster's minimum), assigns the 16,384 slots
    /// across them and waits until every node reports `cluster_state:ok`.
    pub fn start(masters: usize) -> RedisCluster {
        assert!(masters >= 3, "a Redis Cluster needs at least 3 masters");
        let dir = TempDir::new();
        // Data ports and bus ports drawn together, so none is picked twice.
        let all = free_ports(2 * masters);
        let (ports, buses) = all.split_at(masters);
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            ports: ports.to_vec(),
            dir,
        };
        for (port, bus) in ports.iter().zip(buses) {
            let node_dir = cluster.dir.0.join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("node directory");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string()])
                .args(["--cluster-port", &bus.to_string()])
                .args(["--bind", "127.0.0.1", "--cluster-enabled", "yes"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server is needed for this test: `apt-get install redis-server`");
            cluster.nodes.push(child);
        }
        let deadline = Instant::now() + STARTUP;
        for port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "redis-server did not start on port {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli is needed for this test: `apt-get install redis-tools`");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        // The slots are assigned at once; each node reports ok only once gossip has told it
        // about all the others.
        for port in ports {
            while !cluster_ok(*port) {
                assert!(
                    Instant::now() < deadline,
                    "node {port} never reported cluster_state:ok"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// `redis://127.0.0.1:<port>` of every node, the seed list a cluster client takes.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect()
    }

    /// The nodes' client ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }
}

/// Whether the node on `port` answers `CLUSTER INFO` with `cluster_state:ok`.
fn cluster_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}
