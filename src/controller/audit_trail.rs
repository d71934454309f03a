//! The worker's side of the audit: what it knows of the world to explain a pass, the records
//! waiting for SPIRE's answers, and the policy decisions already recorded.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::{
    apply::Applied,
    worker::{Worker, withheld::Note},
};
use crate::{
    api::v1alpha1,
    audit::{self, Attribution, Decisions, Owner, Record, Resource, ScopeFacts, Sink},
    pass::ScopeOutcome,
    reconcile::{Plan, Scope, Source},
    spiffe::EntryId,
};

/// Records in the making, and what has been recorded.
pub struct Trail {
    pub sink: Arc<Sink>,
    /// Planned writes, by entry ID and action (a key field edited is a create and a delete of
    /// one ID), until SPIRE answers.
    pending: HashMap<(EntryId, audit::Action), Record>,
    /// Per scope, the writes recorded as observed or held, so that planning them again records
    /// nothing new; forgotten once the scope no longer plans them.
    withheld: HashMap<Scope, HashSet<(EntryId, audit::Action, audit::Outcome)>>,
    /// Why writes that failed were made, so that their retries keep the reason (a pod's entry
    /// tried while SPIRE was away is still for the pod that was created); forgotten once the
    /// write goes, or once its scope no longer plans it.
    retried: HashMap<(EntryId, audit::Action), (Scope, audit::Reason)>,
    /// The policy decisions recorded, per scope.
    decisions: HashMap<Scope, Decisions>,
    /// The resources that declare entries, by UID, as last seen; kept after a resource is
    /// deleted so that the deletion of its entries names it.
    resources: HashMap<String, (Resource, Option<Owner>)>,
}

impl Trail {
    pub fn new(sink: Arc<Sink>) -> Self {
        Self {
            sink,
            pending: HashMap::new(),
            withheld: HashMap::new(),
            retried: HashMap::new(),
            decisions: HashMap::new(),
            resources: HashMap::new(),
        }
    }

    pub fn is_on(&self) -> bool {
        self.sink.is_on()
    }

    /// Writes records at once.
    pub fn write(&self, records: &[Record]) {
        self.sink.write(records);
    }

    /// Ends the records of the writes of `plans` with what SPIRE answered, and writes them.
    pub fn settle(&mut self, plans: &[(Scope, Plan)], applied: &Applied) {
        if !self.is_on() {
            return;
        }
        let unsent = applied.unavailable.as_ref().map(|e| (e.code(), e.to_string()));
        let records: Vec<Record> = written(plans)
            .filter_map(|(scope, id, action)| {
                let record = self.pending.remove(&(id.clone(), action))?;
                if let Some(withheld) = self.withheld.get_mut(scope) {
                    withheld.retain(|(w, a, _)| (w, *a) != (id, action));
                }
                let unsent = unsent.as_ref().map(|(code, message)| (*code, message.as_str()));
                let record = audit::settle(record, applied.answers.get(id), unsent);
                if record.outcome == audit::Outcome::Failed {
                    self.retried.insert((id.clone(), action), (scope.clone(), record.reason));
                } else {
                    self.retried.remove(&(id.clone(), action));
                }
                Some(record)
            })
            .collect();
        self.write(&records);
    }

    /// Records writes not sent on purpose (`outcome` observed or held), each once while it
    /// stays withheld.
    pub fn withhold<'a>(
        &mut self,
        writes: impl IntoIterator<Item = (&'a Scope, &'a EntryId, audit::Action)>,
        outcome: audit::Outcome,
    ) {
        if !self.is_on() {
            return;
        }
        let mut records = Vec::new();
        for (scope, id, action) in writes {
            let Some(record) = self.pending.remove(&(id.clone(), action)) else { continue };
            if self.withheld.entry(scope.clone()).or_default().insert((id.clone(), action, outcome)) {
                let record = audit::withheld(record, outcome);
                records.push(match outcome {
                    audit::Outcome::Held => {
                        record.message("held by the deletion circuit breaker until a person confirms it")
                    }
                    _ => record.message("observe mode: not written to SPIRE"),
                });
            }
        }
        self.write(&records);
    }

    /// Records drift found and left as it is (a repair is recorded with its write).
    pub fn drift(&self, findings: &[crate::drift::Finding]) {
        if !self.is_on() {
            return;
        }
        let now = Timestamp::now();
        let records: Vec<Record> = findings
            .iter()
            .filter(|f| !f.repaired)
            .map(|f| {
                let (resource, owner) = match f.source.as_ref().and_then(|s| self.resources.get(&s.uid)) {
                    Some((resource, owner)) => (Some(resource.clone()), owner.clone()),
                    None => (None, None),
                };
                let mut record =
                    Record::new(now, audit::Action::DriftDetected, audit::Outcome::Success, audit::Reason::Drift)
                        .fields(f.fields)
                        .resource(resource, owner)
                        .policy(f.policy.clone())
                        .message(f.describe());
                record.entry_id = f.entry_id.as_ref().map(|id| id.as_str().to_owned());
                record.spiffe_id = Some(f.spiffe_id.to_string());
                record.parent_id = Some(f.parent_id.to_string());
                record
            })
            .collect();
        self.write(&records);
    }

    /// Records what the circuit breaker announces of a resource: deletions held or confirmed.
    pub fn note(&mut self, note: &Note) {
        use crate::api::conditions::reasons;
        let (action, outcome, reason) = match note.reason {
            reasons::DELETION_HELD => (audit::Action::DeletionHeld, audit::Outcome::Held, audit::Reason::MassDeletion),
            reasons::DELETION_CONFIRMED => {
                (audit::Action::DeletionConfirmed, audit::Outcome::Success, audit::Reason::Confirmed)
            }
            _ => return,
        };
        let (resource, owner) = match self.resources.get(&note.uid) {
            Some((resource, owner)) => (resource.clone(), owner.clone()),
            None => (
                Resource {
                    kind: note.kind.kind().1,
                    namespace: note.namespace.clone(),
                    name: note.name.clone(),
                    uid: note.uid.clone(),
                    generation: None,
                },
                None,
            ),
        };
        let record = Record::new(Timestamp::now(), action, outcome, reason)
            .resource(Some(resource), owner)
            .message(note.message.clone());
        self.write(&[record]);
    }
}

/// Every write of the plans: its scope, entry ID and action.
pub fn written(plans: &[(Scope, Plan)]) -> impl Iterator<Item = (&Scope, &EntryId, audit::Action)> {
    use audit::Action::{Create, Delete, Update};
    plans.iter().flat_map(|(scope, p)| {
        let creates = p.creates.iter().filter_map(move |c| Some((scope, c.entry.id.as_ref()?, Create)));
        let updates = p.updates.iter().filter_map(move |u| Some((scope, u.entry.id.as_ref()?, Update)));
        let deletes = p.deletes.iter().filter_map(move |d| Some((scope, d.entry.id.as_ref()?, Delete)));
        creates.chain(updates).chain(deletes)
    })
}

/// The worker as the audit sees it.
struct Known<'a> {
    worker: &'a Worker,
    resources: &'a HashMap<String, (Resource, Option<Owner>)>,
}

impl Attribution for Known<'_> {
    fn resource(&self, source: &Source) -> (Option<Resource>, Option<Owner>) {
        match self.resources.get(&source.uid) {
            Some((resource, owner)) => (Some(resource.clone()), owner.clone()),
            None => {
                let resource = Resource {
                    kind: audit::kind_name(source.kind),
                    namespace: None,
                    name: source.name.clone(),
                    uid: source.uid.clone(),
                    generation: None,
                };
                (Some(resource), None)
            }
        }
    }

    fn declared_by(&self, id: &EntryId) -> Option<Source> {
        self.worker.index().owner(id).cloned()
    }

    fn exists(&self, uid: &str) -> bool {
        self.worker.identities().get(uid).is_some_and(|i| i.source.deleting_at.is_none())
            || self.worker.statics().list().any(|s| s.source.uid == uid)
    }

    fn pod_known(&self, scope: &Scope) -> bool {
        matches!(scope, Scope::Pod(uid) if self.worker.records.contains_key(uid))
    }
}

impl Worker {
    /// Records what a pass decided, before its outcomes are taken in: its writes wait for
    /// SPIRE's answers; its new policy decisions are written now.
    pub(super) fn audit_pass(&mut self, outcomes: &[ScopeOutcome], now: Timestamp) {
        if !self.trail.is_on() {
            return;
        }
        let mut resources = std::mem::take(&mut self.trail.resources);
        self.refresh_resources(&mut resources);
        let mut decided = Vec::new();
        let mut pending = PassRecords::default();
        {
            let known = Known { worker: self, resources: &resources };
            for outcome in outcomes {
                let before = self.trail.decisions.get(&outcome.scope);
                let facts = ScopeFacts {
                    pod_present: outcome.pod_present,
                    verdicts: &outcome.judged,
                    lapsed: &outcome.lapsed,
                    before,
                };
                pending.writes.extend(audit::planned(&outcome.scope, &outcome.plan, facts, &known, now));
                let (after, records) = audit::decisions(before, &outcome.judged, &known, now);
                decided.extend(records);
                pending.decisions.insert(outcome.scope.clone(), after);
            }
        }
        for (scope, after) in pending.decisions {
            if after.is_empty() {
                self.trail.decisions.remove(&scope);
            } else {
                self.trail.decisions.insert(scope, after);
            }
        }
        let retried = &self.trail.retried;
        let writes = pending.writes.into_iter().map(|(id, mut record)| {
            if let Some((_, reason)) = retried.get(&(id.clone(), record.action)) {
                record.reason = *reason;
            }
            ((id, record.action), record)
        });
        let writes: Vec<_> = writes.collect();
        self.trail.pending.extend(writes);
        // What a scope no longer plans is no longer withheld, nor retried.
        for outcome in outcomes {
            let plan = &outcome.plan;
            let planned = |id: &EntryId, action: audit::Action| {
                let is = |planned: &Option<EntryId>| planned.as_ref() == Some(id);
                match action {
                    audit::Action::Create => plan.creates.iter().any(|c| is(&c.entry.id)),
                    audit::Action::Update => plan.updates.iter().any(|u| is(&u.entry.id)),
                    audit::Action::Delete => plan.deletes.iter().any(|d| is(&d.entry.id)),
                    _ => false,
                }
            };
            self.trail.retried.retain(|(id, action), (scope, _)| *scope != outcome.scope || planned(id, *action));
            let Some(withheld) = self.trail.withheld.get_mut(&outcome.scope) else { continue };
            withheld.retain(|(id, action, _)| planned(id, *action));
            if withheld.is_empty() {
                self.trail.withheld.remove(&outcome.scope);
            }
        }
        self.trail.write(&decided);
        self.trail.resources = resources;
    }

    /// Reads every resource that declares entries from the caches, over what was known.
    fn refresh_resources(&self, resources: &mut HashMap<String, (Resource, Option<Owner>)>) {
        let owner = |o: Option<&v1alpha1::Owner>| o.map(|o| Owner { team: o.team.clone(), contact: o.contact.clone() });
        let mut put = |kind: &str, meta: &kube::api::ObjectMeta, o: Option<Owner>| {
            let uid = meta.uid.clone().unwrap_or_default();
            let resource = Resource {
                kind: kind.to_owned(),
                namespace: meta.namespace.clone(),
                name: meta.name.clone().unwrap_or_default(),
                uid: uid.clone(),
                generation: meta.generation,
            };
            resources.insert(uid, (resource, o));
        };
        for object in self.stores.identities().objects {
            put("ClusterSPIFFEID", &object.metadata, owner(object.spec.owner.as_ref()));
        }
        for object in self.stores.tenant_identities().objects {
            put("SPIFFEID", &object.metadata, owner(object.spec.owner.as_ref()));
        }
        for object in self.stores.static_entries().objects {
            put("ClusterStaticEntry", &object.metadata, owner(object.spec.owner.as_ref()));
        }
        // Forget resources that are gone and no longer own an entry.
        let owners: std::collections::BTreeSet<&str> = self.index().owners().map(|s| s.uid.as_str()).collect();
        let present: std::collections::BTreeSet<String> = self
            .stores
            .identities()
            .objects
            .iter()
            .filter_map(|o| o.uid())
            .chain(self.stores.tenant_identities().objects.iter().filter_map(|o| o.uid()))
            .chain(self.stores.static_entries().objects.iter().filter_map(|o| o.uid()))
            .collect();
        resources.retain(|uid, _| present.contains(uid) || owners.contains(uid.as_str()));
    }
}

/// What one pass adds to the trail.
#[derive(Default)]
struct PassRecords {
    writes: Vec<(EntryId, Record)>,
    decisions: BTreeMap<Scope, Decisions>,
}
