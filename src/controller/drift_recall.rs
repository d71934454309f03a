//! What the operator remembers of drift across a restart: the resources whose `Drifted`
//! condition stands at the generation they still have. Their entries' differences are taken for
//! the drift reported before, so `driftPolicy: Report` does not repair them on start.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::ResourceExt;

use super::worker::Worker;
use crate::api::conditions::types;

/// Whether `conditions` report drift at `meta`'s generation.
fn reports_drift(meta: &ObjectMeta, conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == types::DRIFTED && c.status == "True" && c.observed_generation == meta.generation)
}

impl Worker {
    /// The resources (by UID) whose status reports drift at their current generation.
    pub(super) fn recall_drift(&self) -> Vec<String> {
        let mut uids = Vec::new();
        for o in self.stores.identities().objects {
            if o.status.as_ref().is_some_and(|s| reports_drift(&o.metadata, &s.common.conditions)) {
                uids.extend(o.uid());
            }
        }
        for o in self.stores.tenant_identities().objects {
            if o.status.as_ref().is_some_and(|s| reports_drift(&o.metadata, &s.common.conditions)) {
                uids.extend(o.uid());
            }
        }
        for o in self.stores.static_entries().objects {
            if o.status.as_ref().is_some_and(|s| reports_drift(&o.metadata, &s.common.conditions)) {
                uids.extend(o.uid());
            }
        }
        if !uids.is_empty() {
            tracing::info!(resources = uids.len(), "recalled drift reported before the start from status");
        }
        uids
    }
}
