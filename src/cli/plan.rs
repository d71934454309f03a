//! `spire-steward plan`: what a reconcile would create, update and delete, and why.
//!
//! The JSON form (`-o json`) is one object, `schemaVersion` [`SCHEMA_VERSION`]; fields are only
//! added within a version:
//! - `creates`, `updates`, `deletes`: the writes, each with `spiffeID`, `parentID`, `entryID`,
//!   `selectors`, the `source` resource (`kind`, `namespace`, `name`) when known, the `pod`
//!   (`namespace`, `name`) of a pod entry, a `reason` (`Declared`, `Changed`, `Undeclared`,
//!   `Duplicate`, `PolicyDenied`, `Expired`), `fields` (an update's differing fields) and `detail`;
//! - `kept`: undeclared entries kept because an input that may declare them is missing (reason
//!   `InputMissing`);
//! - `foreignConflicts`: declarations an entry the operator does not own already stands for
//!   (reason `ForeignEntry`, `entryID` the foreign entry's);
//! - `denied`, `auditViolations`: the broken rules (`policy`, `rule`, `value`, `enforced`) of
//!   entries an Enforce policy denies, or an Audit policy reports;
//! - `clamped`: TTLs a policy or exception bound sets (`svid` x509 or jwt, `requested`,
//!   `effective`, `boundBy`);
//! - `driftLeft`: drift the running operator recorded (its state ConfigMap's record) and leaves
//!   as it is under `driftPolicy: Report`, so its repair is not among the writes (`class`
//!   Modified, Missing or Unexpected, `entryID`, `spiffeID`, `fields`, `source`, `pod`);
//! - `summary`: the counts of each.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    catalog::{Catalog, EntryView, Judgement, PodRef, SourceRef, field_names, judgements, seconds},
    format::Table,
    snapshot::Evaluation,
};
use crate::{
    policy::{Bound, Effective, Verdict},
    reconcile::{DeleteReason, EntryKey},
};

pub const SCHEMA_VERSION: &str = "spire-steward.io/plan/v1";

/// One write, or one entry left alone.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    #[serde(flatten)]
    pub entry: EntryView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodRef>,
    pub reason: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One broken rule of one entry.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    #[serde(rename = "spiffeID")]
    pub spiffe_id: String,
    pub source: SourceRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodRef>,
    pub policy: String,
    pub rule: String,
    pub value: String,
    pub enforced: bool,
}

/// One TTL a bound sets.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Clamp {
    #[serde(rename = "spiffeID")]
    pub spiffe_id: String,
    pub source: SourceRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodRef>,
    pub svid: &'static str,
    pub requested: Option<String>,
    pub effective: Option<String>,
    pub bound_by: String,
}

/// Drift the operator recorded and leaves as it is.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct DriftLeft {
    #[serde(rename = "spiffeID")]
    pub spiffe_id: String,
    #[serde(rename = "entryID", skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    pub class: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodRef>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub kept: usize,
    pub foreign_conflicts: usize,
    pub denied: usize,
    pub audit_violations: usize,
    pub clamped: usize,
    pub drift_left: usize,
}

/// The plan of every scope.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    pub schema_version: &'static str,
    pub creates: Vec<Change>,
    pub updates: Vec<Change>,
    pub deletes: Vec<Change>,
    pub kept: Vec<Change>,
    pub foreign_conflicts: Vec<Change>,
    pub denied: Vec<Finding>,
    pub audit_violations: Vec<Finding>,
    pub clamped: Vec<Clamp>,
    pub drift_left: Vec<DriftLeft>,
    pub summary: Summary,
    /// What the running operator would do differently: observe mode, the deletion circuit
    /// breaker.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl PlanReport {
    /// A plan with nothing in it.
    pub fn empty() -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            creates: Vec::new(),
            updates: Vec::new(),
            deletes: Vec::new(),
            kept: Vec::new(),
            foreign_conflicts: Vec::new(),
            denied: Vec::new(),
            audit_violations: Vec::new(),
            clamped: Vec::new(),
            drift_left: Vec::new(),
            summary: Summary::default(),
            notes: Vec::new(),
        }
    }

    /// Whether a reconcile would write anything.
    pub fn has_changes(&self) -> bool {
        !(self.creates.is_empty() && self.updates.is_empty() && self.deletes.is_empty())
    }
}

/// The name of the bound that set a TTL, as status shows it.
pub fn bound_name((name, bound): &(String, Bound)) -> String {
    match bound {
        Bound::ExceptionMax => format!("IdentityException/{name} ttl max"),
        _ => format!("IdentityPolicy/{name} {}", bound.as_str()),
    }
}

/// The broken rules of a verdict.
fn findings(j: &Judgement<'_>, verdict: &Verdict, source: &SourceRef, pod: &Option<PodRef>) -> Vec<Finding> {
    verdict
        .decision
        .denials
        .iter()
        .map(|d| Finding {
            spiffe_id: j.declared.entry.spiffe_id.to_string(),
            source: source.clone(),
            pod: pod.clone(),
            policy: d.policy.clone(),
            rule: d.rule.as_str().to_owned(),
            value: d.value.clone(),
            enforced: d.enforced,
        })
        .collect()
}

/// Builds the plan from one evaluation.
pub fn plan(evaluation: &Evaluation, catalog: &Catalog) -> PlanReport {
    let mut report = PlanReport::empty();
    let unknown = |uid: &str| SourceRef { kind: "Unknown".into(), namespace: None, name: uid.to_owned() };
    let source_of = |uid: &str| catalog.source(uid).unwrap_or_else(|| unknown(uid));
    for judged in &evaluation.scopes {
        let outcome = &judged.outcome;
        let pod = catalog.pod(&outcome.scope);
        let judgements = judgements(judged);
        let by_key: BTreeMap<EntryKey, &Judgement<'_>> =
            judgements.iter().map(|j| (EntryKey::of(&j.declared.entry), j)).collect();
        for j in &judgements {
            let Some(verdict) = j.verdict else { continue };
            let source = source_of(&j.declared.source.uid);
            let found = findings(j, verdict, &source, &pod);
            if verdict.decision.allowed {
                report.audit_violations.extend(found);
                for (svid, effective) in [("x509", &verdict.decision.x509_ttl), ("jwt", &verdict.decision.jwt_ttl)] {
                    if let Effective { bound_by: Some(bound), seconds: set, requested } = effective {
                        report.clamped.push(Clamp {
                            spiffe_id: j.declared.entry.spiffe_id.to_string(),
                            source: source.clone(),
                            pod: pod.clone(),
                            svid,
                            requested: seconds(*requested),
                            effective: seconds(*set),
                            bound_by: bound_name(bound),
                        });
                    }
                }
            } else {
                report.denied.extend(found.into_iter().filter(|f| f.enforced));
            }
        }
        // Drift whose write left the plan: in observe mode a repair stays in it (marked), unwritten.
        let plan = &outcome.plan;
        let planned = |f: &&crate::drift::Finding| {
            plan.updates.iter().any(|u| u.drift.is_some() && u.entry.id == f.entry_id)
                || plan.creates.iter().any(|c| c.drift.is_some() && EntryKey::of(&c.entry) == f.key)
                || plan.deletes.iter().any(|d| d.drift.is_some() && d.entry.id == f.entry_id)
        };
        let left = outcome
            .drift
            .iter()
            .filter(|f| !f.repaired && f.class != crate::drift::DriftClass::Foreign)
            .filter(|f| !planned(f));
        for finding in left {
            report.drift_left.push(DriftLeft {
                spiffe_id: finding.spiffe_id.to_string(),
                entry_id: finding.entry_id.as_ref().map(|id| id.as_str().to_owned()),
                class: finding.class.as_str(),
                fields: field_names(finding.fields),
                source: finding.source.as_ref().map(|s| source_of(&s.uid)),
                pod: pod.clone(),
            });
        }
        for create in &plan.creates {
            report.creates.push(Change {
                entry: EntryView::of(&create.entry),
                source: Some(source_of(&create.source.uid)),
                pod: pod.clone(),
                reason: "Declared".into(),
                fields: Vec::new(),
                detail: Some("declared, not in SPIRE".into()),
            });
        }
        for update in &plan.updates {
            report.updates.push(Change {
                entry: EntryView::of(&update.entry),
                source: Some(source_of(&update.source.uid)),
                pod: pod.clone(),
                reason: "Changed".into(),
                fields: field_names(update.mask),
                detail: None,
            });
        }
        for delete in &plan.deletes {
            let declared = by_key.get(&EntryKey::of(&delete.entry));
            let (reason, detail, source) = match (declared, delete.reason) {
                (Some(j), DeleteReason::Undeclared) if j.denied() => {
                    let denial = j.verdict.and_then(|v| v.decision.denials.iter().find(|d| d.enforced));
                    ("PolicyDenied", denial.map(|d| d.to_string()), Some(source_of(&j.declared.source.uid)))
                }
                (Some(j), DeleteReason::Undeclared) if j.lapsed => {
                    ("Expired", Some("its expiresAt has passed".into()), Some(source_of(&j.declared.source.uid)))
                }
                (_, DeleteReason::Duplicate) => (
                    "Duplicate",
                    Some("another owned entry with the same key is kept".into()),
                    declared.map(|j| source_of(&j.declared.source.uid)),
                ),
                (_, DeleteReason::Undeclared) => (
                    "Undeclared",
                    Some("owned, and nothing declares it".into()),
                    delete.entry.id.as_ref().and_then(|id| evaluation.index.owner(id)).map(|s| source_of(&s.uid)),
                ),
            };
            report.deletes.push(Change {
                entry: EntryView::of(&delete.entry),
                source,
                pod: pod.clone(),
                reason: reason.into(),
                fields: Vec::new(),
                detail,
            });
        }
        for (entry, owner) in &plan.kept {
            report.kept.push(Change {
                entry: EntryView::of(entry),
                source: owner.as_deref().map(source_of),
                pod: pod.clone(),
                reason: "InputMissing".into(),
                fields: Vec::new(),
                detail: Some("undeclared, kept while an input that may declare it is missing".into()),
            });
        }
        for (declaration, id) in &plan.foreign_conflicts {
            let mut entry = EntryView::of(&declaration.entry);
            entry.entry_id = Some(id.as_str().to_owned());
            report.foreign_conflicts.push(Change {
                entry,
                source: Some(source_of(&declaration.source.uid)),
                pod: pod.clone(),
                reason: "ForeignEntry".into(),
                fields: Vec::new(),
                detail: Some("an entry the operator does not own stands for the declaration".into()),
            });
        }
    }
    for list in
        [&mut report.creates, &mut report.updates, &mut report.deletes, &mut report.kept, &mut report.foreign_conflicts]
    {
        list.sort();
    }
    report.denied.sort();
    report.audit_violations.sort();
    report.clamped.sort();
    report.drift_left.sort();
    report.summary = Summary {
        create: report.creates.len(),
        update: report.updates.len(),
        delete: report.deletes.len(),
        kept: report.kept.len(),
        foreign_conflicts: report.foreign_conflicts.len(),
        denied: report.denied.len(),
        audit_violations: report.audit_violations.len(),
        clamped: report.clamped.len(),
        drift_left: report.drift_left.len(),
    };
    report
}

fn source_cell(source: &Option<SourceRef>) -> String {
    source.as_ref().map_or_else(|| "-".into(), |s| s.to_string())
}

fn reason_cell(change: &Change) -> String {
    let mut out = change.reason.clone();
    if !change.fields.is_empty() {
        out.push_str(&format!(" ({})", change.fields.join(",")));
    }
    if let Some(pod) = &change.pod {
        out.push_str(&format!(" pod {pod}"));
    }
    if let Some(detail) = change.detail.as_ref().filter(|_| change.reason == "PolicyDenied") {
        out.push_str(&format!(": {detail}"));
    }
    out
}

/// What the running operator would do with the plan beyond writing it: nothing in observe
/// mode; deletions held by the circuit breaker ([`crate::breaker::Breaker::assess`]) when they
/// are too many of the `owned` entries, unless a person confirms them.
pub fn notes(report: &PlanReport, config: &crate::config::Config, owned: usize) -> Vec<String> {
    let mut notes = Vec::new();
    if config.mode == crate::config::Mode::Observe {
        notes.push("the operator runs in observe mode (mode: Observe): it writes none of this to SPIRE".to_owned());
    }
    // A duplicate's deletion keeps the identity: the breaker never judges it.
    let judged = report.deletes.iter().filter(|d| d.reason != "Duplicate").count();
    let breaker = &config.deletion_breaker;
    if let crate::breaker::Assessment::Held { deletes, owned } = breaker.assess(judged, owned, None) {
        notes.push(format!(
            "the deletion circuit breaker holds these {deletes} deletions ({deletes} of {owned} owned entries, above \
             {}%) until the resources that declared them carry the annotation spire-steward.io/confirm-deletions",
            breaker.max_share_percent
        ));
    }
    notes
}

/// The readable form: the writes, then what is kept or stands in, then the policy decisions,
/// then the summary line.
pub fn table(report: &PlanReport) -> String {
    let mut table = Table::new(&["ACTION", "SPIFFE ID", "PARENT/SELECTORS", "SOURCE", "REASON"]);
    for (action, list) in [
        ("create", &report.creates),
        ("update", &report.updates),
        ("delete", &report.deletes),
        ("keep", &report.kept),
        ("foreign", &report.foreign_conflicts),
    ] {
        for change in list {
            table.row(vec![
                action.to_owned(),
                change.entry.spiffe_id.clone(),
                change.entry.short_parent_and_selectors(),
                source_cell(&change.source),
                reason_cell(change),
            ]);
        }
    }
    let mut out = match (table.is_empty(), report.drift_left.is_empty()) {
        (false, _) => table.render(),
        (true, true) => "No changes: SPIRE is as declared.\n".to_owned(),
        (true, false) => "No writes: SPIRE is as declared but for the drift left as it is, below.\n".to_owned(),
    };
    let decisions: Vec<String> = report
        .denied
        .iter()
        .map(|f| ("denied", f))
        .chain(report.audit_violations.iter().map(|f| ("audit", f)))
        .map(|(what, f)| {
            let pod = f.pod.as_ref().map(|p| format!(" pod {p}")).unwrap_or_default();
            format!(
                "  {what:<7} {} ({}{pod}): IdentityPolicy {} rule {}: {}",
                f.spiffe_id, f.source, f.policy, f.rule, f.value
            )
        })
        .chain(report.clamped.iter().map(|c| {
            let pod = c.pod.as_ref().map(|p| format!(" pod {p}")).unwrap_or_default();
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "unset".into());
            format!(
                "  clamped {} ({}{pod}): {} TTL {} requested, {} written ({})",
                c.spiffe_id,
                c.source,
                c.svid,
                show(&c.requested),
                show(&c.effective),
                c.bound_by
            )
        }))
        .collect();
    if !decisions.is_empty() {
        out.push_str("\nPolicy decisions:\n");
        for line in decisions {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if !report.drift_left.is_empty() {
        out.push_str("\nDrift left as it is (driftPolicy Report):\n");
        for d in &report.drift_left {
            let id = d.entry_id.as_deref().unwrap_or("-");
            let source = d.source.as_ref().map(|s| format!(" ({s})")).unwrap_or_default();
            let fields = if d.fields.is_empty() { String::new() } else { format!(" ({})", d.fields.join(", ")) };
            out.push_str(&format!("  {} {} entry {id}{source}{fields}\n", d.class, d.spiffe_id));
        }
    }
    for note in &report.notes {
        out.push_str(&format!("\nNote: {note}\n"));
    }
    let s = &report.summary;
    out.push_str(&format!(
        "\n{} to create, {} to update, {} to delete; {} kept, {} foreign conflicts, {} denied, {} clamped, {} audit \
         violations, {} drift left\n",
        s.create,
        s.update,
        s.delete,
        s.kept,
        s.foreign_conflicts,
        s.denied,
        s.clamped,
        s.audit_violations,
        s.drift_left
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> crate::config::Config {
        crate::config::File::parse(&format!("trustDomain: example.org\nclusterName: demo\n{extra}"))
            .unwrap()
            .validate()
            .unwrap()
    }

    fn deletes(count: usize, reason: &str) -> Vec<Change> {
        (0..count)
            .map(|i| Change {
                entry: EntryView {
                    spiffe_id: format!("spiffe://example.org/pod/{i}"),
                    parent_id: "spiffe://example.org/agent".into(),
                    entry_id: Some(format!("ss.{i}")),
                    selectors: Vec::new(),
                },
                source: None,
                pod: None,
                reason: reason.into(),
                fields: Vec::new(),
                detail: None,
            })
            .collect()
    }

    fn report(deletes: Vec<Change>) -> PlanReport {
        PlanReport { deletes, ..PlanReport::empty() }
    }

    #[test]
    fn the_notes_say_what_the_breaker_and_observe_mode_would_do() {
        let held = notes(&report(deletes(30, "Undeclared")), &config(""), 100);
        assert_eq!(
            held,
            ["the deletion circuit breaker holds these 30 deletions (30 of 100 owned entries, above 25%) until the \
              resources that declared them carry the annotation spire-steward.io/confirm-deletions"]
        );
        assert!(notes(&report(deletes(30, "Duplicate")), &config(""), 100).is_empty(), "duplicates are not judged");
        assert!(notes(&report(deletes(19, "Undeclared")), &config(""), 19).is_empty(), "below minDeletions");
        let observe = notes(&report(Vec::new()), &config("mode: Observe\n"), 0);
        assert_eq!(observe.len(), 1);
        assert!(observe[0].contains("observe mode"));
    }
}
