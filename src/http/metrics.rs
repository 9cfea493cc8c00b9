//! `/metrics` for Prometheus, behind a bearer token, and the layer that counts requests.

use super::AppState;
use super::error::ApiError;
use super::extract::bearer;
use crate::metrics::{CONTENT_TYPE, Metrics, MetricsToken, Readings, RequestLabels};
use crate::service::ServiceError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What `/metrics` needs when it is on.
#[derive(Clone)]
pub struct MetricsAccess {
    /// The token a scraper must present.
    pub token: MetricsToken,
    /// The counts.
    pub metrics: Metrics,
}

/// The metrics text, for a scraper with the token; refused before anything is read.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(access) = &state.metrics else {
        return ApiError::not_found("route").into_response();
    };
    if !bearer(&headers).is_some_and(|t| access.token.matches(t)) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid metrics token is required: Authorization: Bearer <token>",
        )
        .into_response();
    }
    let readings = Readings::gather(
        state.loyalty.store(),
        &state.backup_status,
        &state.tls_status,
    )
    .await;
    match readings.map(|r| access.metrics.render(&r)) {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Ok(Err(e)) => {
            ApiError::from(ServiceError::Internal(format!("metrics text: {e}"))).into_response()
        }
        Err(e) => ApiError::from(ServiceError::from(e)).into_response(),
    }
}

/// Counts every answered request by its route's pattern (never its path) and status.
pub async fn count(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let res = next.run(req).await;
    metrics.request(&RequestLabels::new(
        method.as_str(),
        route.as_ref().map(MatchedPath::as_str),
        res.status().as_u16(),
    ));
    res
}
