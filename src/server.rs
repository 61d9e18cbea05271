//! The HTTP listener with the limits a server facing the internet needs: a
//! client has `header_read_timeout_secs` to send its request head (a
//! slow-loris connection is closed, not kept), at most `max_connections` are
//! open at once, at most `max_in_flight` requests run (503 beyond) and each
//! must be answered within `request_timeout_secs` (408 beyond, which also
//! covers a body that trickles in).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use leadgate_http::error::{ApiError, Problem};
use leadgate_http::settings::ServerSettings;

struct InFlight {
    permits: Semaphore,
    timeout: Duration,
}

/// Wraps the router in the in-flight limit and the request timeout.
pub fn limited(app: Router, server: &ServerSettings) -> Router {
    let state = Arc::new(InFlight {
        permits: Semaphore::new(server.max_in_flight.max(1)),
        timeout: Duration::from_secs(server.request_timeout_secs.max(1)),
    });
    app.layer(axum::middleware::from_fn_with_state(state, in_flight))
}

async fn in_flight(State(limit): State<Arc<InFlight>>, request: Request, next: Next) -> Response {
    let Ok(_permit) = limit.permits.try_acquire() else {
        return ApiError::Unavailable("too many requests in flight".into()).into_response();
    };
    match tokio::time::timeout(limit.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("request not answered within server.request_timeout_secs");
            let problem = Problem {
                kind: "https://leadgate.dev/problems/request-timeout".into(),
                title: "Request Timeout".into(),
                status: 408,
                detail: "the request took too long".into(),
                field: None,
            };
            (
                StatusCode::REQUEST_TIMEOUT,
                [
                    (header::CONTENT_TYPE, "application/problem+json"),
                    (header::CONNECTION, "close"),
                ],
                serde_json::to_vec(&problem).unwrap_or_default(),
            )
                .into_response()
        }
    }
}

/// Serves `app` on `listener` until `shutdown` fires, then lets open
/// connections finish what they are doing (at most `grace`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    server: &ServerSettings,
    shutdown: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(server.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(server.header_read_timeout_secs.max(1)));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let mut request = request.map(axum::body::Body::new);
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period; closing them");
    }
    Ok(())
}
