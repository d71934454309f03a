//! The worker: turns queued changes into scopes, plans them, writes the plans to SPIRE and
//! publishes status. It is the only writer to SPIRE, so plans never race each other.

mod lapse;
mod turn;
pub(super) mod withheld;

pub use withheld::Note;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use k8s_openapi::jiff::Timestamp;
use kube::{ResourceExt, runtime::reflector::ObjectRef};

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
    stores::{Stores, slice_targets},
};
use crate::{
    config::{Config, Mode},
    drift::{DriftClass, Finding, Ledger},
    metrics::Metrics,
    pass::{self, PodRecord, SliceMembers, Snapshot, stale_pods},
    pod_view::PodView,
    policy::Verdict,
    reconcile::{EntryIndex, Ownership, Plan, Scope},
    selection::selects,
    spire::{EntryListing, LIST_PAGE_SIZE, SpireClient},
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

    /// Plans each entry the ledger found edited in the scope the operator wrote it to, also
    /// when its selectors now put it in another ([`EntryIndex::keep_home`]).
    pub(super) fn keep_written_homes(&mut self) {
        for written in self.ledger.written() {
            if let Some(id) = &written.id {
                self.index.keep_home(id, Scope::of(written));
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
    fn set_aside(&mut self, listing: EntryListing) -> Vec<crate::spiffe::Entry> {
        self.metrics.unparsed(EntryListing::KIND, listing.unparsed.len());
        let now: BTreeSet<String> = listing.unparsed.iter().map(|u| u.id.clone()).collect();
        for item in listing.unparsed.iter().filter(|u| !self.unparsed.contains(&u.id)) {
            tracing::warn!(entry_id = %item.id, spiffe_id = %item.spiffe_id, error = %item.reason,
                "left out an entry the operator cannot read; it is never changed or deleted");
        }
        self.unparsed = now;
        listing.entries
    }

    fn queue_scope(&self, scope: Scope) {
        self.queue.push(change_of(&self.records, scope));
    }

    /// Turns changes into the scopes to plan.
    fn expand(&mut self, changes: Vec<Change>) -> BTreeSet<Scope> {
        let mut scopes = BTreeSet::new();
        for change in changes {
            match change {
                Change::Pod { uid, namespace, name } => {
                    let reference = ObjectRef::new(&name).within(&namespace);
                    match self.stores.pods.get(&reference) {
                        Some(pod) if pod.uid().as_deref() == Some(uid.as_str()) => {
                            self.pods.insert(uid.clone(), reference);
                        }
                        _ => {
                            self.pods.remove(&uid);
                        }
                    }
                    scopes.insert(Scope::Pod(uid));
                }
                Change::Node(name) => scopes.extend(self.pods_where(|p| p.node_name() == Some(&name))),
                Change::Namespace(name) => {
                    scopes.extend(self.pods_where(|p| p.metadata.namespace.as_deref() == Some(&name)))
                }
                Change::Endpoints { namespace, name } => {
                    let reference = ObjectRef::new(&name).within(&namespace);
                    let targets = self.stores.endpoint_slices.get(&reference).map(|s| slice_targets(&s));
                    scopes.extend(self.slice_members.set(format!("{namespace}/{name}"), targets.unwrap_or_default()));
                }
                Change::Relisted(kind) => {
                    self.metrics.relisted(kind.as_str());
                    tracing::info!(kind = kind.as_str(), "watch listed again; comparing it with what was planned");
                    scopes.extend(self.relisted(kind));
                }
                // The periodic check compares the caches with what was planned, as a re-list
                // does: a change no event brought is planned all the same.
                Change::Drift => {
                    for kind in [
                        Watched::Policies,
                        Watched::Pods,
                        Watched::EndpointSlices,
                        Watched::Identities,
                        Watched::StaticEntries,
                    ] {
                        scopes.extend(self.relisted(kind));
                    }
                }
                Change::Federation | Change::State => {}
                Change::Governance => scopes.extend(self.relisted(Watched::Policies)),
                Change::Lapse => scopes.extend(self.lapses()),
                // A resource's change is found by comparing its cache with the parsed forms.
                Change::Identity(_) => scopes.extend(self.relisted(Watched::Identities)),
                Change::StaticEntries => scopes.extend(self.relisted(Watched::StaticEntries)),
                Change::Everything => {
                    self.rules.refresh(&self.stores.policies(), &self.stores.exceptions(), &self.config);
                    self.identities.refresh(&self.stores.identities(), &self.stores.tenant_identities(), &self.config);
                    scopes.extend(self.statics.refresh(&self.stores.static_entries(), &self.config));
                    self.refresh_pod_refs();
                    scopes.extend(self.pods.keys().cloned().map(Scope::Pod));
                    scopes.extend(self.records.keys().cloned().map(Scope::Pod));
                    scopes.extend(self.index.scopes().cloned());
                    scopes.extend(self.ledger.scopes());
                    scopes.insert(Scope::Cluster);
                }
            }
        }
        scopes
    }

    /// What a completed listing of `kind` calls for: everything planned from that kind is
    /// compared with the cache as it now is, so objects that changed or went while the watch was
    /// away are planned again.
    fn relisted(&mut self, kind: Watched) -> Vec<Scope> {
        match kind {
            Watched::Pods => {
                self.refresh_pod_refs();
                self.stale_pods()
            }
            // Every pod reads its node and namespace.
            Watched::Nodes | Watched::Namespaces => self.pods.keys().cloned().map(Scope::Pod).collect(),
            Watched::EndpointSlices => {
                let now: Vec<(String, BTreeSet<String>)> = self
                    .stores
                    .endpoint_slices
                    .state()
                    .iter()
                    .map(|slice| {
                        let name = format!("{}/{}", slice.namespace().unwrap_or_default(), slice.name_any());
                        (name, slice_targets(slice))
                    })
                    .collect();
                self.slice_members.replace(now).into_iter().collect()
            }
            Watched::Identities => {
                let mut scopes = Vec::new();
                for uid in
                    self.identities.refresh(&self.stores.identities(), &self.stores.tenant_identities(), &self.config)
                {
                    scopes.extend(self.pods_of_identity(&uid));
                }
                scopes
            }
            Watched::StaticEntries => self.statics.refresh(&self.stores.static_entries(), &self.config),
            Watched::Federations => Vec::new(),
            Watched::Policies | Watched::Exceptions => {
                let refreshed = self.rules.refresh(&self.stores.policies(), &self.stores.exceptions(), &self.config);
                if refreshed.policies {
                    // A policy may govern any identity: every planned scope is judged again.
                    let mut scopes: BTreeSet<Scope> = self.records.keys().cloned().map(Scope::Pod).collect();
                    scopes.extend(self.pods.keys().cloned().map(Scope::Pod));
                    scopes.extend(self.index.scopes().cloned());
                    scopes.insert(Scope::Cluster);
                    return scopes.into_iter().collect();
                }
                refreshed
                    .targets
                    .iter()
                    .flat_map(|(kind, name, namespace)| self.scopes_of_target(*kind, name, namespace.as_deref()))
                    .collect()
            }
        }
    }

    /// Looks every cached pod up again by UID.
    fn refresh_pod_refs(&mut self) {
        self.pods = self
            .stores
            .pods
            .state()
            .iter()
            .map(|p| (p.uid().unwrap_or_default(), ObjectRef::from_obj(p.as_ref())))
            .collect();
    }

    /// The pods whose planning is out of date with the cache: planned at another resource
    /// version, never planned, or planned and gone. A pod the operator holds entries for is
    /// planned too when it is gone.
    fn stale_pods(&self) -> Vec<Scope> {
        let cached = self.stores.pods.state();
        let cached = cached
            .iter()
            .map(|p| (p.metadata.uid.as_deref().unwrap_or_default(), p.metadata.resource_version.as_deref()));
        stale_pods(cached, &self.records, self.index.scopes()).into_iter().collect()
    }

    fn pods_where(&self, predicate: impl Fn(&PodView) -> bool) -> Vec<Scope> {
        self.stores
            .pods
            .state_filter(|p| predicate(p))
            .iter()
            .map(|p| Scope::Pod(p.uid().unwrap_or_default()))
            .collect()
    }

    /// The pods an identity selects now, and the pods it had an outcome for before.
    fn pods_of_identity(&self, uid: &str) -> Vec<Scope> {
        let mut scopes: Vec<Scope> = self
            .records
            .iter()
            .filter(|(_, r)| r.outcomes.contains_key(uid))
            .map(|(pod, _)| Scope::Pod(pod.clone()))
            .collect();
        let own_namespace = self.identities.get(uid).and_then(|i| i.namespace.clone());
        match self.identities.get(uid).map(|i| &i.identity) {
            Some(Ok(identity)) => {
                let namespaces: BTreeSet<String> = self
                    .stores
                    .namespaces
                    .state()
                    .iter()
                    .filter(|ns| own_namespace.as_ref().is_none_or(|own| *own == ns.name_any()))
                    .filter(|ns| selects(identity.namespace_selector.as_ref(), ns.metadata.labels.as_ref()))
                    .map(|ns| ns.name_any())
                    .collect();
                scopes.extend(self.pods_where(|p| {
                    p.metadata.namespace.as_ref().is_some_and(|ns| namespaces.contains(ns))
                        && selects(identity.pod_selector.as_ref(), p.metadata.labels.as_ref())
                }));
            }
            // An identity that does not parse holds every pod; an identity that is gone releases
            // the pods it had.
            Some(Err(_)) => match &own_namespace {
                Some(own) => scopes.extend(self.pods_where(|p| p.metadata.namespace.as_ref() == Some(own))),
                None => scopes.extend(self.pods.keys().cloned().map(Scope::Pod)),
            },
            None => {}
        }
        scopes
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

    /// Takes in the drift the pass found in a scope: the ledger keeps what is still open, and
    /// each new detection (or a repair of one reported before) is announced once.
    fn take_drift(&mut self, scope: &Scope, findings: Vec<Finding>) {
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
