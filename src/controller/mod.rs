//! The operator at run time: watches, the worker that plans and writes, and status publishing.

mod apply;
mod change;
mod federation;
mod sources;
mod status_writer;
mod stores;
mod worker;

use std::sync::Arc;

use tokio::task::JoinSet;

pub use change::{Change, ChangeQueue};
pub use status_writer::FIELD_MANAGER;

use crate::{
    admin::{self, Readiness},
    config::Config,
    metrics::{Metrics, SpireCalls},
    spire::{ClientConfig, SpireClient},
};

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connecting to Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("the watches stopped before their caches filled")]
    CachesNotReady,
}

/// Runs the operator until the process is stopped.
pub async fn run(config: Config, client: kube::Client) -> Result<(), Error> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new());
    let readiness = Readiness::default();
    let spire = SpireClient::new(
        ClientConfig::new(&config.spire_server_socket_path).with_call_timeout(config.spire_call_timeout),
    )
    .with_observer(Arc::new(SpireCalls(metrics.clone())));
    let queue = Arc::new(ChangeQueue::default());
    let mut tasks = JoinSet::new();
    let (metrics_address, health_address) = (config.metrics_address, config.health_address);
    let (admin_metrics, admin_readiness) = (metrics.clone(), readiness.clone());
    tasks.spawn(async move {
        if let Err(e) = admin::serve(metrics_address, health_address, admin_metrics, admin_readiness).await {
            tracing::error!(error = %e, "the admin endpoints stopped");
        }
    });

    let stores = stores::start(&client, queue.clone(), &mut tasks);
    tracing::info!("waiting for the caches to fill");
    stores.wait_until_ready().await.map_err(|_| Error::CachesNotReady)?;
    tracing::info!("caches filled");

    let mut worker = worker::Worker::new(config.clone(), stores, spire, queue.clone(), client.clone(), metrics);
    worker.load_index().await;
    readiness.set(true);

    let interval = config.gc_interval;
    let drift_queue = queue.clone();
    tasks.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            drift_queue.push(Change::Drift);
        }
    });

    worker.run(status_writer::StatusWriter::new(client)).await;
    Ok(())
}
