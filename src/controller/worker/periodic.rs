//! The periodic check and the drift it finds: SPIRE compared with the index, the drift ledger
//! kept, and what the pass found announced once.

use std::{collections::BTreeSet, sync::Arc};

use super::Worker;
use crate::{
    drift::{DriftClass, Finding},
    reconcile::Scope,
    spire::{EntryListing, LIST_PAGE_SIZE},
};

impl Worker {
    /// Compares the index with SPIRE and plans again wherever they differ.
    pub async fn check_drift(&mut self) {
        match self.spire.list_entries_lenient(&Default::default(), LIST_PAGE_SIZE).await {
            Ok(listing) => {
                self.metrics.periodic_check(k8s_openapi::jiff::Timestamp::now().as_millisecond() as f64 / 1000.0);
                self.publish_reports(&listing).await;
                let listing = self.set_aside(listing);
                let drift = self.index.drift(&listing, &self.ownership);
                if drift.touches_owned() {
                    // The entries by ID (the first 20 of each class), so the line says which.
                    let ids = |entries: &mut dyn Iterator<Item = &crate::spiffe::Entry>| {
                        let ids: Vec<&str> =
                            entries.filter_map(|e| e.id.as_ref().map(|i| i.as_str())).take(20).collect();
                        ids.join(",")
                    };
                    tracing::warn!(
                        missing = drift.missing.len(),
                        modified = drift.modified.len(),
                        unexpected = drift.unexpected.len(),
                        missing_entries = %ids(&mut drift.missing.iter()),
                        modified_entries = %ids(&mut drift.modified.iter().map(|(written, _)| written)),
                        unexpected_entries = %ids(&mut drift.unexpected.iter()),
                        "entries changed in SPIRE behind the operator's back; planning their scopes again"
                    );
                }
                // What the index held is what the operator wrote: the declaration at detection.
                for (written, _) in &drift.modified {
                    self.ledger.modified(written.clone());
                }
                for gone in &drift.missing {
                    self.ledger.missing(gone.clone());
                }
                for unknown in &drift.unexpected {
                    self.ledger.unexpected(unknown.clone());
                }
                if !drift.is_empty() {
                    for scope in drift.scopes() {
                        self.queue_scope(scope);
                    }
                    self.index.reload(listing, &self.ownership);
                }
                self.spire_unavailable = None;
                for scope in self.retry.answered() {
                    self.queue_scope(scope);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "periodic check could not list SPIRE entries");
                self.spire_unavailable = Some(Arc::new(e));
            }
        }
    }

    /// Leaves out the entries of a listing the operator cannot read: they are reported, never
    /// planned, so never deleted. Each is logged when it first appears.
    pub(super) fn set_aside(&mut self, listing: EntryListing) -> Vec<crate::spiffe::Entry> {
        self.metrics.unparsed(EntryListing::KIND, listing.unparsed.len());
        let now: BTreeSet<String> = listing.unparsed.iter().map(|u| u.id.clone()).collect();
        for item in listing.unparsed.iter().filter(|u| !self.unparsed.contains(&u.id)) {
            tracing::warn!(entry_id = %item.id, spiffe_id = %item.spiffe_id, error = %item.reason,
                "left out an entry the operator cannot read; it is never changed or deleted");
        }
        self.unparsed = now;
        listing.entries
    }

    /// Plans each entry the ledger found edited in the scope the operator wrote it to, also
    /// when its selectors now put it in another ([`EntryIndex::keep_home`]).
    pub(in crate::controller) fn keep_written_homes(&mut self) {
        self.ledger.keep_homes(&mut self.index);
    }

    /// Takes in the drift the pass found in a scope: the ledger keeps what is still open, and
    /// each new detection (or a repair of one reported before) is announced once.
    pub(super) fn take_drift(&mut self, scope: &Scope, findings: Vec<Finding>) {
        self.ledger.settle(scope, &findings);
        let before = self.drift.remove(scope).unwrap_or_default();
        let mut news = Vec::new();
        for finding in &findings {
            let prior = before.iter().find(|b| b.identity() == finding.identity());
            let seen = prior.is_some();
            if !seen {
                self.metrics.drift_detected(finding.class.label(), 1);
            }
            // A repair the breaker held is announced when it was found, not at each re-judgment.
            if !seen || (finding.repaired && !prior.is_some_and(|p| p.held)) {
                let owner = finding.source.as_ref().map(|s| s.name.as_str()).unwrap_or_default();
                let policy = finding.policy.as_deref().unwrap_or_default();
                let what = finding.describe();
                if finding.repaired {
                    tracing::info!(?scope, owner, %what, "repairing drift");
                } else {
                    tracing::warn!(?scope, owner, policy, %what, "drift detected; not repaired");
                }
                news.push(finding.clone());
            }
        }
        self.trail.drift(&news);
        self.drift_news.lock().expect("the drift news lock is never poisoned").extend(news);
        let open: Vec<Finding> = findings.into_iter().filter(|f| !f.repaired).collect();
        if !open.is_empty() {
            self.drift.insert(scope.clone(), open);
        }
    }

    /// Sets the gauge of standing drift by class.
    pub(super) fn count_drift(&self) {
        for class in DriftClass::ALL {
            let count = self.drift.values().flatten().filter(|f| f.class == class).count();
            self.metrics.drifted_entries(class.label(), count);
        }
    }

    /// The drift standing now, unrepaired.
    pub fn drift(&self) -> impl Iterator<Item = &Finding> {
        self.drift.values().flatten()
    }
}
