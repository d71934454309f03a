//! The worker: turns queued changes into scopes, plans them, writes the plans to SPIRE and
//! publishes status. It is the only writer to SPIRE, so plans never race each other.

mod lapse;
mod periodic;
mod scopes;
mod turn;
pub(super) mod withheld;

pub use withheld::Note;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;

use super::{
    apply::Applied,
    backlog::Retry,
    change::{Change, ChangeQueue, Watched},
    federation::Federation,
    inputs::StoreInputs,
    refusals::Refusals,
    rules::Rules,
    sources::{Identities, StaticEntries},
    status_writer::StatusWriter,
    stores::Stores,
};
use crate::{
    config::{Config, Mode},
    drift::{DriftClass, Finding, Ledger},
    metrics::Metrics,
    pass::{self, PodRecord, SliceMembers, Snapshot},
    pod_view::PodView,
    policy::Verdict,
    reconcile::{EntryIndex, Ownership, Plan, Scope},
    spire::{LIST_PAGE_SIZE, SpireClient},
};

/// Everything the worker knows between batches.
pub struct Worker {
    pub config: Arc<Config>,
    pub stores: Stores,
    pub spire: SpireClient,
    pub queue: Arc<ChangeQueue>,
    ownership: Ownership,
    index: EntryIndex,
    identities: Identities,
    statics: StaticEntries,
    pods: HashMap<String, ObjectRef<PodView>>,
    /// Write failures logged, so that one that keeps failing is logged once.
    pub(super) failures_logged: std::collections::HashMap<crate::spiffe::EntryId, String>,
    /// SPIRE's entries were listed once: the passes have run since.
    pub index_loaded: bool,
    /// The pods each EndpointSlice targeted when last seen.
    slice_members: SliceMembers,
    pub records: HashMap<String, PodRecord>,
    pub static_winners: BTreeMap<String, bool>,
    /// Writes SPIRE refused, until their scope is planned again.
    refusals: Refusals,
    /// Why SPIRE could not be reached, while it cannot.
    pub spire_unavailable: Option<Arc<crate::spire::Error>>,
    pub federation: Federation,
    client: kube::Client,
    pub metrics: Arc<Metrics>,
    /// Scopes whose writes SPIRE could not take, waiting for their backoff.
    retry: Retry,
    /// IDs of the entries in SPIRE's last listing that the operator could not read.
    unparsed: BTreeSet<String>,
    /// The policies and exceptions, validated.
    pub rules: Rules,
    /// Per ClusterStaticEntry (by UID): the policies' verdict when last planned.
    pub static_verdicts: BTreeMap<String, Verdict>,
    /// ClusterStaticEntries (by UID) past their `expiresAt` when last planned.
    pub lapsed: BTreeSet<String>,
    /// The instant up to which lapses have been planned.
    lapses_planned: Timestamp,
    /// The audit records in the making.
    pub(super) trail: super::audit_trail::Trail,
    /// When OpenReports were last published.
    pub(super) published: super::open_reports::Published,
    /// What was planned and not written: observe mode's writes, the breaker's held deletions.
    pub withheld: withheld::Withheld,
    /// What was found changed in SPIRE behind the operator's back, until plans settle it.
    pub(super) ledger: Ledger,
    /// The drift standing now, unrepaired, by scope.
    pub(super) drift: BTreeMap<Scope, Vec<Finding>>,
    /// Detections not yet announced in Events; the status writer takes them.
    pub drift_news: std::sync::Mutex<Vec<Finding>>,
    /// Where the instance keeps its state (the drift ledger, the instance's confirmation).
    pub(super) state: super::state::StateRef,
    /// The drift record last written to or read from the state.
    pub(super) persisted: Option<String>,
    /// A drift record found at start that did not parse: kept beside the new one, for a person.
    pub(super) rejected: Option<String>,
}

/// Scopes planned and written per pass.
const SCOPES_PER_PASS: usize = 500;

impl Worker {
    pub fn new(
        config: Arc<Config>,
        stores: Stores,
        spire: SpireClient,
        queue: Arc<ChangeQueue>,
        client: kube::Client,
        metrics: Arc<Metrics>,
    ) -> Self {
        let ownership = Ownership::new(config.entry_id_prefix.clone(), config.adopt_entry_id_prefixes.clone());
        let state = super::state::StateRef::of(&config);
        Self {
            config,
            stores,
            spire,
            queue,
            ownership,
            index: EntryIndex::default(),
            identities: Identities::default(),
            statics: StaticEntries::default(),
            pods: HashMap::new(),
            slice_members: SliceMembers::default(),
            records: HashMap::new(),
            static_winners: BTreeMap::new(),
            refusals: Refusals::default(),
            spire_unavailable: None,
            federation: Federation::default(),
            client,
            metrics,
            retry: Retry::default(),
            unparsed: BTreeSet::new(),
            rules: Rules::default(),
            static_verdicts: BTreeMap::new(),
            lapsed: BTreeSet::new(),
            lapses_planned: Timestamp::now(),
            trail: super::audit_trail::Trail::new(Arc::new(crate::audit::Sink::off())),
            published: Default::default(),
            withheld: withheld::Withheld::default(),
            ledger: Ledger::default(),
            drift: BTreeMap::new(),
            drift_news: Default::default(),
            state,
            persisted: None,
            rejected: None,
            failures_logged: Default::default(),
            index_loaded: false,
        }
    }

    /// Sends audit records to `sink`.
    pub fn with_audit(mut self, sink: Arc<crate::audit::Sink>) -> Self {
        self.trail = super::audit_trail::Trail::new(sink);
        self
    }

    /// Loads the index with one paginated listing, retrying until SPIRE answers. Until it does,
    /// every resource's status says why (unreachable, or denying the operator).
    pub async fn load_index(&mut self, status: &mut StatusWriter) {
        let mut delays = crate::retry::backoff();
        loop {
            match self.spire.list_entries_lenient(&Default::default(), LIST_PAGE_SIZE).await {
                Ok(listing) => {
                    let entries = self.set_aside(listing);
                    self.index = EntryIndex::from_listing(entries, &self.ownership);
                    tracing::info!(owned = self.index.len(), "loaded the entries this operator owns");
                    self.spire_unavailable = None;
                    self.index_loaded = true;
                    return;
                }
                Err(e) => {
                    let delay = delays.next().unwrap_or(crate::retry::LONGEST);
                    if let crate::spire::Error::Denied { status, .. } = &e {
                        tracing::error!(code = ?status.code(), error = %e, retry_in = ?delay,
                            "SPIRE denies the operator: its identity is not an admin (an entry with admin: true, or the server's admin_ids); nothing is written or deleted");
                    } else {
                        tracing::warn!(error = %e, retry_in = ?delay, "SPIRE is not reachable yet");
                    }
                    self.spire_unavailable = Some(Arc::new(e));
                    status.publish(self).await;
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Runs forever: take changes, plan, write, publish status.
    pub async fn run(mut self, mut status: StatusWriter) {
        self.load_index(&mut status).await;
        self.queue.push(Change::Everything);
        self.restore_ledger().await;
        loop {
            // Writes SPIRE could not take are tried again when their backoff ends, or at once
            // when another call to SPIRE succeeds.
            // An exception or a static entry lapsing is planned at its instant: a timer, not a scan.
            let wake = self.next_instant();
            let changes = tokio::select! {
                changes = self.queue.take() => changes,
                () = self.retry.due() => self.retry.take().into_iter().map(|s| change_of(&self.records, s)).collect(),
                () = lapse::sleep_until(wake) => vec![Change::Lapse],
            };
            // The backlog just taken; what is left once it is worked off is reported below.
            self.metrics.queue_depth(changes.len());
            if changes.contains(&Change::Drift) {
                self.check_drift().await;
                // What the check found is kept before the turn that acts on it.
                self.persist_ledger().await;
            }
            if self.config.reconcile.cluster_federated_trust_domains
                && changes.iter().any(|c| {
                    matches!(
                        c,
                        Change::Federation
                            | Change::Drift
                            | Change::Everything
                            | Change::Relisted(Watched::Federations)
                    )
                })
            {
                self.federation.reconcile(&self.client, &self.stores, &self.config, &self.spire).await;
                self.metrics.unparsed(crate::spire::RelationshipListing::KIND, self.federation.unparsed.len());
            }
            // Writes SPIRE refused are tried again at each periodic check, and when federation
            // changed, since a missing federated bundle is the usual cause.
            if changes.iter().any(|c| matches!(c, Change::Drift | Change::Federation)) {
                for scope in self.refusals.scopes() {
                    self.queue_scope(scope);
                }
            }
            // Held deletions are judged again as one, whenever one of them is planned or a change
            // may confirm them.
            let rejudge = changes.iter().any(|c| {
                matches!(
                    c,
                    Change::Drift
                        | Change::Everything
                        | Change::Identity(_)
                        | Change::StaticEntries
                        | Change::Governance
                        | Change::State
                )
            });
            let mut scopes = self.expand(changes);
            if self.withheld.holds() && (rejudge || self.withheld.held_scopes().any(|s| scopes.contains(s))) {
                scopes.extend(self.withheld.held_scopes().cloned());
            }
            self.turn(&scopes).await;
            self.persist_ledger().await;
            for note in self.withheld.take_notes() {
                self.trail.note(&note);
                status.note(&note).await;
            }
            status.publish(&self).await;
            self.metrics.queue_depth(self.queue.len());
        }
    }

    fn queue_scope(&self, scope: Scope) {
        self.queue.push(change_of(&self.records, scope));
    }

    /// Plans every scope with the pure pass, and keeps what it reports.
    fn plan(&mut self, scopes: &BTreeSet<Scope>) -> Vec<(Scope, Plan)> {
        let identities = self.identities.list();
        let inputs = StoreInputs::new(&self.stores, &self.pods, self.identities.wants_service_names());
        let snapshot = Snapshot {
            inputs: &inputs,
            identities: &identities,
            statics: &self.statics,
            index: &self.index,
            ownership: &self.ownership,
            config: &self.config,
            governance: &self.rules.governance,
            now: Timestamp::now(),
            ledger: Some(&self.ledger),
        };
        let now = snapshot.now;
        let outcomes = pass::run(&snapshot, scopes);
        self.audit_pass(&outcomes, now);
        let mut plans = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            for _ in 0..outcome.render_failures {
                self.metrics.error("render_failed");
            }
            if let Scope::Pod(uid) = &outcome.scope {
                match outcome.record {
                    Some(record) => self.records.insert(uid.clone(), record),
                    None => self.records.remove(uid),
                };
            }
            self.static_winners.extend(outcome.static_winners);
            for (uid, verdict) in outcome.static_verdicts {
                self.lapsed.remove(&uid);
                match verdict {
                    Some(v) => self.static_verdicts.insert(uid, v),
                    None => self.static_verdicts.remove(&uid),
                };
            }
            for uid in outcome.lapsed {
                self.static_verdicts.remove(&uid);
                self.lapsed.insert(uid);
            }
            self.take_drift(&outcome.scope, outcome.drift);
            plans.push((outcome.scope, outcome.plan));
        }
        self.count_drift();
        // Forget resources that are gone.
        let statics: BTreeSet<&str> = self.statics.list().map(|s| s.source.uid.as_str()).collect();
        self.static_winners.retain(|uid, _| statics.contains(uid.as_str()));
        self.static_verdicts.retain(|uid, _| statics.contains(uid.as_str()));
        self.lapsed.retain(|uid| statics.contains(uid.as_str()));
        plans
    }

    /// Takes in what the writes achieved and schedules retries. `planned`: the plans are the
    /// scopes' whole plans, so their earlier refusals are settled.
    fn absorb(&mut self, planned: bool, plans: &[(Scope, Plan)], applied: Applied) {
        for (class, entry) in &applied.met {
            match class {
                DriftClass::Missing => self.ledger.missing(entry.clone()),
                _ => self.ledger.modified(entry.clone()),
            }
        }
        if applied.vanished > 0 {
            self.metrics.drift_detected(DriftClass::Missing.label(), applied.vanished);
        }
        let scopes = plans.iter().map(|(scope, _)| scope).filter(|_| planned);
        self.refusals.absorb(scopes, applied.unavailable.is_none(), &applied.failures);
        for _ in &applied.failures {
            self.metrics.error("spire_rejected");
        }
        for (scope, plan) in plans {
            for (id, source) in &plan.in_sync {
                self.index.set_owner(id, source);
            }
            let written = plan.updates.iter().map(|u| &u.entry).chain(plan.deletes.iter().map(|d| &d.entry));
            for id in written.filter_map(|e| e.id.as_ref()) {
                if matches!(applied.answers.get(id), Some(Ok(()))) {
                    self.ledger.written_back(id);
                }
            }
            for (entry, owner) in &plan.kept {
                tracing::debug!(?scope, entry_id = %entry.id.as_ref().map(|i| i.as_str()).unwrap_or_default(),
                    spiffe_id = %entry.spiffe_id, declared_by = owner.as_deref().unwrap_or("unknown"),
                    "kept an undeclared entry: an input that may declare it is missing");
            }
            for (declaration, id) in &plan.foreign_conflicts {
                tracing::debug!(?scope, entry_id = %id, spiffe_id = %declaration.entry.spiffe_id,
                    owner = %declaration.source.name, "an entry another tool owns stands in for the declaration");
            }
        }
        self.metrics.written("create", applied.created);
        self.metrics.written("update", applied.updated);
        self.metrics.written("delete", applied.deleted);
        self.metrics.managed_entries(self.index.len());
        let now = k8s_openapi::jiff::Timestamp::now();
        for scope in &applied.created_in {
            let Scope::Pod(uid) = scope else { continue };
            let created = self
                .pods
                .get(uid)
                .and_then(|r| self.stores.pods.get(r))
                .and_then(|p| p.metadata.creation_timestamp.clone());
            if let Some(created) = created {
                let elapsed = now.duration_since(created.0);
                self.metrics.pod_to_entry(Duration::try_from(elapsed).unwrap_or_default());
            }
        }
        if applied.created + applied.updated + applied.deleted > 0 {
            tracing::debug!(
                created = applied.created,
                updated = applied.updated,
                deleted = applied.deleted,
                "wrote to SPIRE"
            );
        }
        match applied.unavailable {
            Some(why) => {
                self.metrics.error("spire_unavailable");
                self.spire_unavailable = Some(why);
                self.retry.defer(applied.replan);
            }
            None => {
                if !plans.iter().all(|(_, p)| p.is_empty()) {
                    self.spire_unavailable = None;
                    // SPIRE answers again: what waited goes now.
                    for scope in self.retry.answered() {
                        self.queue_scope(scope);
                    }
                }
                for scope in applied.replan {
                    self.queue_scope(scope);
                }
            }
        }
    }

    /// Why SPIRE refused the writes of a resource, one message per refused entry.
    pub fn failures_of(&self, uid: &str) -> Vec<&str> {
        self.refusals.of(uid)
    }

    /// Per resource (by UID), what was planned for its entries and not written.
    pub fn withheld_facts(&self) -> BTreeMap<String, crate::status::Withheld> {
        self.withheld.per_resource(self.config.mode == Mode::Observe, &self.config.deletion_breaker)
    }

    /// The withheld facts of a resource nothing is withheld of.
    pub fn not_withheld(&self) -> crate::status::Withheld {
        crate::status::Withheld { observe: self.config.mode == Mode::Observe, ..Default::default() }
    }

    pub(super) fn kube(&self) -> &kube::Client {
        &self.client
    }

    pub fn identities(&self) -> &Identities {
        &self.identities
    }

    pub fn statics(&self) -> &StaticEntries {
        &self.statics
    }

    pub fn index(&self) -> &EntryIndex {
        &self.index
    }
}

/// The change that plans a scope again.
fn change_of(records: &HashMap<String, PodRecord>, scope: Scope) -> Change {
    match scope {
        Scope::Cluster => Change::StaticEntries,
        Scope::Pod(uid) => {
            let (namespace, name) =
                records.get(&uid).map(|r| (r.namespace.clone(), r.name.clone())).unwrap_or_default();
            Change::Pod { uid, namespace, name }
        }
    }
}
