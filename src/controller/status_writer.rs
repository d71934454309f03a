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
    runtime::events::{EventType, Recorder, Reporter},
};
use serde_json::json;

use super::{
    governance_status::reference_to,
    guard::Unreadable,
    worker::{Note, Worker},
};
use crate::{
    api::{
        conditions::{reasons, types},
        v1alpha1::{
            ClusterFederatedTrustDomain, ClusterSPIFFEID, ClusterSPIFFEIDStatus, ClusterStaticEntry, CommonStatus,
            IdentityException, IdentityPolicy, SPIFFEID,
        },
    },
    reconcile::Ownership,
    selection::handles_class,
    status::{
        FederationInputs, Health, IdentityFields, IdentityInputs, StaticInputs, announcement, conditions_for,
        drift_announcement, drifted, federation_status, identity_status, merge_conditions, same_conditions,
        static_status, tallies,
    },
};

/// The conditions a resource has now and the ones `health` calls for.
pub(super) fn next_conditions(
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
    metrics: Arc<crate::metrics::Metrics>,
    /// Per UID, the resource whose Ready status `resource_ready_status` shows.
    ready: HashMap<String, (String, String, String)>,
    /// Entries declared per owner team, counted during a publication.
    teams: std::collections::BTreeMap<String, usize>,
    /// The resources whose status the current publication wrote or kept, by UID.
    published: HashSet<String>,
}

impl StatusWriter {
    pub(super) fn client(&self) -> Client {
        self.client.clone()
    }

    pub(super) fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    pub fn new(client: Client, metrics: Arc<crate::metrics::Metrics>) -> Self {
        let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            written: HashMap::new(),
            failed_writes: 0,
            unreadable: HashSet::new(),
            metrics,
            ready: HashMap::new(),
            teams: Default::default(),
            published: HashSet::new(),
        }
    }

    /// Shows a resource's recorded Ready status in the metrics, its status left as it is.
    fn keep_ready_metric<K: ResourceExt>(
        &mut self,
        object: &K,
        kind: &str,
        uid: &str,
        current: Option<&ClusterSPIFFEIDStatus>,
    ) {
        let ready = current
            .and_then(|s| s.common.conditions.iter().find(|c| c.type_ == types::READY))
            .map_or("Unknown", |c| c.status.as_str());
        let namespace = object.namespace().unwrap_or_default();
        self.metrics.resource_ready(kind, &namespace, &object.name_any(), ready);
        self.ready.insert(uid.to_owned(), (kind.to_owned(), namespace, object.name_any()));
        self.published.insert(uid.to_owned());
    }

    /// Counts `entries` declared by a resource of `team` (None: no owner), for `entries_by_team`.
    fn count_team(&mut self, team: Option<&str>, entries: usize) {
        *self.teams.entry(team.unwrap_or("none").to_owned()).or_default() += entries;
    }

    /// Publishes an Event when a resource's Ready reason changes, so `kubectl describe` tells the
    /// story. The Event's reason is the condition's reason.
    pub(super) async fn announce<K>(&self, object: &K, previous: &[Condition], health: &Health)
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
        self.event(&object.object_ref(&()), type_, announcement.reason, announcement.note).await;
    }

    /// Publishes an Event of the deletion circuit breaker. The resource may be gone: the Event
    /// then regards it by kind, name and UID.
    pub async fn note(&self, note: &Note) {
        let (api_version, kind) = note.kind.kind();
        let mut reference = reference_to(&kind, &note.name, note.namespace.clone(), Some(note.uid.clone()));
        reference.api_version = Some(api_version.to_owned());
        let type_ = if note.warning { EventType::Warning } else { EventType::Normal };
        self.event(&reference, type_, note.reason, note.message.clone()).await;
    }

    pub async fn publish(&mut self, worker: &Worker) {
        self.failed_writes = 0;
        // Forget what was written for resources that are gone.
        let (identities, statics, federations) =
            (worker.stores.identities(), worker.stores.static_entries(), worker.stores.federations());
        let (policies, exceptions) = (worker.stores.policies(), worker.stores.exceptions());
        let tenants = worker.stores.tenant_identities();
        let live: HashSet<String> = identities
            .objects
            .iter()
            .map(|o| o.uid().unwrap_or_default())
            .chain(statics.objects.iter().map(|o| o.uid().unwrap_or_default()))
            .chain(tenants.objects.iter().map(|o| o.uid().unwrap_or_default()))
            .chain(federations.objects.iter().map(|o| o.uid().unwrap_or_default()))
            .chain(worker.rules.policies.keys().cloned())
            .chain(worker.rules.exceptions.keys().cloned())
            .collect();
        self.written.retain(|uid, _| live.contains(uid));
        self.published.clear();
        self.teams.clear();
        let mut unreadable = HashSet::new();
        for (kind, objects) in [
            (ClusterSPIFFEID::kind(&()), identities.unreadable_handled(&worker.config).collect::<Vec<_>>()),
            (ClusterStaticEntry::kind(&()), statics.unreadable_handled(&worker.config).collect()),
            (SPIFFEID::kind(&()), tenants.unreadable_handled(&worker.config).collect()),
            (ClusterFederatedTrustDomain::kind(&()), federations.unreadable_handled(&worker.config).collect()),
            (IdentityPolicy::kind(&()), policies.unreadable_handled(&worker.config).collect()),
            (IdentityException::kind(&()), exceptions.unreadable_handled(&worker.config).collect()),
        ] {
            worker.metrics.unreadable(&kind, objects.len());
            for invalid in objects {
                self.report_unreadable(&kind, invalid).await;
                unreadable.insert(invalid.metadata.uid.clone().unwrap_or_default());
            }
        }
        self.unreadable = unreadable;
        self.publish_identities(worker, &identities.objects, &tenants.objects).await;
        self.publish_static_entries(worker, &statics.objects).await;
        // Before the first pass nothing is known of the relationships: their status stands.
        if worker.index_loaded {
            self.publish_federations(worker, &federations.objects).await;
        }
        self.publish_governance(worker).await;
        self.announce_drift(worker).await;
        for _ in 0..self.failed_writes {
            worker.metrics.error("status_write");
        }
        self.metrics.entries_by_team(&self.teams);
        // A resource gone, or no longer this instance's (another className), takes its series.
        let (metrics, published) = (self.metrics.clone(), &self.published);
        self.ready.retain(|uid, (kind, namespace, name)| {
            let keep = published.contains(uid);
            if !keep {
                metrics.forget_resource(kind, namespace, name);
            }
            keep
        });
    }

    /// Publishes one Event per drift detection: on the resource that declares the entry, and,
    /// for an entry in a SPIFFE ID space a policy governs, on that IdentityPolicy.
    async fn announce_drift(&self, worker: &Worker) {
        let news = std::mem::take(&mut *worker.drift_news.lock().expect("the drift news lock is never poisoned"));
        if news.is_empty() {
            return;
        }
        let policies = worker.stores.policies();
        for finding in news {
            let announcement = drift_announcement(&finding);
            let mut regarding = Vec::new();
            if let Some(source) = &finding.source {
                let kind = match source.kind {
                    crate::reconcile::SourceKind::ClusterStaticEntry => ClusterStaticEntry::kind(&()),
                    crate::reconcile::SourceKind::SPIFFEID => SPIFFEID::kind(&()),
                    _ => ClusterSPIFFEID::kind(&()),
                };
                let namespace = worker.identities().get(&source.uid).and_then(|i| i.namespace.clone());
                regarding.push((kind.to_string(), source.name.clone(), Some(source.uid.clone()), namespace));
            }
            if let Some(name) = &finding.policy {
                let uid = policies.objects.iter().find(|p| p.name_any() == *name).and_then(|p| p.uid());
                regarding.push((IdentityPolicy::kind(&()).to_string(), name.clone(), uid, None));
            }
            for (kind, name, uid, namespace) in regarding {
                let reference = reference_to(&kind, &name, namespace, uid);
                let type_ = if announcement.warning { EventType::Warning } else { EventType::Normal };
                self.event(&reference, type_, announcement.reason, announcement.note.clone()).await;
            }
        }
    }

    /// Reports an object that does not parse when it is first seen so: a log line and a
    /// Warning Event. Its status is not written, since even its class is unknown.
    async fn report_unreadable(&self, kind: &str, invalid: &Unreadable) {
        let uid = invalid.metadata.uid.clone().unwrap_or_default();
        if self.unreadable.contains(&uid) {
            return;
        }
        let name = invalid.metadata.name.clone().unwrap_or_default();
        tracing::warn!(kind, name, error = %invalid.error, "the object does not parse; its entries are kept as they are");
        let reference = ObjectReference {
            resource_version: invalid.metadata.resource_version.clone(),
            ..reference_to(kind, &name, None, Some(uid.clone()))
        };
        let note = format!("the object does not parse: {}", invalid.error);
        self.event(&reference, EventType::Warning, reasons::UNREADABLE, note).await;
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
            let unavailable = federation.unavailable.as_ref().map(|e| e.to_string());
            let desired = federation_status(FederationInputs {
                enabled: config.reconcile.cluster_federated_trust_domains,
                processed: federation.generations.get(&uid).map(|g| (*g, federation.outcomes.get(&uid))),
                object_generation: object.metadata.generation,
                recorded_generation: object.status.as_ref().and_then(|s| s.common.observed_generation),
                refusal: federation.failures.get(&uid).map(String::as_str),
                unavailable: unavailable.as_deref(),
                observe: config.mode == crate::config::Mode::Observe,
            });
            let (health, generation) = (desired.health, desired.generation);
            let (previous, conditions) =
                next_conditions(object.status.as_ref().map(|s| &s.common), &health, desired.synced_type, generation);
            let status = json!({ "observedGeneration": generation, "conditions": conditions });
            let unchanged = object.status.as_ref().is_some_and(|s| {
                s.common.observed_generation == generation && same_conditions(&s.common.conditions, &conditions)
            });
            if !unchanged && !self.is_written(&uid, &status) {
                self.announce(object.as_ref(), &previous, &health).await;
            }
            self.write(&api, "ClusterFederatedTrustDomain", None, &object.name_any(), &uid, status, unchanged).await;
        }
    }

    async fn publish_identities(
        &mut self,
        worker: &Worker,
        objects: &[Arc<ClusterSPIFFEID>],
        tenants: &[Arc<SPIFFEID>],
    ) {
        // In pod order, so that the first denial and the TTL shown do not depend on hash order.
        let mut records: Vec<_> = worker.records.iter().collect();
        records.sort_by(|a, b| a.0.cmp(b.0));
        let mut tallies = tallies(records.into_iter().map(|(_, r)| r));
        let namespaces: Vec<(String, Option<std::collections::BTreeMap<String, String>>)> =
            worker.stores.namespaces.state().iter().map(|ns| (ns.name_any(), ns.metadata.labels.clone())).collect();
        let api: Api<ClusterSPIFFEID> = Api::all(self.client.clone());
        let mut withheld = worker.withheld_facts();
        let mut withheld_of = |uid: &str| withheld.remove(uid).unwrap_or_else(|| worker.not_withheld());
        for object in objects {
            let uid = object.uid().unwrap_or_default();
            let tally = tallies.remove(uid.as_str()).unwrap_or_default();
            self.publish_identity(worker, &api, object.as_ref(), (tally, withheld_of(&uid)), &namespaces).await;
        }
        for object in tenants {
            let namespace = object.namespace().unwrap_or_default();
            let api: Api<SPIFFEID> = Api::namespaced(self.client.clone(), &namespace);
            let own: Vec<_> = namespaces.iter().filter(|(name, _)| *name == namespace).cloned().collect();
            let uid = object.uid().unwrap_or_default();
            let tally = tallies.remove(uid.as_str()).unwrap_or_default();
            self.publish_identity(worker, &api, object.as_ref(), (tally, withheld_of(&uid)), &own).await;
        }
    }

    /// Publishes the status of one ClusterSPIFFEID or SPIFFEID; `namespaces` are those it may
    /// select.
    async fn publish_identity<K: PodIdentityResource>(
        &mut self,
        worker: &Worker,
        api: &Api<K>,
        object: &K,
        (tally, withheld): (crate::status::Tally, crate::status::Withheld),
        namespaces: &[(String, Option<std::collections::BTreeMap<String, String>>)],
    ) {
        let config = &worker.config;
        if !handles_class(object.class_name(), config.class_name.as_deref(), config.watch_classless) {
            return;
        }
        let unavailable = worker.spire_unavailable.as_ref().map(|e| e.to_string());
        let uid = object.uid().unwrap_or_default();
        let processed = worker.identities().get(&uid).map(|i| &i.identity);
        let current = object.identity_status();
        // Before its first pass the operator knows only that SPIRE keeps it waiting: a status
        // recorded for this generation keeps its counters and Drifted, and stands whole when it
        // says Stalled or Suspended, which do not depend on SPIRE.
        let recorded =
            current.filter(|s| !worker.index_loaded && s.common.observed_generation == object.meta().generation);
        if recorded.is_some_and(|s| stalled_or_suspended(&s.common)) {
            self.keep_ready_metric(object, &K::kind(&()), &uid, current);
            return;
        }
        let desired = identity_status(IdentityInputs {
            enabled: config.reconcile.cluster_spiffe_ids,
            processed: worker.identities().generation(&uid).zip(processed),
            object_generation: object.meta().generation,
            recorded_generation: current.and_then(|s| s.common.observed_generation),
            suspended: object.suspended(),
            tally,
            namespaces,
            ignore_namespaces: &config.ignore_namespaces,
            refusals: worker.failures_of(&uid),
            unavailable: unavailable.as_deref(),
            withheld,
        });
        let (health, generation, IdentityFields { mut stats, mut ttl }) =
            (desired.health, desired.generation, desired.fields);
        let (previous, mut conditions) =
            next_conditions(current.map(|s| &s.common), &health, desired.synced_type, generation);
        if let Some(recorded) = recorded {
            stats = recorded.stats.clone().unwrap_or_default();
            ttl.clone_from(&recorded.ttl);
            conditions.extend(previous.iter().filter(|c| c.type_ == types::DRIFTED).cloned());
        } else {
            add_drifted(&mut conditions, &previous, worker, &uid, generation);
        }
        let status = json!({ "observedGeneration": generation, "conditions": conditions, "stats": stats, "ttl": ttl });
        let unchanged = current.is_some_and(|s| {
            s.common.observed_generation == generation
                && s.stats.as_ref() == Some(&stats)
                && s.ttl == ttl
                && same_conditions(&s.common.conditions, &conditions)
        });
        if !unchanged && !self.is_written(&uid, &status) {
            self.announce(object, &previous, &health).await;
            self.announce_ttl(object, current.and_then(|s| s.ttl.as_ref()), ttl.as_ref()).await;
        }
        self.count_team(object.owner_team(), stats.entries_to_set.max(0) as usize);
        self.write(api, &K::kind(&()), object.namespace().as_deref(), &object.name_any(), &uid, status, unchanged)
            .await;
    }

    async fn publish_static_entries(&mut self, worker: &Worker, objects: &[Arc<ClusterStaticEntry>]) {
        let api: Api<ClusterStaticEntry> = Api::all(self.client.clone());
        let unavailable = worker.spire_unavailable.as_ref().map(|e| e.to_string());
        let config = &worker.config;
        let ownership = Ownership::new(config.entry_id_prefix.clone(), config.adopt_entry_id_prefixes.clone());
        let rendered: HashMap<&str, _> = worker.statics().list().map(|s| (s.source.uid.as_str(), s)).collect();
        let mut withheld = worker.withheld_facts();
        for object in objects {
            if !handles_class(object.spec.class_name.as_deref(), config.class_name.as_deref(), config.watch_classless) {
                continue;
            }
            let uid = object.uid().unwrap_or_default();
            let Some(state) = rendered.get(uid.as_str()) else {
                continue;
            };
            let desired = static_status(
                object,
                StaticInputs {
                    enabled: config.reconcile.cluster_static_entries,
                    processed: (worker.statics().generation(&uid).flatten(), &state.entry, &state.scope),
                    won: worker.static_winners.get(&uid).copied(),
                    index: worker.index(),
                    ownership: &ownership,
                    refusals: worker.failures_of(&uid),
                    unavailable: unavailable.as_deref(),
                    verdict: worker.static_verdicts.get(&uid),
                    lapsed: worker.lapsed.contains(&uid),
                    withheld: withheld.remove(&uid).unwrap_or_else(|| worker.not_withheld()),
                    drift_reported: worker.drift().any(|f| f.source.as_ref().is_some_and(|s| s.uid == uid)),
                },
            );
            let (health, generation, fields) = (desired.health, desired.generation, desired.fields);
            let (previous, mut conditions) =
                next_conditions(object.status.as_ref().map(|s| &s.common), &health, desired.synced_type, generation);
            add_drifted(&mut conditions, &previous, worker, &uid, generation);
            let status = json!({
                "observedGeneration": generation,
                "conditions": conditions,
                "rendered": fields.rendered,
                "masked": fields.masked,
                "set": fields.set,
                "entryID": fields.entry_id,
                "ttl": fields.ttl,
            });
            let unchanged = object.status.as_ref().is_some_and(|s| {
                s.common.observed_generation == generation
                    && same_conditions(&s.common.conditions, &conditions)
                    && s.rendered == Some(fields.rendered)
                    && s.masked == Some(fields.masked)
                    && s.set == Some(fields.set)
                    && s.entry_id == fields.entry_id
                    && s.ttl == fields.ttl
            });
            if !unchanged && !self.is_written(&uid, &status) {
                self.announce(object.as_ref(), &previous, &health).await;
                let before = object.status.as_ref().and_then(|s| s.ttl.as_ref());
                self.announce_ttl(object.as_ref(), before, fields.ttl.as_ref()).await;
            }
            let team = object.spec.owner.as_ref().map(|o| o.team.clone());
            self.count_team(team.as_deref(), usize::from(status["set"] == true));
            self.write(&api, "ClusterStaticEntry", None, &object.name_any(), &uid, status, unchanged).await;
        }
    }

    /// Whether `status` is what was last written for `uid`: the cache may not have caught up
    /// with the write yet, and an Event must not be published twice for one transition.
    pub(super) fn is_written(&self, uid: &str, status: &serde_json::Value) -> bool {
        self.written.get(uid) == Some(&comparable(status))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn write<K>(
        &mut self,
        api: &Api<K>,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        uid: &str,
        status: serde_json::Value,
        unchanged: bool,
    ) where
        K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let ready = status["conditions"]
            .as_array()
            .and_then(|conditions| conditions.iter().find(|c| c["type"] == "Ready").and_then(|c| c["status"].as_str()));
        let namespace = namespace.unwrap_or_default();
        self.metrics.resource_ready(kind, namespace, name, ready.unwrap_or("Unknown"));
        self.ready.insert(uid.to_owned(), (kind.to_owned(), namespace.to_owned(), name.to_owned()));
        self.published.insert(uid.to_owned());
        let comparable = comparable(&status);
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

/// Whether a recorded status says Stalled, or Ready for being suspended.
fn stalled_or_suspended(status: &crate::api::v1alpha1::CommonStatus) -> bool {
    status.conditions.iter().any(|c| {
        (c.type_ == types::STALLED && c.status == "True") || (c.type_ == types::READY && c.reason == reasons::SUSPENDED)
    })
}

/// Adds the `Drifted` condition while drift of the resource's entries stands unrepaired.
fn add_drifted(
    conditions: &mut Vec<Condition>,
    previous: &[Condition],
    worker: &Worker,
    uid: &str,
    generation: Option<i64>,
) {
    let findings: Vec<_> = worker.drift().filter(|f| f.source.as_ref().is_some_and(|s| s.uid == uid)).collect();
    if let Some(wanted) = drifted(&findings) {
        conditions.extend(merge_conditions(previous, &[wanted], generation, Timestamp::now()));
    }
}

/// A status without its transition times, which change on every computation of a new condition.
fn comparable(status: &serde_json::Value) -> serde_json::Value {
    let mut comparable = status.clone();
    if let Some(conditions) = comparable.get_mut("conditions").and_then(|c| c.as_array_mut()) {
        for c in conditions {
            c.as_object_mut().map(|o| o.remove("lastTransitionTime"));
        }
    }
    comparable
}

/// What status publishing reads of a pod identity resource, of either kind.
trait PodIdentityResource:
    kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug
{
    fn class_name(&self) -> Option<&str>;
    fn suspended(&self) -> bool;
    fn identity_status(&self) -> Option<&ClusterSPIFFEIDStatus>;
    fn owner_team(&self) -> Option<&str>;
}

impl PodIdentityResource for ClusterSPIFFEID {
    fn class_name(&self) -> Option<&str> {
        self.spec.class_name.as_deref()
    }
    fn suspended(&self) -> bool {
        self.spec.suspend.unwrap_or(false)
    }
    fn identity_status(&self) -> Option<&ClusterSPIFFEIDStatus> {
        self.status.as_ref()
    }
    fn owner_team(&self) -> Option<&str> {
        self.spec.owner.as_ref().map(|o| o.team.as_str())
    }
}

impl PodIdentityResource for SPIFFEID {
    fn class_name(&self) -> Option<&str> {
        self.spec.class_name.as_deref()
    }
    fn suspended(&self) -> bool {
        self.spec.suspend.unwrap_or(false)
    }
    fn identity_status(&self) -> Option<&ClusterSPIFFEIDStatus> {
        self.status.as_ref()
    }
    fn owner_team(&self) -> Option<&str> {
        self.spec.owner.as_ref().map(|o| o.team.as_str())
    }
}
