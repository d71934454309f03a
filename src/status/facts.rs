//! From what the pass and the executors observed to the [`Facts`] of each resource: the one place
//! that decides which reason applies to a ClusterSPIFFEID, a ClusterStaticEntry or a
//! ClusterFederatedTrustDomain, and which transitions deserve an Event.

use std::collections::BTreeMap;

use super::{Facts, Health, conditions_for};
use crate::{
    api::{
        conditions::types,
        v1alpha1::{TtlReport, TtlStatus},
    },
    duration,
    pass::PodRecord,
    policy::{Bound, Decision, Effective, Verdict},
    reconcile::{PodOutcome, RelationshipOutcome, SpecError},
};

/// What the pods a ClusterSPIFFEID selects add up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub pods: i32,
    pub render_failures: i32,
    pub first_failure: Option<String>,
    pub waiting: i32,
    pub first_waiting: Option<String>,
    pub held: i32,
    pub winners: i32,
    pub masked: i32,
    /// Entries an enforced policy denies, and the first of them.
    pub denied: i32,
    pub first_denial: Option<String>,
    /// Entries written although an Audit policy would deny them.
    pub violations: i32,
    pub first_violation: Option<String>,
    /// Entries whose TTL a policy or exception bound sets.
    pub clamped: i32,
    /// The verdict whose TTLs status shows: the first clamped, else the first governed.
    pub ttl: Option<TtlStatus>,
}

impl Tally {
    /// Adds one policy verdict on an entry described by `what` (a pod, for pod identities).
    pub fn add_verdict(&mut self, verdict: &Verdict, what: &dyn Fn(&dyn std::fmt::Display) -> String) {
        let decision = &verdict.decision;
        if !decision.allowed {
            self.denied += 1;
            if self.first_denial.is_none()
                && let Some(d) = decision.denials.iter().find(|d| d.enforced)
            {
                self.first_denial = Some(what(d));
            }
            return;
        }
        if decision.violates_audit() {
            self.violations += 1;
            self.first_violation.get_or_insert_with(|| what(&decision.denials[0]));
        }
        let clamped = decision.ttl_set_by_bound();
        if clamped {
            self.clamped += 1;
        }
        let status = ttl_status(decision);
        if status != TtlStatus::default() && (self.ttl.is_none() || (clamped && self.clamped == 1)) {
            self.ttl = Some(status);
        }
    }
}

/// The TTLs a decision writes, as status shows them.
pub fn ttl_status(decision: &Decision) -> TtlStatus {
    let report = |e: &Effective| {
        let seconds = |s: Option<u32>| s.map(|s| duration::format(std::time::Duration::from_secs(u64::from(s))));
        TtlReport {
            requested: seconds(e.requested),
            effective: seconds(e.seconds),
            bound_by: e.bound_by.as_ref().map(|(name, bound)| match bound {
                Bound::ExceptionMax => format!("IdentityException/{name} ttl max"),
                _ => format!("IdentityPolicy/{name} {}", bound.as_str()),
            }),
        }
    };
    let useful = |r: TtlReport| (r != TtlReport::default()).then_some(r);
    TtlStatus { x509: useful(report(&decision.x509_ttl)), jwt: useful(report(&decision.jwt_ttl)) }
}

/// Adds up the pod records per ClusterSPIFFEID UID.
pub fn tallies<'a>(records: impl IntoIterator<Item = &'a PodRecord>) -> BTreeMap<&'a str, Tally> {
    let mut tallies: BTreeMap<&'a str, Tally> = BTreeMap::new();
    for record in records {
        let pod = |why: &dyn std::fmt::Display| format!("pod {}/{}: {why}", record.namespace, record.name);
        for (uid, outcome) in &record.outcomes {
            let tally = tallies.entry(uid.as_str()).or_default();
            tally.pods += 1;
            match outcome {
                PodOutcome::RenderFailed(why) => {
                    tally.render_failures += 1;
                    tally.first_failure.get_or_insert_with(|| pod(why));
                }
                PodOutcome::Waiting(why) => {
                    tally.waiting += 1;
                    tally.first_waiting.get_or_insert_with(|| pod(why));
                }
                PodOutcome::Held => tally.held += 1,
                PodOutcome::Rendered | PodOutcome::SkippedByFallback => {}
            }
        }
        for (uid, verdict) in &record.verdicts {
            tallies.entry(uid.as_str()).or_default().add_verdict(verdict, &pod);
        }
        for uid in &record.winners {
            tallies.entry(uid.as_str()).or_default().winners += 1;
        }
        for uid in &record.masked {
            tallies.entry(uid.as_str()).or_default().masked += 1;
        }
    }
    tallies
}

/// What the worker planned for one resource's entries and did not write: everything in observe
/// mode, and the deletions the circuit breaker holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Withheld {
    /// The operator runs in observe mode.
    pub observe: bool,
    /// Observe mode: entries that would be created, updated and deleted.
    pub creates: usize,
    pub updates: usize,
    pub deletes: usize,
    /// Deletions of its entries the breaker holds.
    pub held: usize,
    /// The pass that held them: how many deletions it would make, of how many owned entries,
    /// and the share it may delete.
    pub pass_deletes: usize,
    pub owned: usize,
    pub max_share_percent: u8,
    /// The held deletions are of entries whose declaring resource is not known: the instance's
    /// state ConfigMap confirms them.
    pub unowned: bool,
}

impl Withheld {
    /// "observe mode: N entries would be created, N updated, N deleted; ...", while anything is
    /// pending.
    pub fn observing(&self) -> Option<String> {
        (self.observe && self.creates + self.updates + self.deletes > 0).then(|| {
            format!(
                "observe mode: {} entries would be created, {} updated, {} deleted; nothing is written to SPIRE",
                self.creates, self.updates, self.deletes
            )
        })
    }

    /// What the breaker holds and how to release it.
    pub fn deletion_held(&self) -> Option<String> {
        (self.held > 0).then(|| {
            let what =
                if self.unowned { "deletions of entries whose resource is not known" } else { "entry deletions" };
            format!(
                "{} {what} held ({} of {} owned entries in one pass, above {}%); confirm with annotation {}={}",
                self.held,
                self.pass_deletes,
                self.owned,
                self.max_share_percent,
                crate::breaker::CONFIRM_ANNOTATION,
                self.held
            )
        })
    }

    /// What Ready's Synced message adds: observe mode writes nothing even once in line.
    fn synced_note(&self) -> &'static str {
        if self.observe { "; observe mode: nothing is written to SPIRE" } else { "" }
    }
}

/// The message of SPIRE being unusable: unreachable, or denying the operator; `why` says which.
pub fn unreachable(why: &str) -> String {
    format!("SPIRE cannot be used, retrying: {why}")
}

/// The message of a kind switched off by the configuration key `reconcile.<key>`.
pub fn disabled(key: &str) -> String {
    format!("reconcile.{key} is false in the operator's configuration; entries are left as they are")
}

/// "N of M selected pods <what>; <the first case>; their existing entries are kept".
fn some_pods(count: i32, total: i32, what: &str, first: &Option<String>) -> String {
    let first = first.as_deref().unwrap_or_default();
    format!("{count} of {total} selected pods {what}; {first}; their existing entries are kept")
}

/// What is known of one ClusterSPIFFEID.
#[derive(Clone, Debug, Default)]
pub struct IdentityState<'a> {
    /// Whether reconciliation of the kind is on.
    pub enabled: bool,
    /// None until the worker has processed the resource; then whether its spec parses.
    pub parsed: Option<Result<(), &'a SpecError>>,
    pub suspended: bool,
    /// The pods it selects, added up; ignored when the spec does not parse.
    pub tally: Tally,
    /// Why SPIRE refused its writes, one message per refused entry.
    pub refusals: Vec<&'a str>,
    pub unavailable: Option<&'a str>,
    /// What was planned for it and not written.
    pub withheld: Withheld,
}

/// The facts of a ClusterSPIFFEID.
pub fn identity_facts(state: &IdentityState<'_>) -> Facts {
    let tally = match state.parsed {
        Some(Err(_)) => Tally::default(),
        _ => state.tally.clone(),
    };
    let selected = tally.pods - tally.held;
    Facts {
        processed: state.parsed.is_some(),
        disabled: (!state.enabled).then(|| disabled("clusterSPIFFEIDs")),
        invalid: match state.parsed {
            Some(Err(why)) => Some(format!("{why}; existing entries are kept until the spec is fixed")),
            _ => None,
        },
        suspended: state.suspended,
        render_failed: (tally.render_failures > 0)
            .then(|| some_pods(tally.render_failures, tally.pods, "failed to render", &tally.first_failure)),
        expired: None,
        denied: (tally.denied > 0).then(|| {
            format!(
                "{} of {} entries are denied by policy and not written; {}",
                tally.denied,
                tally.denied + tally.winners + tally.masked,
                tally.first_denial.as_deref().unwrap_or_default()
            )
        }),
        masked: (tally.winners == 0 && tally.masked > 0).then(|| {
            format!(
                "all {} entries it declares for {selected} selected pods are masked: a resource that takes precedence (older, or cluster-scoped over a SPIFFEID) declares the \
                 same entries (SPIFFE ID, parent ID and selectors)",
                tally.masked
            )
        }),
        observing: state.withheld.observing(),
        deletion_held: state.withheld.deletion_held(),
        rejected: state
            .refusals
            .first()
            .map(|first| format!("SPIRE refused {} entries: {first}", state.refusals.len())),
        unavailable: state.unavailable.map(unreachable),
        waiting: (tally.waiting > 0)
            .then(|| some_pods(tally.waiting, tally.pods, "wait for inputs", &tally.first_waiting)),
        progressing: None,
        synced: {
            let mut synced = format!("{} entries in SPIRE for {selected} selected pods", tally.winners);
            if tally.masked > 0 {
                synced += &format!("; {} more are masked by older resources", tally.masked);
            }
            if tally.clamped > 0 {
                synced += &format!("; {} TTLs set by policy", tally.clamped);
            }
            if tally.violations > 0 {
                synced += &format!(
                    "; {} entries break Audit policies: {}",
                    tally.violations,
                    tally.first_violation.as_deref().unwrap_or_default()
                );
            }
            synced += state.withheld.synced_note();
            synced
        },
    }
}

/// What is known of one ClusterStaticEntry.
#[derive(Clone, Debug)]
pub struct StaticState<'a> {
    pub enabled: bool,
    /// Whether the spec renders into an entry.
    pub rendered: Result<(), &'a SpecError>,
    /// Whether an older resource declares the same entry.
    pub masked: bool,
    pub refusals: Vec<&'a str>,
    pub unavailable: Option<&'a str>,
    /// Whether SPIRE holds the entry as declared.
    pub in_sync: bool,
    /// Its `expiresAt`, when it has passed.
    pub lapsed: Option<String>,
    /// The policies' verdict on it, added up.
    pub tally: &'a Tally,
    /// What was planned for it and not written.
    pub withheld: &'a Withheld,
}

/// The facts of a ClusterStaticEntry.
pub fn static_facts(state: &StaticState<'_>) -> Facts {
    Facts {
        processed: true,
        disabled: (!state.enabled).then(|| disabled("clusterStaticEntries")),
        invalid: state.rendered.err().map(ToString::to_string),
        expired: state.lapsed.as_ref().map(|at| format!("expiresAt {at} has passed; the entry is removed from SPIRE")),
        denied: state.tally.first_denial.as_ref().map(|d| format!("denied by policy and not written: {d}")),
        masked: state.masked.then(|| {
            "another resource declares the same entry (SPIFFE ID, parent ID and selectors) and is older".into()
        }),
        observing: state.withheld.observing(),
        deletion_held: state.withheld.deletion_held(),
        rejected: state.refusals.first().map(|why| format!("SPIRE refused the entry: {why}")),
        unavailable: state.unavailable.map(unreachable),
        progressing: (!state.in_sync).then(|| "writing the entry to SPIRE".into()),
        synced: match (&state.tally.ttl, &state.tally.first_violation) {
            (_, Some(v)) => format!("the entry is in SPIRE; it breaks an Audit policy: {v}"),
            (Some(ttl), None) if state.tally.clamped > 0 => {
                let at = |r: &Option<TtlReport>| r.as_ref().and_then(|r| r.effective.clone()).unwrap_or("-".into());
                format!("the entry is in SPIRE with TTLs set by policy (x509 {}, jwt {})", at(&ttl.x509), at(&ttl.jwt))
            }
            _ => "the entry is in SPIRE as declared".into(),
        } + state.withheld.synced_note(),
        ..Default::default()
    }
}

/// The facts of a ClusterFederatedTrustDomain.
pub fn federation_facts(
    enabled: bool,
    outcome: Option<&RelationshipOutcome>,
    refusal: Option<&str>,
    unavailable: Option<&str>,
    observe: bool,
) -> Facts {
    let would = match outcome {
        Some(RelationshipOutcome::Create) => Some("created"),
        Some(RelationshipOutcome::Update(_)) => Some("updated"),
        Some(RelationshipOutcome::Delete) => Some("deleted"),
        _ => None,
    };
    Facts {
        observing: would.filter(|_| observe).map(|would| {
            format!("observe mode: the federation relationship would be {would}; nothing is written to SPIRE")
        }),
        processed: outcome.is_some(),
        disabled: (!enabled).then(|| disabled("clusterFederatedTrustDomains")),
        invalid: match outcome {
            Some(RelationshipOutcome::Invalid(why)) => Some(why.to_string()),
            _ => None,
        },
        masked: match outcome {
            Some(RelationshipOutcome::Conflict { winner }) => {
                Some(format!("ClusterFederatedTrustDomain {winner} declares the same trust domain and is older"))
            }
            _ => None,
        },
        rejected: refusal.map(|why| format!("SPIRE refused the relationship: {why}")),
        unavailable: unavailable.map(unreachable),
        synced: "the federation relationship is in SPIRE as declared".into(),
        ..Default::default()
    }
}

/// An Event to publish about a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    pub warning: bool,
    /// The Ready condition's reason.
    pub reason: &'static str,
    pub note: String,
}

/// The Event a change of health calls for: one when Ready's reason changes, none while the
/// resource waits for its first reconciliation, nor for `DeletionHeld`, whose Events the breaker
/// publishes once per held pass. Healthy, progressing, observing, suspended and disabled
/// resources get Normal Events; every other reason a Warning.
pub fn announcement(previous_reason: Option<&str>, health: &Health) -> Option<Announcement> {
    let wanted = conditions_for(health, types::ENTRIES_SYNCED);
    let ready = wanted.into_iter().find(|c| c.type_ == types::READY)?;
    if previous_reason == Some(ready.reason) || matches!(health, Health::Pending | Health::DeletionHeld { .. }) {
        return None;
    }
    let warning = !matches!(
        health,
        Health::Synced { .. }
            | Health::Progressing { .. }
            | Health::Observing { .. }
            | Health::Suspended
            | Health::Disabled { .. }
            | Health::Governing { .. }
            | Health::Active { expiring_soon: false, .. }
    );
    Some(Announcement { warning, reason: ready.reason, note: ready.message.chars().take(1024).collect() })
}
