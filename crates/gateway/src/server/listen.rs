//! Both listeners and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::ServerConfig;

/// Binds both listeners; returns their addresses (ports may be 0 in tests).
pub async fn bind(server: &ServerConfig) -> std::io::Result<(TcpListener, TcpListener)> {
    let api = TcpListener::bind(server.listen).await?;
    let admin = TcpListener::bind(server.admin_listen).await?;
    Ok((api, admin))
}

/// Serves until `shutdown` resolves, then stops accepting, drains in-flight requests for up to
/// `grace`, and returns. The API listener holds at most `max_connections` client connections.
pub async fn serve(
    api_listener: TcpListener,
    admin_listener: TcpListener,
    api: Router,
    admin: Router,
    max_connections: usize,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    /// How long a client gets to send a request's whole header block on the API listener
    /// (also how long an idle keep-alive connection stays open): hyper's own default, which
    /// `axum::serve` never applies because it gives hyper no timer. Without it a client that
    /// trickles header bytes (slowloris) holds a connection and its task forever.
    const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    // The API listener: axum::serve's accept loop, by hand, so each connection's HTTP/1
    // builder gets a timer and the header read timeout. Shutdown as axum does it: stop
    // accepting, let every connection finish its in-flight request, wait for all of them.
    let api_stop = stop_rx.clone();
    let api_server = async move {
        use tower::ServiceExt as _;
        let mut listener = api_listener;
        let (closed_tx, closed_rx) = tokio::sync::watch::channel(());
        let mut stopped = std::pin::pin!(wait(api_stop.clone()));
        let connections = Arc::new(tokio::sync::Semaphore::new(max_connections));
        loop {
            // At the limit, stop accepting: new connections wait in the kernel's backlog (and
            // time out there), not as tasks and sockets here.
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => permit.expect("never closed"),
                () = &mut stopped => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = axum::serve::Listener::accept(&mut listener) => accepted,
                () = &mut stopped => break,
            };
            let service = api.clone().map_request(
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    // What `into_make_service_with_connect_info` provided: the rate limit's
                    // per-peer key for unauthenticated requests.
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo::<SocketAddr>(peer));
                    request
                },
            );
            let stop = wait(api_stop.clone());
            let closed = closed_rx.clone();
            tokio::spawn(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                let connection = builder.serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper_util::service::TowerToHyperService::new(service),
                );
                let mut connection = std::pin::pin!(connection);
                let result = tokio::select! {
                    result = connection.as_mut() => result,
                    () = stop => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                if let Err(error) = result {
                    tracing::debug!(peer = %peer, error = %error, "connection closed with an error");
                }
                drop(permit);
                drop(closed);
            });
        }
        drop(listener);
        drop(closed_rx);
        closed_tx.closed().await;
        Ok::<(), std::io::Error>(())
    };
    let admin_server = axum::serve(admin_listener, admin.into_make_service())
        .with_graceful_shutdown(wait(stop_rx));
    let servers =
        tokio::spawn(async move { tokio::try_join!(api_server, admin_server.into_future()) });
    shutdown.await;
    info!(
        message = "shutting down: no new connections, draining in-flight requests",
        grace_secs = grace.as_secs()
    );
    let _ = stop_tx.send(true);
    match tokio::time::timeout(grace, servers).await {
        Ok(Ok(result)) => result.map(|_| ()),
        Ok(Err(join)) => Err(std::io::Error::other(join)),
        Err(_) => {
            warn!(
                message = "drain deadline passed; exiting with requests still in flight",
                grace_secs = grace.as_secs()
            );
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}
