//! One turn of the worker: its scopes planned and written slice by slice, its deletions judged
//! once by the circuit breaker, and in observe mode nothing written at all.

use std::collections::{BTreeMap, BTreeSet};

use super::{SCOPES_PER_PASS, Worker, withheld};
use crate::controller::apply::{Applied, WriteLog, apply};
use crate::controller::audit_trail::written;
use crate::{
    config::Mode,
    drift::DriftClass,
    reconcile::{Delete, DeleteReason, Plan, Scope, SourceKind},
    spiffe::{Entry, EntryId},
};

impl Worker {
    /// Plans and writes one turn's scopes. Scopes are planned and written in slices, so a burst
    /// (start-up, an identity selecting thousands of pods) keeps memory bounded and its first
    /// entries reach SPIRE early. Deletions of entries nothing declares any more are collected
    /// over the whole turn (at most the owned entries, which the index holds anyway) and judged
    /// once by the deletion circuit breaker, so a large deletion cannot slip through a slice at
    /// a time; only then are they sent. In observe mode every plan goes to [`Withheld`] and
    /// nothing is written.
    ///
    /// [`Withheld`]: withheld::Withheld
    pub(super) async fn turn(&mut self, scopes: &BTreeSet<Scope>) {
        let owned = self.index.len();
        let observe = self.config.mode == Mode::Observe;
        let mut deletes: Vec<(Scope, Delete)> = Vec::new();
        let list: Vec<Scope> = scopes.iter().cloned().collect();
        for slice in list.chunks(SCOPES_PER_PASS) {
            let slice: BTreeSet<Scope> = slice.iter().cloned().collect();
            let mut plans = self.plan(&slice);
            if observe {
                self.trail.withhold(written(&plans), crate::audit::Outcome::Observed);
                for (scope, plan) in &mut plans {
                    self.withheld.observe(scope, plan, &self.index);
                    plan.creates.clear();
                    plan.updates.clear();
                    plan.deletes.clear();
                }
            } else {
                // A duplicate's deletion keeps the identity: it goes at once, unjudged.
                for (scope, plan) in &mut plans {
                    let (undeclared, duplicates) = std::mem::take(&mut plan.deletes)
                        .into_iter()
                        .partition(|d| d.reason == DeleteReason::Undeclared);
                    plan.deletes = duplicates;
                    deletes.extend(undeclared.into_iter().map(|d: Delete| (scope.clone(), d)));
                }
            }
            let applied = self.write(&plans).await;
            self.absorb(true, &plans, applied);
        }
        if observe {
            for (action, count) in self.withheld.pending_totals() {
                self.metrics.pending_writes(action, count);
            }
            return;
        }
        self.withheld.refresh_known(self.known_resources(), self.instance_known());
        let judged: Vec<(Scope, EntryId)> =
            deletes.iter().filter_map(|(scope, d)| Some((scope.clone(), d.entry.id.clone()?))).collect();
        let unexpected: Vec<(Scope, Entry)> = deletes
            .iter()
            .filter(|(_, d)| d.drift == Some(DriftClass::Unexpected))
            .map(|(scope, d)| (scope.clone(), d.entry.clone()))
            .collect();
        let send = self.withheld.judge(&self.config.deletion_breaker, scopes, deletes, owned, &self.index);
        if self.withheld.to_spend() {
            self.spend_instance_confirmation().await;
        }
        let sent: BTreeSet<&EntryId> = send.iter().filter_map(|(_, d)| d.entry.id.as_ref()).collect();
        // An Unexpected entry whose repair is held is still drift: the ledger keeps it, and it
        // stands (counted, not announced again) until its deletion is sent.
        let held_unexpected: Vec<(Scope, Entry)> =
            unexpected.into_iter().filter(|(_, e)| e.id.as_ref().is_some_and(|id| !sent.contains(id))).collect();
        for (scope, entry) in held_unexpected {
            let source = entry.id.as_ref().and_then(|id| self.index.owner(id)).cloned();
            self.drift.entry(scope).or_default().push(crate::drift::Finding::held_unexpected(&entry, source));
            self.ledger.unexpected(entry);
        }
        self.count_drift();
        let held =
            judged.iter().filter(|(_, id)| !sent.contains(id)).map(|(s, id)| (s, id, crate::audit::Action::Delete));
        self.trail.withhold(held, crate::audit::Outcome::Held);
        self.metrics.deletions_held(self.withheld.held_count());
        let mut plans: BTreeMap<Scope, Plan> = BTreeMap::new();
        for (scope, delete) in send {
            plans.entry(scope).or_default().deletes.push(delete);
        }
        let plans: Vec<(Scope, Plan)> = plans.into_iter().collect();
        let applied = self.write(&plans).await;
        // The scopes were planned above: this only adds what the deletions achieved.
        self.absorb(false, &plans, applied);
    }

    /// Sends plans to SPIRE, unless there is nothing to send.
    async fn write(&mut self, plans: &[(Scope, Plan)]) -> Applied {
        if plans.iter().all(|(_, p)| p.is_empty()) {
            Applied::default()
        } else {
            let teams = self.teams();
            let (pods, stores) = (&self.pods, &self.stores);
            let pod = |uid: &str| {
                let pod = pods.get(uid).and_then(|r| stores.pods.get(r))?;
                Some((
                    pod.metadata.namespace.clone().unwrap_or_default(),
                    pod.metadata.name.clone().unwrap_or_default(),
                ))
            };
            let team = |uid: &str| teams.get(uid).cloned();
            let mut log = WriteLog { pod: &pod, team: &team, failed: &mut self.failures_logged };
            let applied = apply(&self.spire, &mut self.index, &self.ownership, plans, &mut log).await;
            self.trail.settle(plans, &applied);
            applied
        }
    }

    /// The owner team of every resource that declares entries, by UID, for the write logs.
    fn teams(&self) -> std::collections::HashMap<String, String> {
        let team = |meta: &kube::api::ObjectMeta, owner: Option<&crate::api::v1alpha1::Owner>| {
            Some((meta.uid.clone()?, owner?.team.clone()))
        };
        let identities = self.stores.identities().objects;
        let tenants = self.stores.tenant_identities().objects;
        let statics = self.stores.static_entries().objects;
        identities
            .iter()
            .filter_map(|o| team(&o.metadata, o.spec.owner.as_ref()))
            .chain(tenants.iter().filter_map(|o| team(&o.metadata, o.spec.owner.as_ref())))
            .chain(statics.iter().filter_map(|o| team(&o.metadata, o.spec.owner.as_ref())))
            .collect()
    }

    /// The identity resources of this instance's class, with their confirmations of deletions.
    fn known_resources(&self) -> Vec<(String, withheld::Known)> {
        let config = &self.config;
        let handled = |class: Option<&str>| {
            crate::selection::handles_class(class, config.class_name.as_deref(), config.watch_classless)
        };
        let identities = self.stores.identities().objects;
        let tenants = self.stores.tenant_identities().objects;
        let statics = self.stores.static_entries().objects;
        identities
            .iter()
            .filter(|o| handled(o.spec.class_name.as_deref()))
            .map(|o| withheld::known_of(withheld::About::Source(SourceKind::ClusterSPIFFEID), o.as_ref()))
            .chain(
                tenants
                    .iter()
                    .filter(|o| handled(o.spec.class_name.as_deref()))
                    .map(|o| withheld::known_of(withheld::About::Source(SourceKind::SPIFFEID), o.as_ref())),
            )
            .chain(
                statics
                    .iter()
                    .filter(|o| handled(o.spec.class_name.as_deref()))
                    .map(|o| withheld::known_of(withheld::About::Source(SourceKind::ClusterStaticEntry), o.as_ref())),
            )
            .collect()
    }
}
