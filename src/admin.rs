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

/// OpenMetrics to a scraper that accepts it (Prometheus asks for it first), else the Prometheus
/// text format.
async fn metrics(State(metrics): State<Arc<Metrics>>, headers: axum::http::HeaderMap) -> impl IntoResponse {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], metrics.render())
    } else {
        (
            [(header::CONTENT_TYPE, crate::metrics::PROMETHEUS_CONTENT_TYPE)],
            crate::metrics::to_prometheus_text(&metrics.render()),
        )
    }
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

    async fn scrape(accept: Option<&str>) -> (String, String) {
        let router = Router::new().route("/metrics", get(metrics)).with_state(Arc::new(Metrics::new()));
        let mut request = Request::get("/metrics");
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let response = router.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap().to_owned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (content_type, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn metrics_are_openmetrics_to_who_asks_and_prometheus_text_otherwise() {
        let prometheus_accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let (content_type, body) = scrape(Some(prometheus_accept)).await;
        assert_eq!(content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
        assert!(body.ends_with("# EOF\n"), "the OpenMetrics terminator");
        for accept in [None, Some("*/*"), Some("text/plain")] {
            let (content_type, body) = scrape(accept).await;
            assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8", "{accept:?}");
            assert!(!body.contains("# EOF"));
            assert!(body.contains("# TYPE spire_steward_entries_written_total counter"), "{body}");
        }
    }
}
