//! From what the pass and the executors observed to the [`Facts`] of each resource: the one place
//! that decides which reason applies to a ClusterSPIFFEID, a ClusterStaticEntry or a
//! ClusterFederatedTrustDomain, and which transitions deserve an Event.

use std::collections::BTreeMap;

use super::{Facts, Health, conditions_for};
use crate::{
    api::conditions::types,
    pass::PodRecord,
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
        for uid in &record.winners {
            tallies.entry(uid.as_str()).or_default().winners += 1;
        }
        for uid in &record.masked {
            tallies.entry(uid.as_str()).or_default().masked += 1;
        }
    }
    tallies
}

/// The message of SPIRE being unreachable.
pub fn unreachable(why: &str) -> String {
    format!("SPIRE is unreachable, retrying: {why}")
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
        masked: (tally.winners == 0 && tally.masked > 0).then(|| {
            format!(
                "all {} entries it declares for {selected} selected pods are masked: an older resource declares the \
                 same entries (SPIFFE ID, parent ID and selectors)",
                tally.masked
            )
        }),
        rejected: state
            .refusals
            .first()
            .map(|first| format!("SPIRE refused {} entries: {first}", state.refusals.len())),
        unavailable: state.unavailable.map(unreachable),
        waiting: (tally.waiting > 0)
            .then(|| some_pods(tally.waiting, tally.pods, "wait for inputs", &tally.first_waiting)),
        progressing: None,
        synced: match tally.masked {
            0 => format!("{} entries in SPIRE for {selected} selected pods", tally.winners),
            masked => format!(
                "{} entries in SPIRE for {selected} selected pods; {masked} more are masked by older resources",
                tally.winners
            ),
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
}

/// The facts of a ClusterStaticEntry.
pub fn static_facts(state: &StaticState<'_>) -> Facts {
    Facts {
        processed: true,
        disabled: (!state.enabled).then(|| disabled("clusterStaticEntries")),
        invalid: state.rendered.err().map(ToString::to_string),
        masked: state.masked.then(|| {
            "another resource declares the same entry (SPIFFE ID, parent ID and selectors) and is older".into()
        }),
        rejected: state.refusals.first().map(|why| format!("SPIRE refused the entry: {why}")),
        unavailable: state.unavailable.map(unreachable),
        progressing: (!state.in_sync).then(|| "writing the entry to SPIRE".into()),
        synced: "the entry is in SPIRE as declared".into(),
        ..Default::default()
    }
}

/// The facts of a ClusterFederatedTrustDomain.
pub fn federation_facts(
    enabled: bool,
    outcome: Option<&RelationshipOutcome>,
    refusal: Option<&str>,
    unavailable: Option<&str>,
) -> Facts {
    Facts {
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
/// resource waits for its first reconciliation. Healthy, progressing, suspended and disabled
/// resources get Normal Events; every other reason a Warning.
pub fn announcement(previous_reason: Option<&str>, health: &Health) -> Option<Announcement> {
    let wanted = conditions_for(health, types::ENTRIES_SYNCED);
    let ready = wanted.into_iter().find(|c| c.type_ == types::READY)?;
    if previous_reason == Some(ready.reason) || matches!(health, Health::Pending) {
        return None;
    }
    let warning = !matches!(
        health,
        Health::Synced { .. } | Health::Progressing { .. } | Health::Suspended | Health::Disabled { .. }
    );
    Some(Announcement { warning, reason: ready.reason, note: ready.message.chars().take(1024).collect() })
}
