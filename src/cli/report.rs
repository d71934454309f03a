//! `spire-steward report`: the inventory of every identity the operator declares, with its
//! owner, effective TTLs, policy decision, exception and drift, and the entries SPIRE holds that
//! nothing declares or that the operator does not own.
//!
//! The JSON form (`-o json`) is one object, `schemaVersion` [`SCHEMA_VERSION`], with `rows` (see
//! [`Row`]) and a `summary` whose per-resource counts are the ones the controller writes to
//! status (`entriesToSet`, `entriesDenied`, `entriesClamped`, `policyViolations`,
//! `entriesMasked`, `podsSelected` of ClusterSPIFFEIDs and SPIFFEIDs; `identitiesGoverned`,
//! `entriesGoverned`, `entriesDenied`, `entriesClamped` of IdentityPolicies; `entriesRelaxed`
//! of IdentityExceptions).

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{
    catalog::{Catalog, EntryView, Judgement, PodRef, SourceRef, field_names, judgements, seconds},
    format::{Table, csv_record},
    plan::bound_name,
    snapshot::{Evaluation, Judged},
};
use crate::{
    policy::{Effective, Verdict},
    reconcile::{Claim, EntryKey, Scope, SourceKind},
    spiffe::{Entry, differing_fields},
    status::{governance_counts, tallies},
};

pub const SCHEMA_VERSION: &str = "spire-steward.io/report/v1";

/// How SPIRE's entry compares with the declaration.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum Drift {
    /// In SPIRE as declared.
    InSync,
    /// Declared, not in SPIRE.
    Missing,
    /// In SPIRE with other values in some fields.
    Modified,
    /// In SPIRE under the operator's ownership, and nothing declares it.
    Unexpected,
    /// An entry the operator does not own stands for the declaration.
    Foreign,
    /// Neither declared (a policy denies it) nor in SPIRE.
    Absent,
}

/// The drift of one entry: what should be in SPIRE (None when nothing may be) against what SPIRE
/// holds, with the differing fields.
pub fn drift_state(wanted: Option<&Entry>, stored: Option<&Entry>) -> (Drift, Vec<String>) {
    match (wanted, stored) {
        (Some(wanted), Some(stored)) => {
            let mask = differing_fields(wanted, stored);
            if mask.is_empty() { (Drift::InSync, Vec::new()) } else { (Drift::Modified, field_names(mask)) }
        }
        (Some(_), None) => (Drift::Missing, Vec::new()),
        (None, Some(_)) => (Drift::Unexpected, Vec::new()),
        (None, None) => (Drift::Absent, Vec::new()),
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct OwnerView {
    pub team: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// An effective TTL and the bound that set it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Ttl {
    /// The TTL written, a Go duration; absent when SPIRE's default applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<String>,
    /// `IdentityPolicy/<name> max|min|default`, `IdentityException/<name> ttl max`,
    /// `requested` or `SPIRE default`.
    pub bound_by: String,
}

/// An instant and how long until it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Expiry {
    pub at: String,
    /// A Go duration; `0s` once passed.
    pub in_: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionView {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<Expiry>,
}

/// One identity (or one entry nothing declares).
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    #[serde(flatten)]
    pub entry: EntryView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodRef>,
    #[serde(rename = "x509TTL")]
    pub x509_ttl: Ttl,
    #[serde(rename = "jwtTTL")]
    pub jwt_ttl: Ttl,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<ExceptionView>,
    /// A ClusterStaticEntry's `expiresAt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<Expiry>,
    /// `allowed`, `denied`, `clamped`, `auditViolation`, `notGoverned`, `expired`, `kept`
    /// (an undeclared entry kept while an input is missing) or `undeclared`.
    pub decision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_detail: Option<String>,
    /// The policies that govern the entry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    pub drift: Drift,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift_fields: Vec<String>,
    /// The declaring resource's UID.
    #[serde(skip)]
    pub source_uid: Option<String>,
    /// The rules the entry breaks and the TTL bounds that set its lifetimes, per policy.
    #[serde(skip)]
    pub findings: Vec<RuleFinding>,
}

/// One rule of one policy that an entry breaks, or one TTL bound that sets its lifetime.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleFinding {
    pub policy: String,
    /// `spiffeIDs`, `ttl`, `privileges` or `requireOwner`.
    pub rule: &'static str,
    /// Whether the entry is denied for it (an Enforce policy's broken rule).
    pub enforced: bool,
    pub message: String,
}

/// The group of policy rules a broken rule belongs to, as policies spell their spec fields.
pub fn rule_group(rule: &crate::policy::Rule) -> &'static str {
    use crate::policy::Rule::*;
    match rule {
        SpiffeIdNotAllowed | SpiffeIdDenied => "spiffeIDs",
        TtlOutOfBounds | TtlBoundsDisjoint { .. } => "ttl",
        AdminNotAllowed
        | DownstreamNotAllowed
        | FederationNotAllowed { .. }
        | SelectorTypeNotAllowed
        | ParentIdNotAllowed => "privileges",
        OwnerRequired => "requireOwner",
    }
}

fn findings_of(verdict: Option<&Verdict>) -> Vec<RuleFinding> {
    let Some(verdict) = verdict else { return Vec::new() };
    let d = &verdict.decision;
    let mut out: Vec<RuleFinding> = d
        .denials
        .iter()
        .map(|x| RuleFinding {
            policy: x.policy.clone(),
            rule: rule_group(&x.rule),
            enforced: x.enforced,
            message: x.to_string(),
        })
        .collect();
    if d.allowed {
        for (svid, e) in [("x509", &d.x509_ttl), ("jwt", &d.jwt_ttl)] {
            if let Some(bound @ (name, b)) = &e.bound_by
                && *b != crate::policy::Bound::ExceptionMax
            {
                let show = |v: Option<u32>| seconds(v).unwrap_or_else(|| "unset".into());
                out.push(RuleFinding {
                    policy: name.clone(),
                    rule: "ttl",
                    enforced: false,
                    message: format!(
                        "{svid} TTL {} requested, {} written ({})",
                        show(e.requested),
                        show(e.seconds),
                        bound_name(bound)
                    ),
                });
            }
        }
    }
    out
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IdentityCounts {
    #[serde(flatten)]
    pub source: SourceRef,
    pub pods_selected: i32,
    pub entries_to_set: i32,
    pub entries_masked: i32,
    pub entries_denied: i32,
    pub entries_clamped: i32,
    pub policy_violations: i32,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyCounts {
    pub name: String,
    pub identities_governed: i32,
    pub entries_governed: i32,
    pub entries_denied: i32,
    pub entries_clamped: i32,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionCounts {
    pub name: String,
    pub entries_relaxed: i32,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Rows of declared identities.
    pub identities: usize,
    pub in_sync: usize,
    pub missing: usize,
    pub modified: usize,
    pub unexpected: usize,
    pub foreign: usize,
    pub denied: usize,
    pub clamped: usize,
    pub audit_violations: usize,
    pub not_governed: usize,
    /// SPIRE entries the operator could not read, left out.
    pub unreadable_entries: usize,
    pub by_identity: Vec<IdentityCounts>,
    pub by_policy: Vec<PolicyCounts>,
    pub by_exception: Vec<ExceptionCounts>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: &'static str,
    /// The instant the report judges at (RFC 3339).
    pub generated_at: String,
    pub rows: Vec<Row>,
    pub summary: Summary,
}

fn expiry(at: Timestamp, now: Timestamp) -> Expiry {
    let left = at.duration_since(now).max(SignedDuration::ZERO);
    let left = std::time::Duration::try_from(left).unwrap_or_default();
    Expiry { at: at.to_string(), in_: crate::duration::format(std::time::Duration::from_secs(left.as_secs())) }
}

fn ttl(written: i32, verdict: Option<&Effective>) -> Ttl {
    let effective = u32::try_from(written).ok().filter(|s| *s > 0);
    let bound_by = match verdict.and_then(|e| e.bound_by.as_ref()) {
        Some(bound) => bound_name(bound),
        None if effective.is_some() => "requested".into(),
        None => "SPIRE default".into(),
    };
    Ttl { effective: seconds(effective), bound_by }
}

/// The decision column: what the policies made of the entry.
fn decision(verdict: Option<&Verdict>, lapsed: bool) -> (String, Option<String>) {
    if lapsed {
        return ("expired".into(), Some("the ClusterStaticEntry's expiresAt has passed".into()));
    }
    let Some(verdict) = verdict else { return ("notGoverned".into(), None) };
    let d = &verdict.decision;
    if !d.allowed {
        let denial = d.denials.iter().find(|d| d.enforced).map(|d| d.to_string());
        return ("denied".into(), denial);
    }
    if d.violates_audit() {
        return ("auditViolation".into(), Some(d.denials[0].to_string()));
    }
    if d.ttl_set_by_bound() {
        let bounds: Vec<String> =
            [&d.x509_ttl, &d.jwt_ttl].iter().filter_map(|e| e.bound_by.as_ref()).map(bound_name).collect();
        return ("clamped".into(), Some(bounds.join(", ")));
    }
    ("allowed".into(), None)
}

/// The stored entry of a key the operator may touch (owned before adopted, then the lowest ID,
/// as the planner keeps), else a foreign one.
fn stored<'a>(entries: &'a [Entry], key: &EntryKey, evaluation: &Evaluation) -> (Option<&'a Entry>, Option<&'a Entry>) {
    let mut mine: Vec<&Entry> =
        entries.iter().filter(|e| EntryKey::of(e) == *key && evaluation.ownership.claim(e) != Claim::Foreign).collect();
    mine.sort_by_key(|e| (evaluation.ownership.claim(e) != Claim::Owned, e.id.clone()));
    let foreign = entries.iter().find(|e| EntryKey::of(e) == *key && evaluation.ownership.claim(e) == Claim::Foreign);
    (mine.first().copied(), foreign)
}

fn is_winner(judged: &Judged, j: &Judgement<'_>) -> bool {
    let uid = &j.declared.source.uid;
    match &judged.outcome.record {
        Some(record) if j.declared.source.kind.is_pod_identity() => record.winners.contains(uid),
        _ => judged.outcome.static_winners.iter().any(|(u, won)| u == uid && *won),
    }
}

fn declared_row(evaluation: &Evaluation, catalog: &Catalog, judged: &Judged, j: &Judgement<'_>) -> Option<Row> {
    let scope = &judged.outcome.scope;
    let entries = evaluation.index.scope(scope);
    let key = EntryKey::of(&j.declared.entry);
    let (mine, foreign) = stored(&entries, &key, evaluation);
    let stands = !j.denied() && !j.lapsed;
    if stands && !is_winner(judged, j) {
        return None;
    }
    let mut wanted = j.declared.entry.clone();
    if let Some(v) = j.verdict.filter(|_| stands) {
        crate::pass::apply_verdict(&mut wanted, v);
    }
    let (drift, drift_fields, entry_id) = match (stands, mine, foreign) {
        (true, None, Some(foreign)) => (Drift::Foreign, Vec::new(), foreign.id.clone()),
        _ => {
            let (drift, fields) = drift_state(stands.then_some(&wanted), mine);
            (drift, fields, mine.and_then(|e| e.id.clone()))
        }
    };
    let mut view = EntryView::of(&wanted);
    view.entry_id = entry_id.map(|id| id.as_str().to_owned());
    let described = catalog.resource(&j.declared.source.uid);
    let (decision, decision_detail) = decision(j.verdict, j.lapsed);
    let exception = j.verdict.and_then(|v| v.decision.exceptions_used.first()).map(|(name, _)| ExceptionView {
        name: name.clone(),
        expires: evaluation.rules.exception(name).map(|e| expiry(e.expires_at, evaluation.now)),
    });
    Some(Row {
        entry: view,
        source: described.map(|d| d.source.clone()),
        owner: described
            .and_then(|d| d.owner.as_ref())
            .map(|o| OwnerView { team: o.team.clone(), contact: o.contact.clone() }),
        pod: catalog.pod(scope),
        x509_ttl: ttl(wanted.x509_svid_ttl, j.verdict.map(|v| &v.decision.x509_ttl)),
        jwt_ttl: ttl(wanted.jwt_svid_ttl, j.verdict.map(|v| &v.decision.jwt_ttl)),
        exception,
        expires: (j.declared.source.kind == SourceKind::ClusterStaticEntry)
            .then(|| crate::pass::expiry_of(&j.declared.entry))
            .flatten()
            .map(|at| expiry(at, evaluation.now)),
        decision,
        decision_detail,
        policies: j.verdict.map(|v| v.policies.clone()).unwrap_or_default(),
        drift,
        drift_fields,
        source_uid: Some(j.declared.source.uid.clone()),
        findings: findings_of(j.verdict.filter(|_| !j.lapsed)),
    })
}

/// A row for an entry nothing declares.
fn undeclared_row(catalog: &Catalog, scope: &Scope, entry: &Entry, decision: &str, detail: String) -> Row {
    Row {
        entry: EntryView::of(entry),
        source: None,
        owner: None,
        pod: catalog.pod(scope),
        x509_ttl: ttl(entry.x509_svid_ttl, None),
        jwt_ttl: ttl(entry.jwt_svid_ttl, None),
        exception: None,
        expires: None,
        decision: decision.into(),
        decision_detail: Some(detail),
        policies: Vec::new(),
        drift: drift_state(None, Some(entry)).0,
        drift_fields: Vec::new(),
        source_uid: None,
        findings: Vec::new(),
    }
}

/// Builds the report from one evaluation.
pub fn report(evaluation: &Evaluation, catalog: &Catalog, unreadable_entries: usize) -> Report {
    let mut rows = Vec::new();
    for judged in &evaluation.scopes {
        let judgements = judgements(judged);
        let keys: Vec<EntryKey> =
            judgements.iter().filter(|j| j.denied() || j.lapsed).map(|j| EntryKey::of(&j.declared.entry)).collect();
        rows.extend(judgements.iter().filter_map(|j| declared_row(evaluation, catalog, judged, j)));
        let plan = &judged.outcome.plan;
        let scope = &judged.outcome.scope;
        for delete in plan.deletes.iter().filter(|d| !keys.contains(&EntryKey::of(&d.entry))) {
            let detail = format!("{:?}: owned, and nothing declares it; a reconcile deletes it", delete.reason);
            rows.push(undeclared_row(catalog, scope, &delete.entry, "undeclared", detail));
        }
        for (entry, _) in &plan.kept {
            let detail = "nothing declares it; kept while an input that may declare it is missing".to_owned();
            rows.push(undeclared_row(catalog, scope, entry, "kept", detail));
        }
    }
    rows.sort();

    let records: Vec<_> = evaluation.scopes.iter().filter_map(|j| j.outcome.record.as_ref()).collect();
    let mut by_identity: Vec<IdentityCounts> = tallies(records.iter().copied())
        .into_iter()
        .filter_map(|(uid, t)| {
            Some(IdentityCounts {
                source: catalog.source(uid)?,
                pods_selected: t.pods,
                entries_to_set: t.winners,
                entries_masked: t.masked,
                entries_denied: t.denied,
                entries_clamped: t.clamped,
                policy_violations: t.violations,
            })
        })
        .collect();
    by_identity.sort_by(|a, b| a.source.cmp(&b.source));
    let verdicts = records.iter().flat_map(|r| r.verdicts.iter().map(|(uid, v)| (uid.as_str(), v))).chain(
        evaluation
            .scopes
            .iter()
            .flat_map(|j| j.outcome.static_verdicts.iter())
            .filter_map(|(uid, v)| v.as_ref().map(|v| (uid.as_str(), v))),
    );
    let (policies, exceptions) = governance_counts(verdicts);
    let by_policy = policies
        .into_iter()
        .map(|(name, c)| PolicyCounts {
            name,
            identities_governed: c.identities.len() as i32,
            entries_governed: c.entries,
            entries_denied: c.denied,
            entries_clamped: c.clamped,
        })
        .collect();
    let by_exception =
        exceptions.into_iter().map(|(name, u)| ExceptionCounts { name, entries_relaxed: u.entries }).collect();

    let declared = |r: &&Row| r.source.is_some();
    let count = |f: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count();
    let summary = Summary {
        identities: rows.iter().filter(declared).count(),
        in_sync: count(&|r| r.drift == Drift::InSync),
        missing: count(&|r| r.drift == Drift::Missing),
        modified: count(&|r| r.drift == Drift::Modified),
        unexpected: count(&|r| r.drift == Drift::Unexpected),
        foreign: count(&|r| r.drift == Drift::Foreign),
        denied: count(&|r| r.decision == "denied"),
        clamped: count(&|r| r.decision == "clamped"),
        audit_violations: count(&|r| r.decision == "auditViolation"),
        not_governed: count(&|r| r.decision == "notGoverned"),
        unreadable_entries,
        by_identity,
        by_policy,
        by_exception,
    };
    Report { schema_version: SCHEMA_VERSION, generated_at: evaluation.now.to_string(), rows, summary }
}

/// The columns of the CSV form, in order.
pub const CSV_COLUMNS: [&str; 22] = [
    "spiffeID",
    "entryID",
    "parentID",
    "selectors",
    "sourceKind",
    "sourceNamespace",
    "sourceName",
    "ownerTeam",
    "ownerContact",
    "pod",
    "x509TTL",
    "x509BoundBy",
    "jwtTTL",
    "jwtBoundBy",
    "exception",
    "exceptionExpiresIn",
    "expiresAt",
    "expiresIn",
    "decision",
    "decisionDetail",
    "drift",
    "driftFields",
];

fn cells(row: &Row) -> Vec<String> {
    let opt = |s: Option<&String>| s.cloned().unwrap_or_default();
    vec![
        row.entry.spiffe_id.clone(),
        opt(row.entry.entry_id.as_ref()),
        row.entry.parent_id.clone(),
        row.entry.selectors.join(" "),
        opt(row.source.as_ref().map(|s| &s.kind)),
        opt(row.source.as_ref().and_then(|s| s.namespace.as_ref())),
        opt(row.source.as_ref().map(|s| &s.name)),
        opt(row.owner.as_ref().map(|o| &o.team)),
        opt(row.owner.as_ref().and_then(|o| o.contact.as_ref())),
        row.pod.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        opt(row.x509_ttl.effective.as_ref()),
        row.x509_ttl.bound_by.clone(),
        opt(row.jwt_ttl.effective.as_ref()),
        row.jwt_ttl.bound_by.clone(),
        opt(row.exception.as_ref().map(|e| &e.name)),
        opt(row.exception.as_ref().and_then(|e| e.expires.as_ref()).map(|e| &e.in_)),
        opt(row.expires.as_ref().map(|e| &e.at)),
        opt(row.expires.as_ref().map(|e| &e.in_)),
        row.decision.clone(),
        opt(row.decision_detail.as_ref()),
        format!("{:?}", row.drift),
        row.drift_fields.join(" "),
    ]
}

pub fn csv(report: &Report) -> String {
    let mut out = csv_record(&CSV_COLUMNS);
    for row in &report.rows {
        out.push_str(&csv_record(&cells(row)));
    }
    out
}

pub fn table(report: &Report) -> String {
    let mut table = Table::new(&[
        "SPIFFE ID",
        "ENTRY ID",
        "SOURCE",
        "OWNER",
        "POD",
        "X509 TTL",
        "JWT TTL",
        "EXCEPTION",
        "DECISION",
        "DRIFT",
    ]);
    let ttl = |t: &Ttl| format!("{} ({})", t.effective.as_deref().unwrap_or("-"), t.bound_by);
    for row in &report.rows {
        let drift = match row.drift_fields.as_slice() {
            [] => format!("{:?}", row.drift),
            fields => format!("{:?} ({})", row.drift, fields.join(",")),
        };
        let decision = match &row.decision_detail {
            Some(detail) if row.decision != "notGoverned" && row.decision != "allowed" => {
                format!("{}: {detail}", row.decision)
            }
            _ => row.decision.clone(),
        };
        table.row(vec![
            row.entry.spiffe_id.clone(),
            row.entry.entry_id.clone().unwrap_or_else(|| "-".into()),
            row.source.as_ref().map_or_else(|| "-".into(), |s| s.to_string()),
            row.owner.as_ref().map_or_else(
                || "-".into(),
                |o| o.contact.as_ref().map_or_else(|| o.team.clone(), |c| format!("{} <{c}>", o.team)),
            ),
            row.pod.as_ref().map_or_else(|| "-".into(), |p| p.to_string()),
            ttl(&row.x509_ttl),
            ttl(&row.jwt_ttl),
            row.exception.as_ref().map_or_else(
                || row.expires.as_ref().map_or_else(|| "-".into(), |e| format!("expires in {}", e.in_)),
                |e| match &e.expires {
                    Some(x) => format!("{} (expires in {})", e.name, x.in_),
                    None => e.name.clone(),
                },
            ),
            decision,
            drift,
        ]);
    }
    let mut out = table.render();
    let s = &report.summary;
    out.push_str(&format!(
        "\n{} identities: {} in sync, {} missing, {} modified; {} unexpected, {} foreign; {} denied, {} clamped, {} \
         audit violations, {} not governed\n",
        s.identities,
        s.in_sync,
        s.missing,
        s.modified,
        s.unexpected,
        s.foreign,
        s.denied,
        s.clamped,
        s.audit_violations,
        s.not_governed
    ));
    out
}
