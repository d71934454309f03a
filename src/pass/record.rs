//! What the last pass found for one pod, kept for status counters and to know which pods an
//! identity covered.

use std::collections::BTreeMap;

use crate::{pod_view::PodView, policy::Verdict, reconcile::PodOutcome};

/// One pod as the last pass planned it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRecord {
    pub namespace: String,
    pub name: String,
    /// The pod's resource version when it was planned, to find pods whose changes were missed.
    pub resource_version: String,
    /// Per selecting ClusterSPIFFEID (by UID), what it did for the pod.
    pub outcomes: BTreeMap<String, PodOutcome>,
    /// Source UIDs of the declarations that won, one per entry.
    pub winners: Vec<String>,
    /// Source UIDs of masked declarations.
    pub masked: Vec<String>,
    /// Per ClusterSPIFFEID (by UID) that policies govern for the pod: their verdict.
    pub verdicts: BTreeMap<String, Verdict>,
}

impl PodRecord {
    /// The record of a pod with what its identities did; winners and masked are filled in by
    /// the report stage.
    pub fn of(pod: &PodView, outcomes: BTreeMap<String, PodOutcome>) -> Self {
        Self {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            resource_version: pod.metadata.resource_version.clone().unwrap_or_default(),
            outcomes,
            ..Default::default()
        }
    }
}
