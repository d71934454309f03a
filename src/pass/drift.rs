//! Between plan and report: which of the scope's writes repair drift, and which of those the
//! `driftPolicy` withholds.
//!
//! Under `Enforce` a repairing write stays in the plan, marked with its [`DriftClass`]; under
//! `Report` it leaves the plan and is only reported. A write the user's own change of the
//! declaration calls for is no repair ([`classify`] compares the declaration with the one
//! recorded at detection), so it is never withheld. Foreign entries are only ever reported.

use super::Snapshot;
use crate::{
    drift::{DriftClass, DriftPolicy, Finding, Memory, classify},
    reconcile::{Claim, Plan, Scope, Source, SourceKind},
    spiffe::Entry,
};

/// The drift of one scope: classifies the plan's writes, then marks the repairs the policy
/// allows and takes out those it withholds.
pub fn review(snapshot: &Snapshot<'_>, scope: &Scope, plan: &mut Plan) -> Vec<Finding> {
    let memory = snapshot.ledger.map_or(Memory::Stateless, Memory::Ledger);
    let foreign: Vec<Entry> =
        snapshot.index.scope(scope).into_iter().filter(|e| snapshot.ownership.claim(e) == Claim::Foreign).collect();
    let governs = |id: &crate::spiffe::SpiffeId| snapshot.governance.governing_space(id.path()).map(|p| p.name.clone());
    let owner = |id: &crate::spiffe::EntryId| snapshot.index.owner(id).cloned();
    let mut findings = classify(plan, memory, &foreign, &governs, &owner);
    for finding in &mut findings {
        if finding.class == DriftClass::Foreign {
            continue;
        }
        let repair = policy_of(snapshot, finding.source.as_ref()) == DriftPolicy::Enforce;
        // In observe mode the repair stays in the plan, to be counted and recorded as observed,
        // but nothing is written: the drift stands.
        finding.repaired = repair && snapshot.config.mode != crate::config::Mode::Observe;
        let class = Some(finding.class);
        match finding.class {
            DriftClass::Modified => {
                // An update in place, of key fields too when they were edited.
                let id = finding.entry_id.as_ref();
                if repair {
                    plan.updates.iter_mut().filter(|u| u.entry.id.as_ref() == id).for_each(|u| u.drift = class);
                } else {
                    plan.updates.retain(|u| u.entry.id.as_ref() != id);
                }
            }
            DriftClass::Missing => {
                let is = |e: &Entry| crate::reconcile::EntryKey::of(e) == finding.key;
                if repair {
                    plan.creates.iter_mut().filter(|c| is(&c.entry)).for_each(|c| c.drift = class);
                } else {
                    plan.creates.retain(|c| !is(&c.entry));
                }
            }
            DriftClass::Unexpected => {
                let id = finding.entry_id.as_ref();
                if repair {
                    plan.deletes.iter_mut().filter(|d| d.entry.id.as_ref() == id).for_each(|d| d.drift = class);
                } else {
                    plan.deletes.retain(|d| d.entry.id.as_ref() != id);
                }
            }
            DriftClass::Foreign => {}
        }
    }
    findings
}

/// The `driftPolicy` of a resource: its own `spec.driftPolicy`, else the configuration's. An
/// entry nothing declares (and whose last declaring resource is not known) follows the
/// configuration.
pub fn policy_of(snapshot: &Snapshot<'_>, source: Option<&Source>) -> DriftPolicy {
    let own = source.and_then(|s| match s.kind {
        SourceKind::ClusterStaticEntry => snapshot.statics.meta(&s.uid).and_then(|m| m.drift_policy),
        _ => snapshot.identities.iter().find(|i| i.source.uid == s.uid).and_then(|i| i.meta.drift_policy),
    });
    own.unwrap_or(snapshot.config.drift_policy)
}
