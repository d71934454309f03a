//! From a pass to audit records: which writes it planned and why, which policy decisions are
//! new, and, once SPIRE answered, how each write ended. Pure: the worker gives what it knows and
//! writes the records out.

use std::collections::BTreeMap;

use k8s_openapi::jiff::Timestamp;
use tonic::Code;

use super::{Action, Outcome, Owner, Reason, Record, Resource};
use crate::{
    policy::{Bound, Verdict},
    reconcile::{Declaration, DeleteReason, Plan, Scope, Source},
    spiffe::{Entry, EntryId},
    spire::ItemError,
};

/// What the worker tells of the world to explain a pass.
pub trait Attribution {
    /// The resource behind a source, with its owner team, as last seen.
    fn resource(&self, source: &Source) -> (Option<Resource>, Option<Owner>);
    /// The resource that declared an existing entry when last planned, if known.
    fn declared_by(&self, id: &EntryId) -> Option<Source>;
    /// Whether the resource (by UID) still declares: it exists and is not being deleted.
    fn exists(&self, uid: &str) -> bool;
    /// Whether the pod of a pod scope was planned before this pass.
    fn pod_known(&self, scope: &Scope) -> bool;
}

/// What the pass found of one scope, besides its plan, that explains deletions.
#[derive(Clone, Copy, Debug)]
pub struct ScopeFacts<'a> {
    /// False when the pod of a pod scope is gone.
    pub pod_present: bool,
    /// The verdicts on the scope's declarations, by source UID.
    pub verdicts: &'a [(Declaration, Verdict)],
    /// ClusterStaticEntries (by UID) past their `expiresAt`.
    pub lapsed: &'a [String],
    /// The decisions recorded when the scope was last planned.
    pub before: Option<&'a Decisions>,
}

/// A record waiting for SPIRE's answer, by the entry ID the write is for.
pub type Pending = Vec<(EntryId, Record)>;

/// The records of the writes a scope's plan makes, before they are sent.
pub fn planned(scope: &Scope, plan: &Plan, facts: ScopeFacts<'_>, world: &dyn Attribution, now: Timestamp) -> Pending {
    let mut pending = Pending::new();
    let clamp_of = |source: &Source, declaration: &crate::spiffe::Entry| {
        facts
            .verdicts
            .iter()
            .find(|(d, v)| {
                d.source.uid == source.uid
                    && d.entry.spiffe_id == declaration.spiffe_id
                    && v.decision.ttl_set_by_bound()
            })
            .and_then(|(_, v)| bound_policy(v))
    };
    for create in &plan.creates {
        let reason = if create.drift.is_some() {
            Reason::DriftRepaired
        } else if matches!(scope, Scope::Pod(_)) && !world.pod_known(scope) {
            Reason::PodCreated
        } else {
            Reason::DeclarationChanged
        };
        let (resource, owner) = world.resource(&create.source);
        let record = Record::new(now, Action::Create, Outcome::Success, reason)
            .entry(&create.entry)
            .resource(resource, owner)
            .policy(clamp_of(&create.source, &create.entry));
        push(&mut pending, &create.entry.id, record);
    }
    for update in &plan.updates {
        let ttl_only = update
            .mask
            .fields()
            .all(|f| matches!(f, crate::spiffe::EntryField::X509SvidTtl | crate::spiffe::EntryField::JwtSvidTtl));
        let policy = clamp_of(&update.source, &update.entry);
        let reason = match () {
            () if update.drift.is_some() => Reason::DriftRepaired,
            () if ttl_only && policy.is_some() => Reason::TtlClamped,
            () => Reason::DeclarationChanged,
        };
        let (resource, owner) = world.resource(&update.source);
        let record = Record::new(now, Action::Update, Outcome::Success, reason)
            .entry(&update.entry)
            .fields(update.mask)
            .resource(resource, owner)
            .policy(policy);
        push(&mut pending, &update.entry.id, record);
    }
    for delete in &plan.deletes {
        let Some(id) = &delete.entry.id else { continue };
        let source = world.declared_by(id);
        let why = match delete.reason {
            _ if delete.drift.is_some() => Why::of(Reason::DriftRepaired),
            DeleteReason::Duplicate => Why::of(Reason::Duplicate),
            DeleteReason::Undeclared => why_undeclared(&delete.entry, source.as_ref(), facts, world),
        };
        let (resource, owner) = source.as_ref().map(|s| world.resource(s)).unwrap_or_default();
        let record = Record::new(now, Action::Delete, Outcome::Success, why.reason)
            .entry(&delete.entry)
            .resource(resource, owner)
            .policy(why.policy)
            .exception(why.exception);
        push(&mut pending, &delete.entry.id, record);
    }
    pending
}

fn push(pending: &mut Pending, id: &Option<EntryId>, record: Record) {
    if let Some(id) = id {
        pending.push((id.clone(), record));
    }
}

/// Why a deletion is made, with the policy and exception involved.
struct Why {
    reason: Reason,
    policy: Option<String>,
    exception: Option<String>,
}

impl Why {
    fn of(reason: Reason) -> Self {
        Self { reason, policy: None, exception: None }
    }
}

/// Why an entry nothing declares any more goes. A denial of an entry that an exception allowed
/// when last planned is the exception lapsing.
fn why_undeclared(entry: &Entry, source: Option<&Source>, facts: ScopeFacts<'_>, world: &dyn Attribution) -> Why {
    if !facts.pod_present {
        return Why::of(Reason::PodDeleted);
    }
    let Some(source) = source else { return Why::of(Reason::DeclarationChanged) };
    if facts.lapsed.contains(&source.uid) {
        return Why::of(Reason::ExceptionLapsed);
    }
    let denial = facts
        .verdicts
        .iter()
        .find(|(d, v)| d.source.uid == source.uid && d.entry.spiffe_id == entry.spiffe_id && !v.decision.allowed);
    if let Some((_, verdict)) = denial {
        let policy = verdict.decision.denials.iter().find(|d| d.enforced).map(|d| d.policy.clone());
        let key = (source.uid.clone(), entry.spiffe_id.to_string());
        let relied_on = facts.before.and_then(|b| b.get(&key)).filter(|d| d.denied_by.is_none());
        return match relied_on.and_then(|d| d.exceptions.first()) {
            Some(exception) => Why { reason: Reason::ExceptionLapsed, policy, exception: Some(exception.clone()) },
            None => Why { reason: Reason::PolicyDenied, policy, exception: None },
        };
    }
    if !world.exists(&source.uid) {
        return Why::of(Reason::IdentityDeleted);
    }
    Why::of(Reason::DeclarationChanged)
}

/// The policy (or exception) whose bound set a TTL of an allowed verdict.
fn bound_policy(verdict: &Verdict) -> Option<String> {
    let d = &verdict.decision;
    d.x509_ttl.bound_by.as_ref().or(d.jwt_ttl.bound_by.as_ref()).map(|(name, _)| name.clone())
}

/// Ends a planned record with SPIRE's answer. `unsent` says why a write was not sent when it
/// has no answer (the call before it failed).
pub fn settle(mut record: Record, answer: Option<&Result<(), ItemError>>, unsent: Option<(Code, &str)>) -> Record {
    match (answer, unsent) {
        (Some(Ok(())), _) => record,
        (Some(Err(e)), _) => record.failed(e.code, &e.message),
        (None, Some((code, message))) => record.failed(code, message),
        (None, None) => {
            record.outcome = Outcome::Failed;
            record
        }
    }
}

/// A record kept as planned with another outcome: nothing was sent on purpose.
pub fn withheld(mut record: Record, outcome: Outcome) -> Record {
    record.outcome = outcome;
    record
}

/// A policy decision on one declared entry, as far as the audit tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    denied_by: Option<String>,
    clamped_by: Option<String>,
    /// The exceptions the decision relied on.
    exceptions: Vec<String>,
}

/// The decisions of one scope, by (source UID, SPIFFE ID).
pub type Decisions = BTreeMap<(String, String), Decided>;

/// The records of the policy decisions of a scope that are new since it was last planned: a
/// denial, or a clamp, that did not apply to the same entry before. Returns the scope's
/// decisions now, to be kept for the next comparison.
pub fn decisions(
    before: Option<&Decisions>,
    verdicts: &[(Declaration, Verdict)],
    world: &dyn Attribution,
    now: Timestamp,
) -> (Decisions, Vec<Record>) {
    let mut records = Vec::new();
    let mut after = Decisions::new();
    for (declaration, verdict) in verdicts {
        let d = &verdict.decision;
        let enforced = d.denials.iter().find(|x| x.enforced);
        let decided = Decided {
            denied_by: (!d.allowed).then(|| enforced.map(|x| x.policy.clone()).unwrap_or_default()),
            clamped_by: d.ttl_set_by_bound().then(|| bound_policy(verdict)).flatten(),
            exceptions: d.exceptions_used.iter().map(|(name, _)| name.clone()).collect(),
        };
        let key = (declaration.source.uid.clone(), declaration.entry.spiffe_id.to_string());
        let was = before.and_then(|b| b.get(&key));
        let (resource, owner) = world.resource(&declaration.source);
        if decided.denied_by.is_some() && was.is_none_or(|w| w.denied_by != decided.denied_by) {
            let message = enforced
                .map(|x| format!("{} by IdentityPolicy {}: {}", x.rule.as_str(), x.policy, x.value))
                .unwrap_or_default();
            records.push(
                Record::new(now, Action::Deny, Outcome::Denied, Reason::PolicyDenied)
                    .entry(&declaration.entry)
                    .resource(resource.clone(), owner.clone())
                    .policy(decided.denied_by.clone())
                    .message(message),
            );
        }
        if decided.clamped_by.is_some() && was.is_none_or(|w| w.clamped_by != decided.clamped_by) {
            let exception = [&d.x509_ttl, &d.jwt_ttl]
                .iter()
                .find_map(|e| e.bound_by.as_ref().filter(|(_, b)| *b == Bound::ExceptionMax).map(|(n, _)| n.clone()));
            let policy = if exception.is_some() { None } else { decided.clamped_by.clone() };
            records.push(
                Record::new(now, Action::Clamp, Outcome::Success, Reason::TtlClamped)
                    .entry(&declaration.entry)
                    .resource(resource, owner)
                    .policy(policy)
                    .exception(exception)
                    .message(clamp_message(verdict)),
            );
        }
        after.insert(key, decided);
    }
    (after, records)
}

fn clamp_message(verdict: &Verdict) -> String {
    let d = &verdict.decision;
    let show = |s: Option<u32>| s.map_or_else(|| "unset".to_owned(), |s| format!("{s}s"));
    [("x509", &d.x509_ttl), ("jwt", &d.jwt_ttl)]
        .iter()
        .filter_map(|(kind, e)| {
            e.bound_by.as_ref().map(|(name, bound)| {
                format!("{kind} TTL {} set to {} by {name} {bound:?}", show(e.requested), show(e.seconds))
            })
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[path = "trail_tests.rs"]
mod tests;
