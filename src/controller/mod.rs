//! The operator at run time: watches, the worker that plans and writes, and status publishing.

pub(crate) mod apply;
pub(crate) mod audit_trail;
mod backlog;
mod change;
pub(crate) mod federation;
mod governance_status;
mod guard;
mod inputs;
mod open_reports;
mod refusals;
mod rules;
pub(crate) mod sources;
mod state;
mod status_writer;
mod stores;
mod worker;

use std::{future::Future, sync::Arc};

use tokio::task::JoinSet;

pub use change::{Change, ChangeQueue};
pub use guard::{Guarded, Unreadable};
pub use rules::Rules;
pub use sources::{Identities, StaticEntries, StaticEntry};
pub use state::{DRIFT_KEY, StateRef};
pub use status_writer::FIELD_MANAGER;
pub use stores::Readable;

use crate::{
    admin::{self, Readiness},
    config::Config,
    lease::LeaderElector,
    metrics::{Metrics, SpireCalls},
    spire::SpireClient,
};

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connecting to Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("the watches stopped before their caches filled")]
    CachesNotReady,
    #[error("leadership was lost; restarting as a standby")]
    LeadershipLost,
    #[error(transparent)]
    Audit(#[from] crate::audit::OpenError),
}

/// Runs the operator until `shutdown` completes. Every replica keeps its caches warm; only the
/// leader writes to SPIRE and status. A leader that loses its lease stops with
/// [`Error::LeadershipLost`], so that it comes back as a standby.
pub async fn run(config: Config, client: kube::Client, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let config = Arc::new(config);
    let audit = Arc::new(crate::audit::Sink::open(&config.audit)?);
    let metrics = Arc::new(Metrics::new());
    metrics.periodic_check_interval(config.gc_interval);
    let readiness = Readiness::default();
    let spire = SpireClient::new(config.spire_client()).with_observer(Arc::new(SpireCalls(metrics.clone())));
    let queue = Arc::new(ChangeQueue::default());
    let mut tasks = JoinSet::new();
    let (metrics_address, health_address) = (config.metrics_address, config.health_address);
    let (admin_metrics, admin_readiness) = (metrics.clone(), readiness.clone());
    tasks.spawn(async move {
        if let Err(e) = admin::serve(metrics_address, health_address, admin_metrics, admin_readiness).await {
            tracing::error!(error = %e, "the admin endpoints stopped");
        }
    });
    let leadership = LeaderElector::new(&config.leader_election).spawn(client.clone());

    let work = async {
        let stores = stores::start(&client, queue.clone(), &mut tasks, &config);
        tracing::info!("waiting for the caches to fill");
        stores.wait_until_ready().await.map_err(|_| Error::CachesNotReady)?;
        tracing::info!("caches filled");
        wait_for_spire(&spire).await;
        readiness.set(true);

        leadership.acquired().await.map_err(|_| Error::LeadershipLost)?;
        metrics.leader(true);
        let status_metrics = metrics.clone();
        let worker = worker::Worker::new(config.clone(), stores, spire, queue.clone(), client.clone(), metrics)
            .with_audit(audit.clone());

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
        tokio::select! {
            _ = worker.run(status_writer::StatusWriter::new(client.clone(), status_metrics)) => Ok(()),
            _ = leadership.lost() => Err(Error::LeadershipLost),
        }
    };
    let result = tokio::select! {
        result = work => result,
        _ = shutdown => Ok(()),
    };
    tasks.abort_all();
    leadership.release().await;
    result
}

/// Waits until SPIRE answers, reporting while it does not: start-up never fails for lack of it.
async fn wait_for_spire(spire: &SpireClient) {
    let mut delays = crate::retry::backoff();
    while let Err(e) = spire.get_bundle().await {
        let delay = delays.next().unwrap_or(crate::retry::LONGEST);
        tracing::warn!(error = %e, retry_in = ?delay, "waiting for the SPIRE server");
        tokio::time::sleep(delay).await;
    }
}
