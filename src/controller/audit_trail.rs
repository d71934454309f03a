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
    /// Planned writes, by entry ID, until SPIRE answers.
    pending: HashMap<EntryId, Record>,
    /// Writes recorded as observed or held, so that planning them again records nothing new.
    withheld: HashSet<(EntryId, audit::Action, audit::Outcome)>,
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
            withheld: HashSet::new(),
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
        let records: Vec<Record> = written_ids(plans)
            .filter_map(|id| {
                let record = self.pending.remove(id)?;
                self.withheld.retain(|(w, _, _)| w != id);
                let unsent = unsent.as_ref().map(|(code, message)| (*code, message.as_str()));
                Some(audit::settle(record, applied.answers.get(id), unsent))
            })
            .collect();
        self.write(&records);
    }

    /// Records writes not sent on purpose (`outcome` observed or held), each once while it
    /// stays withheld.
    pub fn withhold<'a>(&mut self, ids: impl IntoIterator<Item = &'a EntryId>, outcome: audit::Outcome) {
        if !self.is_on() {
            return;
        }
        let mut records = Vec::new();
        for id in ids {
            let Some(record) = self.pending.remove(id) else { continue };
            if self.withheld.insert((id.clone(), record.action, outcome)) {
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
                    kind: audit::kind_name(note.kind),
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

/// The entry IDs every write of the plans is for.
fn written_ids(plans: &[(Scope, Plan)]) -> impl Iterator<Item = &EntryId> {
    plans.iter().flat_map(|(_, p)| {
        p.creates
            .iter()
            .filter_map(|c| c.entry.id.as_ref())
            .chain(p.updates.iter().filter_map(|u| u.entry.id.as_ref()))
            .chain(p.deletes.iter().filter_map(|d| d.entry.id.as_ref()))
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
        self.trail.pending.extend(pending.writes);
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
