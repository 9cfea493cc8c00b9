//! One log line per request: method, matched route, status and latency, under a target of its
//! own that the default filter leaves off.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// The target of request lines: `FEALTY_LOG=info,fealty::access=debug` turns them on.
pub const TARGET: &str = "fealty::access";

/// Logs the request once its response head is ready (a streamed body may still be flowing).
///
/// The route is the pattern (`/c/{token}`), never the path: paths carry card tokens and member
/// ids, and neither the query nor any header is logged.
pub async fn log_request(req: Request, next: Next) -> Response {
    if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tracing::debug!(
        target: TARGET,
        method = %method,
        route,
        status = response.status().as_u16(),
        latency_us = micros,
        "request"
    );
    response
}
