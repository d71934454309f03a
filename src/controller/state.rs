//! The instance's state: one ConfigMap, `<leaderElection.resourceName>-state` in the Lease's
//! namespace, that every replica watches and only the leader writes.
//!
//! - `data["drift.json"]`: the drift ledger ([`Ledger::record`]), written whenever it changes, so
//!   that after a restart or a failover drift reported under `driftPolicy: Report` is neither
//!   repaired nor forgotten. At steady state it is not written at all.
//! - The annotation `spire-steward.io/confirm-deletions`, set by a person, confirms the held
//!   deletions of entries whose declaring resource is not known (deleted while the operator was
//!   stopped, say), which no identity resource can confirm.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api,
    api::{Patch, PatchParams},
    runtime::reflector::ObjectRef,
};
use serde_json::json;

use super::{
    FIELD_MANAGER,
    worker::{Worker, withheld},
};
use crate::{breaker::CONFIRM_ANNOTATION, config::Config, drift::Ledger};

/// The key of the drift ledger in the state ConfigMap.
pub const DRIFT_KEY: &str = "drift.json";

/// Where a drift record that did not parse at start is kept.
pub const REJECTED_KEY: &str = "drift.rejected.json";

/// A ConfigMap holds at most 1 MiB; a ledger beyond this is not written (and logged).
const MAX_RECORD_BYTES: usize = 900 * 1024;

/// Where the instance keeps its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateRef {
    pub namespace: String,
    pub name: String,
}

impl StateRef {
    /// `<leaderElection.resourceName>-state`, beside the Lease: replicas of one instance share
    /// it, and instances with their own Lease keep their own.
    pub fn of(config: &Config) -> Self {
        StateRef {
            namespace: crate::lease::namespace_of(&config.leader_election),
            name: format!("{}-state", config.leader_election.lease_name),
        }
    }
}

impl Worker {
    fn state_object(&self) -> Option<std::sync::Arc<ConfigMap>> {
        self.stores.state.get(&ObjectRef::new(&self.state.name).within(&self.state.namespace))
    }

    /// Takes up the drift ledger the state holds, at start, read from the API server (a new
    /// leader's cache may not have its predecessor's last write yet; the cache is the fallback).
    /// A record that does not parse is logged, naming the ConfigMap, the key and what is wrong;
    /// the operator starts without it and keeps it under `drift.rejected.json` for a person.
    pub(super) async fn restore_ledger(&mut self) {
        let api: Api<ConfigMap> = Api::namespaced(self.kube().clone(), &self.state.namespace);
        let object = match api.get_opt(&self.state.name).await {
            Ok(object) => object.map(std::sync::Arc::new),
            Err(e) => {
                tracing::warn!(name = %self.state.name, error = %e, "could not read the state; using the cache");
                self.state_object()
            }
        };
        // A record rejected before stays kept, for a person, until they remove it.
        self.rejected = object.as_ref().and_then(|o| o.data.as_ref()?.get(REJECTED_KEY).cloned());
        let Some(text) = object.and_then(|o| o.data.as_ref()?.get(DRIFT_KEY).cloned()) else {
            tracing::info!(namespace = %self.state.namespace, name = %self.state.name, "no drift record kept yet");
            return;
        };
        match Ledger::restore(&text) {
            Ok(ledger) => {
                if !ledger.is_empty() {
                    tracing::info!(entries = ledger.len(), name = %self.state.name,
                        "restored the drift found before the start");
                }
                self.ledger = ledger;
                self.persisted = Some(text);
                self.keep_written_homes();
            }
            Err(e) => {
                tracing::warn!(namespace = %self.state.namespace, name = %self.state.name, key = DRIFT_KEY,
                    error = %e, "the drift record does not parse; starting without it (kept as {REJECTED_KEY})");
                self.rejected = Some(text);
            }
        }
    }

    /// Writes the drift ledger to the state when it changed since it was last written or read,
    /// or when the ConfigMap is gone. A failed write is logged and tried again after the next turn.
    pub(super) async fn persist_ledger(&mut self) {
        let full = self.ledger.record();
        // Too large for a ConfigMap: an empty record replaces the stale one, so that a restart
        // does not bring back drift settled since; what stands is then forgotten at a restart.
        let too_large = full.len() > MAX_RECORD_BYTES;
        let text = if too_large { Ledger::default().record() } else { full };
        if self.persisted.as_ref() == Some(&text) && self.state_object().is_some() {
            return;
        }
        if too_large {
            tracing::error!(entries = self.ledger.len(), name = %self.state.name,
                "the drift record is too large for a ConfigMap; it is not kept across a restart");
        }
        let mut object = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.state.name,
                "namespace": self.state.namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "spire-steward",
                    "app.kubernetes.io/component": "state",
                },
            },
            "data": { DRIFT_KEY: text },
        });
        if let Some(rejected) = &self.rejected {
            object["data"][REJECTED_KEY] = json!(rejected);
        }
        let api: Api<ConfigMap> = Api::namespaced(self.kube().clone(), &self.state.namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        match api.patch(&self.state.name, &params, &Patch::Apply(&object)).await {
            Ok(_) => {
                tracing::debug!(entries = self.ledger.len(), "drift record kept");
                self.persisted = Some(text);
            }
            Err(e) => tracing::warn!(namespace = %self.state.namespace, name = %self.state.name, error = %e,
                "could not keep the drift record; trying again after the next turn"),
        }
    }

    /// The state ConfigMap as the breaker knows it, with the confirmation its annotation carries.
    pub(super) fn instance_known(&self) -> Option<(String, withheld::Known)> {
        self.state_object().map(|o| withheld::known_of(withheld::About::State, o.as_ref()))
    }

    /// Removes the confirmation from the state once it released deletions: it confirmed one
    /// held pass, not the ones to come. A failure is logged and the removal tried again after
    /// the next turn; meanwhile the spent confirmation is ignored while the annotation carries it.
    pub(super) async fn spend_instance_confirmation(&mut self) {
        let api: Api<ConfigMap> = Api::namespaced(self.kube().clone(), &self.state.namespace);
        let patch = json!({ "metadata": { "annotations": { CONFIRM_ANNOTATION: null } } });
        match api.patch(&self.state.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {
                tracing::info!(name = %self.state.name,
                    "the confirmation on the state released its deletions and was removed ({CONFIRM_ANNOTATION})");
                self.withheld.spent();
            }
            Err(e) => tracing::warn!(name = %self.state.name, error = %e,
                "could not remove the spent confirmation from the state; trying again after the next turn"),
        }
    }
}
