//! Governance's share of the worker: which scopes an exception's target covers, and the timer
//! that plans lapses at their instant.

use k8s_openapi::jiff::Timestamp;

use super::Worker;
use crate::{
    pass::expiry_of,
    policy::in_force,
    reconcile::{Scope, SourceKind},
    status::exception_instants,
};

impl Worker {
    /// The scopes an identity's entries fall in, by its kind and name.
    pub(super) fn scopes_of_target(&self, kind: SourceKind, name: &str, namespace: Option<&str>) -> Vec<Scope> {
        match kind {
            SourceKind::ClusterSPIFFEID | SourceKind::SPIFFEID => {
                let uid = self
                    .identities
                    .list()
                    .into_iter()
                    .find(|i| i.source.kind == kind && i.source.name == name && i.namespace.as_deref() == namespace)
                    .map(|i| i.source.uid);
                uid.map(|uid| self.pods_of_identity(&uid)).unwrap_or_default()
            }
            SourceKind::ClusterStaticEntry => {
                self.statics.list().filter(|s| s.source.name == name).map(|s| s.scope.clone()).collect()
            }
            SourceKind::ClusterFederatedTrustDomain => Vec::new(),
        }
    }

    /// The next instant at which something lapses by itself: an exception's `expiresAt` or the
    /// start of its warning window, or a static entry's `expiresAt`.
    pub(super) fn next_instant(&self) -> Option<Timestamp> {
        let after = self.lapses_planned;
        let window = self.config.exception_warning_window;
        let exceptions =
            self.rules.governance.exceptions.iter().flat_map(|t| exception_instants(&t.exception, window, after));
        let statics =
            self.statics.list().filter_map(|s| s.entry.as_ref().ok()).filter_map(expiry_of).filter(|at| *at > after);
        exceptions.chain(statics).min()
    }

    /// The scopes of whatever lapsed since the last lapse was planned.
    pub(super) fn lapses(&mut self) -> Vec<Scope> {
        let (after, now) = (self.lapses_planned, Timestamp::now());
        self.lapses_planned = now;
        let mut scopes = Vec::new();
        let targets: Vec<(SourceKind, String, Option<String>)> = self
            .rules
            .governance
            .lapsing(after, now)
            .map(|t| (t.kind, t.exception.target.name.clone(), t.exception.target.namespace.clone()))
            .collect();
        for (kind, name, namespace) in &targets {
            tracing::info!(kind = ?kind, name, namespace, "an exception lapsed; judging its identity again");
            scopes.extend(self.scopes_of_target(*kind, name, namespace.as_deref()));
        }
        for s in self.statics.list() {
            let Ok(entry) = &s.entry else { continue };
            if expiry_of(entry).is_some_and(|at| at > after && !in_force(at, now)) {
                tracing::info!(name = %s.source.name, "a ClusterStaticEntry's expiresAt has come; removing its entry");
                scopes.push(s.scope.clone());
            }
        }
        scopes
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
pub(super) async fn sleep_until(at: Option<Timestamp>) {
    match at {
        Some(at) => {
            let wait = at.duration_since(Timestamp::now());
            let wait = std::time::Duration::try_from(wait).unwrap_or_default();
            // Timers never fire early, and the pass reads the clock after waking: at the instant
            // or just after, which is when a lapse holds.
            tokio::time::sleep(wait + std::time::Duration::from_millis(1)).await;
        }
        None => std::future::pending().await,
    }
}
