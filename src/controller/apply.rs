//! Writing plans to SPIRE: deletes, then creates, then updates, in batches, keeping the entry
//! index current with what SPIRE answered.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use tonic::Code;

use super::refusals::Refusal;
use crate::{
    drift::DriftClass,
    reconcile::{Claim, EntryIndex, Ownership, Plan, Scope},
    spiffe::{Entry, EntryId},
    spire::{CreateOutcome, EntryMask, ItemError, SpireClient},
};

/// What the writes achieved.
#[derive(Debug, Default)]
pub struct Applied {
    /// The writes SPIRE refused, for the resources that declared them.
    pub failures: Vec<Refusal>,
    /// Scopes to plan again: an entry changed under us, or SPIRE was unreachable.
    pub replan: BTreeSet<Scope>,
    /// SPIRE could not be reached; the message says why.
    pub unavailable: Option<Arc<crate::spire::Error>>,
    pub created: usize,
    /// The scopes of the entries created, for the pod-to-entry latency.
    pub created_in: Vec<Scope>,
    pub updated: usize,
    pub deleted: usize,
    /// What SPIRE answered for each planned write it was sent, by the planned entry's ID. A
    /// write missing here was not sent: the call before it failed (`unavailable`).
    pub answers: BTreeMap<EntryId, Result<(), ItemError>>,
    /// Writes that met an unexpected state, for the drift ledger: an update whose entry was gone
    /// (Missing, as declared) or a create whose entry already stood (Modified, with the values
    /// declared under the standing entry's ID).
    pub met: Vec<(DriftClass, Entry)>,
    /// Deletes whose entry was already gone.
    pub vanished: usize,
}

/// What a write's log line names besides the entry and its resource: the pod of a pod entry and
/// the resource's owner team; and the failures already logged, so that a write that keeps
/// failing is logged once (again once it has gone through, or fails otherwise).
pub struct WriteLog<'a> {
    /// The pod's namespace and name, by pod UID.
    pub pod: &'a dyn Fn(&str) -> Option<(String, String)>,
    /// The owner team, by resource UID.
    pub team: &'a dyn Fn(&str) -> Option<String>,
    /// The last failure logged, by entry ID.
    pub failed: &'a mut std::collections::HashMap<EntryId, String>,
}

/// The most failures remembered; beyond, they are forgotten and logged again.
const FAILURES_REMEMBERED: usize = 10_000;

/// A pod's namespace and name as log fields (nothing when there is no pod).
fn shown(
    pod: &Option<(String, String)>,
) -> (Option<tracing::field::DisplayValue<&str>>, Option<tracing::field::DisplayValue<&str>>) {
    (
        pod.as_ref().map(|p| tracing::field::display(p.0.as_str())),
        pod.as_ref().map(|p| tracing::field::display(p.1.as_str())),
    )
}

impl WriteLog<'_> {
    fn pod_of(&self, entry: &Entry) -> Option<(String, String)> {
        self.pod_in(&Scope::of(entry))
    }

    /// The pod whose scope this is, if it is a pod's.
    fn pod_in(&self, scope: &Scope) -> Option<(String, String)> {
        match scope {
            Scope::Pod(uid) => (self.pod)(uid),
            Scope::Cluster => None,
        }
    }

    /// Whether this failure of the write to `id` is news: the first, or another message.
    fn first_failure(&mut self, id: &EntryId, message: &str) -> bool {
        if self.failed.len() >= FAILURES_REMEMBERED && !self.failed.contains_key(id) {
            self.failed.clear();
        }
        self.failed.insert(id.clone(), message.to_owned()).as_deref() != Some(message)
    }

    fn went_through(&mut self, id: &EntryId) {
        self.failed.remove(id);
    }
}

/// Writes every plan. A whole-call failure stops the writing; the scopes not yet written are
/// returned for another try.
pub async fn apply(
    spire: &SpireClient,
    index: &mut EntryIndex,
    ownership: &Ownership,
    plans: &[(Scope, Plan)],
    log: &mut WriteLog<'_>,
) -> Applied {
    let mut applied = Applied::default();
    if let Err(e) = write(spire, index, ownership, plans, &mut applied, log).await {
        tracing::warn!(error = %e, "SPIRE write failed; will retry");
        applied.unavailable = Some(Arc::new(e));
        applied.replan.extend(plans.iter().map(|(scope, _)| scope.clone()));
    }
    applied
}

async fn write(
    spire: &SpireClient,
    index: &mut EntryIndex,
    ownership: &Ownership,
    plans: &[(Scope, Plan)],
    applied: &mut Applied,
    log: &mut WriteLog<'_>,
) -> Result<(), crate::spire::Error> {
    let deletes: Vec<(&Scope, &crate::reconcile::Delete)> =
        plans.iter().flat_map(|(scope, p)| p.deletes.iter().map(move |d| (scope, d))).collect();
    if !deletes.is_empty() {
        let ids: Vec<_> = deletes.iter().filter_map(|(_, d)| d.entry.id.clone()).collect();
        for ((scope, delete), result) in deletes.iter().zip(spire.batch_delete_entries(&ids).await?) {
            let id = delete.entry.id.clone().expect("planned deletes have IDs");
            let owner = index.owner(&id).cloned();
            // Recorded only when known: an entry nothing declared since start-up has no owner.
            let (owner_kind, owner_name) = match &owner {
                Some(o) => (Some(tracing::field::debug(o.kind)), Some(tracing::field::display(&o.name))),
                None => (None, None),
            };
            let team = owner.as_ref().and_then(|o| (log.team)(&o.uid));
            let pod = log.pod_in(scope);
            let (pod_namespace, pod_name) = shown(&pod);
            let team = team.map(tracing::field::display);
            match result {
                Ok(()) => {
                    applied.answers.insert(id.clone(), Ok(()));
                    log.went_through(&id);
                    tracing::info!(entry_id = %id, spiffe_id = %delete.entry.spiffe_id, owner_kind,
                        owner = owner_name, team, pod_namespace, pod = pod_name, reason = ?delete.reason, "deleted entry");
                    index.remove(&id);
                    applied.deleted += 1;
                }
                Err(e) if e.code == Code::NotFound => {
                    applied.answers.insert(id.clone(), Ok(()));
                    log.went_through(&id);
                    tracing::info!(entry_id = %id, spiffe_id = %delete.entry.spiffe_id,
                        "an entry to delete was already gone from SPIRE");
                    index.remove(&id);
                    applied.vanished += 1;
                }
                Err(e) => {
                    applied.answers.insert(id.clone(), Err(e.clone()));
                    if log.first_failure(&id, &e.message) {
                        tracing::warn!(entry_id = %id, spiffe_id = %delete.entry.spiffe_id, owner_kind,
                            owner = owner_name, team, pod_namespace, pod = pod_name, error = %e,
                            "failed to delete entry; logged again only once it goes through or fails otherwise");
                    }
                    // The resource that declared the entry hears of it; an entry nothing has
                    // declared since start-up has no one to tell but the log.
                    applied.failures.push(Refusal {
                        owner: owner.map(|o| o.uid).unwrap_or_default(),
                        // The scope that planned it, which is not the one of its selectors
                        // when they were edited into another behind the operator's back.
                        scope: (*scope).clone(),
                        message: format!("could not delete entry {id} ({}): {}", delete.entry.spiffe_id, e.message),
                    });
                }
            }
        }
    }

    let creates: Vec<_> = plans.iter().flat_map(|(_, p)| &p.creates).collect();
    if !creates.is_empty() {
        let entries: Vec<_> = creates.iter().map(|c| c.entry.clone()).collect();
        for (create, outcome) in creates.iter().zip(spire.batch_create_entries(&entries).await?) {
            let owner = &create.source;
            let planned_id = create.entry.id.clone().expect("planned creates have IDs");
            let answer = match &outcome {
                CreateOutcome::Created(_) => Ok(()),
                // The entry stands under the planned ID: an earlier try that timed out went in.
                CreateOutcome::AlreadyExists(existing) if existing.id == create.entry.id => Ok(()),
                CreateOutcome::AlreadyExists(existing) => Err(ItemError {
                    code: Code::AlreadyExists,
                    message: format!(
                        "an entry with the same SPIFFE ID, parent ID and selectors exists ({})",
                        existing.id.as_ref().map(|i| i.as_str()).unwrap_or_default()
                    ),
                }),
                CreateOutcome::Failed(e) => Err(e.clone()),
            };
            applied.answers.insert(planned_id.clone(), answer);
            let team = (log.team)(&owner.uid);
            let pod = log.pod_of(&create.entry);
            let (pod_namespace, pod_name) = shown(&pod);
            let team = team.map(tracing::field::display);
            match outcome {
                CreateOutcome::Created(entry) => {
                    log.went_through(&planned_id);
                    tracing::info!(entry_id = %entry.id.as_ref().map(|i| i.as_str()).unwrap_or_default(), spiffe_id = %entry.spiffe_id,
                        owner_kind = ?owner.kind, owner = %owner.name, team, pod_namespace, pod = pod_name, "created entry");
                    applied.created_in.push(Scope::of(&entry));
                    let id = entry.id.clone();
                    index.insert(entry);
                    if let Some(id) = id {
                        index.set_owner(&id, owner);
                    }
                    applied.created += 1;
                }
                CreateOutcome::AlreadyExists(existing) => {
                    // An equal entry appeared since the index was built: take it into account and
                    // plan its scope again.
                    // A foreign one is remembered too, so the next plan sees the declaration
                    // realised instead of creating it again.
                    applied.replan.insert(Scope::of(&existing));
                    // The standing entry may have been kept in another scope, the one the
                    // operator wrote it to: that scope is planned again too.
                    if let Some(home) = existing.id.as_ref().and_then(|id| index.scope_of(id)) {
                        applied.replan.insert(home);
                    }
                    match ownership.claim(&existing) {
                        Claim::Foreign => index.insert_foreign(existing),
                        Claim::Owned | Claim::Adoptable => {
                            let mut declared = create.entry.clone();
                            declared.id.clone_from(&existing.id);
                            applied.met.push((DriftClass::Modified, declared));
                            index.insert(existing);
                        }
                    }
                }
                CreateOutcome::Failed(e) => {
                    if log.first_failure(&planned_id, &e.message) {
                        tracing::warn!(entry_id = %planned_id, spiffe_id = %create.entry.spiffe_id, owner_kind = ?owner.kind,
                            owner = %owner.name, team, pod_namespace, pod = pod_name, error = %e,
                            "failed to create entry; logged again only once it goes through or fails otherwise");
                    }
                    applied.failures.push(Refusal {
                        owner: owner.uid.clone(),
                        scope: Scope::of(&create.entry),
                        message: format!("{}: {}", create.entry.spiffe_id, e.message),
                    });
                }
            }
        }
    }

    // One call per distinct mask: SPIRE takes one input mask per batch.
    let mut updates_by_mask: BTreeMap<EntryMask, Vec<_>> = BTreeMap::new();
    for update in plans.iter().flat_map(|(_, p)| &p.updates) {
        updates_by_mask.entry(update.mask).or_default().push(update);
    }
    for (mask, updates) in updates_by_mask {
        let entries: Vec<_> = updates.iter().map(|u| u.entry.clone()).collect();
        for (update, result) in updates.iter().zip(spire.batch_update_entries(&entries, mask).await?) {
            if let Some(id) = &update.entry.id {
                applied.answers.insert(id.clone(), result.as_ref().map(|_| ()).map_err(Clone::clone));
            }
            let team = (log.team)(&update.source.uid);
            let pod = log.pod_of(&update.entry);
            let (pod_namespace, pod_name) = shown(&pod);
            let team = team.map(tracing::field::display);
            match result {
                Ok(entry) => {
                    if let Some(id) = &update.entry.id {
                        log.went_through(id);
                    }
                    tracing::info!(entry_id = %entry.id.as_ref().map(|i| i.as_str()).unwrap_or_default(), spiffe_id = %entry.spiffe_id,
                        owner_kind = ?update.source.kind, owner = %update.source.name, team, pod_namespace, pod = pod_name,
                        fields = %mask, "updated entry");
                    let id = entry.id.clone();
                    index.insert(entry);
                    if let Some(id) = id {
                        index.set_owner(&id, &update.source);
                    }
                    applied.updated += 1;
                }
                Err(e) if e.code == Code::NotFound => {
                    if let Some(id) = &update.entry.id {
                        index.remove(id);
                    }
                    applied.met.push((DriftClass::Missing, update.entry.clone()));
                    applied.replan.insert(Scope::of(&update.entry));
                }
                Err(e) => {
                    let first = update.entry.id.as_ref().is_none_or(|id| log.first_failure(id, &e.message));
                    if first {
                        tracing::warn!(entry_id = %update.entry.id.as_ref().map(|i| i.as_str()).unwrap_or_default(),
                            spiffe_id = %update.entry.spiffe_id, owner_kind = ?update.source.kind, owner = %update.source.name,
                            team, pod_namespace, pod = pod_name, fields = %mask, error = %e,
                            "failed to update entry; logged again only once it goes through or fails otherwise");
                    }
                    applied.failures.push(Refusal {
                        owner: update.source.uid.clone(),
                        scope: Scope::of(&update.entry),
                        message: format!("{}: {}", update.entry.spiffe_id, e.message),
                    });
                }
            }
        }
    }
    Ok(())
}
