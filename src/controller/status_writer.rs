//! Publishing status: each resource's conditions and counters, computed from what the worker
//! knows and written by server-side apply only when they changed.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use k8s_openapi::{api::core::v1::ObjectReference, apimachinery::pkg::apis::meta::v1::Condition, jiff::Timestamp};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
    core::error_boundary::InvalidObject,
    runtime::events::{Event, EventType, Recorder, Reporter},
};
use serde_json::json;

use super::worker::Worker;
use crate::{
    api::{
        conditions::{reasons, types},
        v1alpha1::{
            ClusterFederatedTrustDomain, ClusterSPIFFEID, ClusterSPIFFEIDStats, ClusterStaticEntry, CommonStatus,
        },
    },
    reconcile::{Claim, EntryKey, Ownership},
    selection::{handles_class, is_ignored_namespace, selects},
    status::{
        Health, IdentityState, StaticState, Tally, announcement, conditions_for, federation_facts, health,
        identity_facts, merge_conditions, same_conditions, static_facts, tallies,
    },
};

/// The conditions a resource has now and the ones `health` calls for.
fn next_conditions(
    current: Option<&CommonStatus>,
    health: &Health,
    synced_type: &'static str,
    generation: Option<i64>,
) -> (Vec<Condition>, Vec<Condition>) {
    let previous = current.map(|c| c.conditions.clone()).unwrap_or_default();
    let next = merge_conditions(&previous, &conditions_for(health, synced_type), generation, Timestamp::now());
    (previous, next)
}

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "spire-steward";

/// Writes status, remembering what it wrote so an unchanged status is never written twice.
pub struct StatusWriter {
    client: Client,
    written: HashMap<String, serde_json::Value>,
    recorder: Recorder,
    /// Status writes the API server refused during the current publication.
    failed_writes: usize,
    /// UIDs of the objects found not to parse, reported once each.
    unreadable: HashSet<String>,
}

impl StatusWriter {
    pub fn new(client: Client) -> Self {
        let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            written: HashMap::new(),
            failed_writes: 0,
            unreadable: HashSet::new(),
        }
    }

    /// Publishes an Event when a resource's Ready reason changes, so `kubectl describe` tells the
    /// story. The Event's reason is the condition's reason.
    async fn announce<K>(&self, object: &K, previous: &[Condition], health: &Health)
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let before = previous.iter().find(|c| c.type_ == types::READY).map(|c| c.reason.as_str());
        let Some(announcement) = announcement(before, health) else { return };
        let type_ = if announcement.warning { EventType::Warning } else { EventType::Normal };
        // One log line per transition, so a resource that turns invalid is in the logs as well.
        let (kind, name) = (K::kind(&()), object.meta().name.as_deref().unwrap_or_default());
        let (reason, message) = (announcement.reason, &announcement.note);
        if announcement.warning {
            tracing::warn!(%kind, name, reason, %message, "status changed");
        } else {
            tracing::info!(%kind, name, reason, %message, "status changed");
        }
        let event = Event {
            type_,
            reason: announcement.reason.to_owned(),
            note: Some(announcement.note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(error = %e, "failed to publish an event");
        }
    }

    pub async fn publish(&mut self, worker: &Worker) {
        self.failed_writes = 0;
        // Forget what was written for resources that are gone.
        let (identities, statics, federations) =
            (worker.stores.identities(), worker.stores.static_entries(), worker.stores.federations());
        let live: HashSet<String> = identities
            .objects
            .iter()
            .map(|o| o.uid().unwrap_or_default())
            .chain(statics.objects.iter().map(|o| o.uid().unwrap_or_default()))
            .chain(federations.objects.iter().map(|o| o.uid().unwrap_or_default()))
            .collect();
        self.written.retain(|uid, _| live.contains(uid));
        let mut unreadable = HashSet::new();
        for (kind, objects) in [
            (ClusterSPIFFEID::kind(&()), &identities.unreadable),
            (ClusterStaticEntry::kind(&()), &statics.unreadable),
            (ClusterFederatedTrustDomain::kind(&()), &federations.unreadable),
        ] {
            worker.metrics.unreadable(&kind, objects.len());
            for invalid in objects {
                self.report_unreadable(&kind, invalid).await;
                unreadable.insert(invalid.metadata.uid.clone().unwrap_or_default());
            }
        }
        self.unreadable = unreadable;
        self.publish_identities(worker, &identities.objects).await;
        self.publish_static_entries(worker, &statics.objects).await;
        self.publish_federations(worker, &federations.objects).await;
        for _ in 0..self.failed_writes {
            worker.metrics.error("status_write");
        }
    }

    /// Reports an object that does not parse when it is first seen so: a log line and a
    /// Warning Event. Its status is not written, since even its class is unknown.
    async fn report_unreadable(&self, kind: &str, invalid: &InvalidObject) {
        let uid = invalid.metadata.uid.clone().unwrap_or_default();
        if self.unreadable.contains(&uid) {
            return;
        }
        let name = invalid.metadata.name.clone().unwrap_or_default();
        tracing::warn!(kind, name, error = %invalid.error, "the object does not parse; its entries are kept as they are");
        let reference = ObjectReference {
            api_version: Some("spire-steward.io/v1alpha1".into()),
            kind: Some(kind.to_owned()),
            name: Some(name),
            uid: Some(uid),
            resource_version: invalid.metadata.resource_version.clone(),
            ..Default::default()
        };
        let event = Event {
            type_: EventType::Warning,
            reason: reasons::UNREADABLE.into(),
            note: Some(format!("the object does not parse: {}", invalid.error).chars().take(1024).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, "failed to publish an event");
        }
    }

    async fn publish_federations(&mut self, worker: &Worker, objects: &[Arc<ClusterFederatedTrustDomain>]) {
        let api: Api<ClusterFederatedTrustDomain> = Api::all(self.client.clone());
        let config = &worker.config;
        let federation = &worker.federation;
        for object in objects {
            if !handles_class(object.spec.class_name.as_deref(), config.class_name.as_deref(), config.watch_classless)
                || object.metadata.deletion_timestamp.is_some()
            {
                continue;
            }
            let uid = object.uid().unwrap_or_default();
            // Status describes the generation the last pass saw, not one that arrived since.
            let generation = match federation.generations.get(&uid) {
                Some(g) => *g,
                None => object.status.as_ref().and_then(|s| s.common.observed_generation),
            };
            let health = health(federation_facts(
                config.reconcile.cluster_federated_trust_domains,
                federation.outcomes.get(&uid),
                federation.failures.get(&uid).map(String::as_str),
                federation.unavailable.as_ref().map(|e| e.to_string()).as_deref(),
            ));
            let generation =
                if config.reconcile.cluster_federated_trust_domains { generation } else { object.metadata.generation };
            let (previous, conditions) = next_conditions(
                object.status.as_ref().map(|s| &s.common),
                &health,
                types::RELATIONSHIP_SYNCED,
                generation,
            );
            let status = json!({ "observedGeneration": generation, "conditions": conditions });
            let unchanged = object.status.as_ref().is_some_and(|s| {
                s.common.observed_generation == generation && same_conditions(&s.common.conditions, &conditions)
            });
            if !unchanged {
                self.announce(object.as_ref(), &previous, &health).await;
            }
            self.write(&api, "ClusterFederatedTrustDomain", &object.name_any(), &uid, status, unchanged).await;
        }
    }

    async fn publish_identities(&mut self, worker: &Worker, objects: &[Arc<ClusterSPIFFEID>]) {
        let mut tallies = tallies(worker.records.values());
        let unavailable = worker.spire_unavailable.as_ref().map(|e| e.to_string());
        let api: Api<ClusterSPIFFEID> = Api::all(self.client.clone());
        let config = &worker.config;
        for object in objects {
            if !handles_class(object.spec.class_name.as_deref(), config.class_name.as_deref(), config.watch_classless) {
                continue;
            }
            let uid = object.uid().unwrap_or_default();
            let parsed = worker.identities().get(&uid).map(|i| i.identity.clone());
            let tally = tallies.remove(&uid).unwrap_or_default();
            let (selected, ignored) = match &parsed {
                Some(Ok(identity)) => worker.stores.namespaces.state().iter().fold((0, 0), |(s, i), ns| {
                    if selects(identity.namespace_selector.as_ref(), ns.metadata.labels.as_ref()) {
                        (s + 1, i + i32::from(is_ignored_namespace(&ns.name_any(), &config.ignore_namespaces)))
                    } else {
                        (s, i)
                    }
                }),
                _ => (0, 0),
            };
            let failures = worker.failures_of(&uid);
            // Status describes the generation the worker last planned, not one that arrived since.
            let processed = worker.identities().generation(&uid);
            let generation = match processed {
                Some(g) => g,
                None => object.status.as_ref().and_then(|s| s.common.observed_generation),
            };
            let enabled = config.reconcile.cluster_spiffe_ids;
            let generation = if enabled { generation } else { object.metadata.generation };
            let state = IdentityState {
                enabled,
                parsed: parsed.as_ref().map(|p| p.as_ref().map(|_| ())),
                suspended: object.spec.suspend.unwrap_or(false),
                tally,
                refusals: failures.clone(),
                unavailable: unavailable.as_deref(),
            };
            let health = health(identity_facts(&state));
            // A spec that does not parse selects nothing it could count: its pods are only held.
            let tally = if matches!(parsed, Some(Err(_))) { Tally::default() } else { state.tally };
            let stats = ClusterSPIFFEIDStats {
                namespaces_selected: selected,
                namespaces_ignored: ignored,
                pods_selected: tally.pods,
                pod_entry_render_failures: tally.render_failures,
                entries_masked: tally.masked,
                entries_to_set: tally.winners,
                entry_failures: failures.len() as i32,
            };
            let (previous, conditions) =
                next_conditions(object.status.as_ref().map(|s| &s.common), &health, types::ENTRIES_SYNCED, generation);
            let status = json!({ "observedGeneration": generation, "conditions": conditions, "stats": stats });
            let unchanged = object.status.as_ref().is_some_and(|s| {
                s.common.observed_generation == generation
                    && s.stats.as_ref() == Some(&stats)
                    && same_conditions(&s.common.conditions, &conditions)
            });
            if !unchanged {
                self.announce(object.as_ref(), &previous, &health).await;
            }
            self.write(&api, "ClusterSPIFFEID", &object.name_any(), &uid, status, unchanged).await;
        }
    }

    async fn publish_static_entries(&mut self, worker: &Worker, objects: &[Arc<ClusterStaticEntry>]) {
        let api: Api<ClusterStaticEntry> = Api::all(self.client.clone());
        let unavailable = worker.spire_unavailable.as_ref().map(|e| e.to_string());
        let config = &worker.config;
        let ownership = Ownership::new(config.entry_id_prefix.clone(), config.adopt_entry_id_prefixes.clone());
        let rendered: HashMap<&str, _> = worker.statics().list().map(|s| (s.source.uid.as_str(), s)).collect();
        for object in objects {
            if !handles_class(object.spec.class_name.as_deref(), config.class_name.as_deref(), config.watch_classless) {
                continue;
            }
            let uid = object.uid().unwrap_or_default();
            let Some(state) = rendered.get(uid.as_str()) else {
                continue;
            };
            let winner = worker.static_winners.get(&uid).copied();
            let stored = state.entry.as_ref().ok().and_then(|entry| {
                let key = EntryKey::of(entry);
                worker
                    .index()
                    .scope(&state.scope)
                    .into_iter()
                    .find(|e| EntryKey::of(e) == key && ownership.claim(e) != Claim::Foreign)
            });
            let in_sync = stored
                .as_ref()
                .zip(state.entry.as_ref().ok())
                .is_some_and(|(stored, wanted)| crate::reconcile::differing_fields(wanted, stored).is_empty());
            let failures = worker.failures_of(&uid);
            let enabled = config.reconcile.cluster_static_entries;
            let health = health(static_facts(&StaticState {
                enabled,
                rendered: state.entry.as_ref().map(|_| ()),
                masked: winner == Some(false),
                refusals: failures,
                unavailable: unavailable.as_deref(),
                in_sync,
            }));
            let generation =
                if enabled { worker.statics().generation(&uid).flatten() } else { object.metadata.generation };
            let (previous, conditions) =
                next_conditions(object.status.as_ref().map(|s| &s.common), &health, types::ENTRIES_SYNCED, generation);
            let entry_id = stored.as_ref().and_then(|e| e.id.as_ref()).map(|id| id.as_str().to_owned());
            let status = json!({
                "observedGeneration": generation,
                "conditions": conditions,
                "rendered": state.entry.is_ok(),
                "masked": winner == Some(false),
                "set": in_sync,
                "entryID": entry_id,
            });
            let unchanged = object.status.as_ref().is_some_and(|s| {
                s.common.observed_generation == generation
                    && same_conditions(&s.common.conditions, &conditions)
                    && s.rendered == Some(state.entry.is_ok())
                    && s.masked == Some(winner == Some(false))
                    && s.set == Some(in_sync)
                    && s.entry_id == entry_id
            });
            if !unchanged {
                self.announce(object.as_ref(), &previous, &health).await;
            }
            self.write(&api, "ClusterStaticEntry", &object.name_any(), &uid, status, unchanged).await;
        }
    }

    async fn write<K>(
        &mut self,
        api: &Api<K>,
        kind: &str,
        name: &str,
        uid: &str,
        status: serde_json::Value,
        unchanged: bool,
    ) where
        K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        // Compare without transition times, which change on every computation of a new condition.
        let mut comparable = status.clone();
        if let Some(conditions) = comparable.get_mut("conditions").and_then(|c| c.as_array_mut()) {
            for c in conditions {
                c.as_object_mut().map(|o| o.remove("lastTransitionTime"));
            }
        }
        if unchanged || self.written.get(uid) == Some(&comparable) {
            return;
        }
        let body = json!({
            "apiVersion": "spire-steward.io/v1alpha1",
            "kind": kind,
            "status": status,
        });
        match api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await {
            Ok(_) => {
                self.written.insert(uid.to_owned(), comparable);
            }
            Err(e) => {
                self.failed_writes += 1;
                tracing::warn!(kind, name, error = %e, "failed to write status");
            }
        }
    }
}
