//! Accepting and serving HTTP/1.1 connections: what `axum::serve` does, plus the timeout it
//! cannot set. A client that never completes its request headers (slow-loris), or holds a
//! connection without sending another request, would otherwise keep a file descriptor for as
//! long as it likes, and enough of them exhaust the process's limit; hyper's header-read
//! timeout needs a timer, which `axum::serve` does not give it.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a connection may take to deliver a request's headers, counted from when the
/// connection is ready for one (accepted, or idle after a response). Long-lived responses
/// (SSE streams) are not affected: no request is read while one is being answered.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `stop_accepting` fires; then stops accepting, asks every
/// open connection to close once its response is done, and resolves when all have closed.
/// Each request carries the peer's `ConnectInfo<SocketAddr>`, as axum's extractor expects.
pub async fn serve(
    mut listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    stop_accepting: CancellationToken,
) {
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        // axum's `Listener` retries failed accepts (and backs off when out of descriptors).
        let (tcp, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = stop_accepting.cancelled() => break,
        };
        // Small JSON-RPC answers and SSE events must not wait for an ACK: with Nagle's
        // algorithm a client's p99 was ~45 ms on loopback (delayed ACK), without it ~1 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let service = app.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection =
            http1.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Generous: only guards against a hang, never measures anything.
    const HANG: Duration = Duration::from_secs(20);

    async fn start(
        timeout: Duration,
    ) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
        let app = Router::new().route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, app, timeout, stop.clone()));
        (addr, stop, server)
    }

    /// Reads until the server closes the connection; returns what it sent.
    async fn read_to_close(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        tokio::time::timeout(HANG, stream.read_to_end(&mut out))
            .await
            .expect("the server closed the connection")
            .expect("read");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn answers_with_the_peer_address() {
        let (addr, stop, server) = start(HEADER_READ_TIMEOUT).await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let local = stream.local_addr().expect("local addr");
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let answer = read_to_close(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(&local.to_string()), "{answer}");
        stop.cancel();
        tokio::time::timeout(HANG, server)
            .await
            .expect("stopped")
            .expect("joined");
    }

    #[tokio::test]
    async fn drops_a_client_that_never_finishes_its_headers() {
        let (addr, stop, server) = start(Duration::from_millis(300)).await;
        let mut slow = TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET /peer HTTP/1.1\r\nHost: loc")
            .await
            .expect("write");
        let answer = read_to_close(&mut slow).await;
        assert!(!answer.contains("200 OK"), "{answer}");
        let mut idle = TcpStream::connect(addr).await.expect("connect");
        read_to_close(&mut idle).await;
        stop.cancel();
        tokio::time::timeout(HANG, server)
            .await
            .expect("stopped")
            .expect("joined");
    }

    #[tokio::test]
    async fn idle_keep_alive_connections_are_closed_at_shutdown() {
        let (addr, stop, server) = start(HEADER_READ_TIMEOUT).await;
        let mut kept = TcpStream::connect(addr).await.expect("connect");
        kept.write_all(b"GET /peer HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("write");
        let mut first = [0u8; 12];
        kept.read_exact(&mut first).await.expect("answer");
        assert_eq!(&first, b"HTTP/1.1 200");
        stop.cancel();
        read_to_close(&mut kept).await;
        tokio::time::timeout(HANG, server)
            .await
            .expect("stopped")
            .expect("joined");
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    }
}
