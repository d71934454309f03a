//! The admin HTTP endpoints: `/metrics`, `/healthz` (the process runs) and `/readyz` (the caches
//! are filled and SPIRE answered).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};

use crate::metrics::Metrics;

/// Whether the operator is ready to serve, shared with the probes.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The media type of [`Metrics::render`]'s output, the OpenMetrics text format.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], metrics.render())
}

async fn ready(State(readiness): State<Readiness>) -> impl IntoResponse {
    if readiness.get() { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") }
}

/// Serves the metrics endpoint on `metrics_address` and the probes on `health_address` (the
/// same listener when both are equal). Either may be off.
pub async fn serve(
    metrics_address: Option<SocketAddr>,
    health_address: Option<SocketAddr>,
    metrics_state: Arc<Metrics>,
    readiness: Readiness,
) -> std::io::Result<()> {
    let metrics_router = Router::new().route("/metrics", get(metrics)).with_state(metrics_state);
    let health_router =
        Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(ready)).with_state(readiness);
    let mut servers = tokio::task::JoinSet::new();
    match (metrics_address, health_address) {
        (Some(m), Some(h)) if m == h => {
            servers.spawn(run(m, metrics_router.merge(health_router)));
        }
        (m, h) => {
            if let Some(m) = m {
                servers.spawn(run(m, metrics_router));
            }
            if let Some(h) = h {
                servers.spawn(run(h, health_router));
            }
        }
    }
    while let Some(result) = servers.join_next().await {
        result.expect("admin server task")?;
    }
    Ok(())
}

async fn run(address: SocketAddr, router: Router) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "serving admin endpoints");
    axum::serve(listener, router).await
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn metrics_are_served_as_openmetrics_text() {
        let router = Router::new().route("/metrics", get(metrics)).with_state(Arc::new(Metrics::new()));
        let response = router.oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap();
        assert_eq!(content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert!(String::from_utf8_lossy(&body).ends_with("# EOF\n"), "the OpenMetrics terminator");
    }
}
