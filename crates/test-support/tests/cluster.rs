//! The Redis Cluster helper against real `redis-server` processes.

use test_support::cluster::RedisCluster;

#[tokio::test]
async fn three_masters_serve_keys_on_every_node_and_die_on_drop() {
    let cluster = RedisCluster::start(3);
    let client = redis::cluster::ClusterClient::new(cluster.urls()).expect("cluster client");
    let mut connection = client
        .get_async_connection()
        .await
        .expect("cluster connection");
    // Keys whose slots (CRC16 mod 16384) fall on different masters: "a" 15495, "b" 3300,
    // "c" 7365, and a hash-tagged pair that must share one slot.
    let keys = ["a", "b", "c", "{fleet}:one", "{fleet}:two"];
    for key in keys {
        let () = redis::cmd("SET")
            .arg(key)
            .arg(format!("value of {key}"))
            .query_async(&mut connection)
            .await
            .expect("SET through the cluster");
    }
    for key in keys {
        let value: String = redis::cmd("GET")
            .arg(key)
            .query_async(&mut connection)
            .await
            .expect("GET through the cluster");
        assert_eq!(value, format!("value of {key}"));
    }
    // The keys really are spread: each master holds some, none holds all.
    let mut held = Vec::new();
    for url in cluster.urls() {
        let mut node = redis::Client::open(url)
            .expect("node url")
            .get_multiplexed_async_connection()
            .await
            .expect("node connection");
        let size: u64 = redis::cmd("DBSIZE")
            .query_async(&mut node)
            .await
            .expect("DBSIZE");
        held.push(size);
    }
    assert!(
        held.iter().all(|n| *n > 0 && *n < 5),
        "keys per node: {held:?}"
    );

    let ports = cluster.ports().to_vec();
    drop(cluster);
    for port in ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "node {port} outlived the cluster"
        );
    }
}
