//! Each resource's status as reconciliation wants it: health, the generation it describes and
//! the kind's own fields, decided from plain inputs. The status writer only merges conditions,
//! skips what is unchanged and writes.

use std::collections::BTreeMap;

use super::{
    Health, IdentityState, StaticState, Tally, Withheld, federation_facts, health, identity_facts, static_facts,
};
use crate::{
    api::v1alpha1::TtlStatus,
    api::{
        conditions::types,
        v1alpha1::{ClusterSPIFFEIDStats, ClusterStaticEntry},
    },
    policy::Verdict,
    reconcile::{Claim, EntryIndex, EntryKey, Ownership, RelationshipOutcome, Scope, SpecError, differing_fields},
    render::PodIdentity,
    selection::{is_ignored_namespace, selects},
    spiffe::Entry,
};

/// One resource's status as reconciliation wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired<F> {
    /// The generation the status describes: the one the operator processed.
    pub generation: Option<i64>,
    pub health: Health,
    /// The resource's domain condition (`EntriesSynced`, `RelationshipSynced`).
    pub synced_type: &'static str,
    /// The kind's own status fields.
    pub fields: F,
}

/// The generation a status describes: the one the operator processed, or for a kind switched
/// off (which is only observed) the object's own; before the first processing, the one the
/// object's status already names.
fn described(enabled: bool, processed: Option<Option<i64>>, object: Option<i64>, recorded: Option<i64>) -> Option<i64> {
    match (enabled, processed) {
        (false, _) => object,
        (true, Some(generation)) => generation,
        (true, None) => recorded,
    }
}

/// A ClusterSPIFFEID's parsed spec, or why it has none.
pub type Parsed = Result<std::sync::Arc<PodIdentity>, SpecError>;

/// What is known of one ClusterSPIFFEID.
pub struct IdentityInputs<'a> {
    pub enabled: bool,
    /// The generation processed and the parsed spec, once the worker has seen the resource.
    pub processed: Option<(Option<i64>, &'a Parsed)>,
    pub object_generation: Option<i64>,
    pub recorded_generation: Option<i64>,
    pub suspended: bool,
    pub tally: Tally,
    /// Every namespace's name and labels.
    pub namespaces: &'a [(String, Option<BTreeMap<String, String>>)],
    pub ignore_namespaces: &'a [regex::Regex],
    pub refusals: Vec<&'a str>,
    pub unavailable: Option<&'a str>,
    /// What was planned for its entries and not written.
    pub withheld: Withheld,
}

/// A ClusterSPIFFEID's own status fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityFields {
    pub stats: ClusterSPIFFEIDStats,
    pub ttl: Option<TtlStatus>,
}

/// The status of a ClusterSPIFFEID, with spire-controller-manager's counters.
pub fn identity_status(inputs: IdentityInputs<'_>) -> Desired<IdentityFields> {
    let parsed = inputs.processed.map(|(_, parsed)| parsed);
    // A spec that does not parse selects nothing it could count: its pods are only held.
    let tally = if matches!(parsed, Some(Err(_))) { Tally::default() } else { inputs.tally };
    let (selected, ignored) = match parsed {
        Some(Ok(identity)) => inputs.namespaces.iter().fold((0, 0), |(s, i), (name, labels)| {
            if selects(identity.namespace_selector.as_ref(), labels.as_ref()) {
                (s + 1, i + i32::from(is_ignored_namespace(name, inputs.ignore_namespaces)))
            } else {
                (s, i)
            }
        }),
        _ => (0, 0),
    };
    let stats = ClusterSPIFFEIDStats {
        namespaces_selected: selected,
        namespaces_ignored: ignored,
        pods_selected: tally.pods,
        pod_entry_render_failures: tally.render_failures,
        entries_masked: tally.masked,
        entries_to_set: tally.winners,
        entry_failures: inputs.refusals.len() as i32,
        entries_denied: tally.denied,
        entries_clamped: tally.clamped,
        policy_violations: tally.violations,
    };
    let ttl = tally.ttl.clone();
    let state = IdentityState {
        enabled: inputs.enabled,
        parsed: parsed.map(|p| p.as_ref().map(|_| ())),
        suspended: inputs.suspended,
        tally,
        refusals: inputs.refusals,
        unavailable: inputs.unavailable,
        withheld: inputs.withheld,
    };
    Desired {
        generation: described(
            inputs.enabled,
            inputs.processed.map(|(g, _)| g),
            inputs.object_generation,
            inputs.recorded_generation,
        ),
        health: health(identity_facts(&state)),
        synced_type: types::ENTRIES_SYNCED,
        fields: IdentityFields { stats, ttl },
    }
}

/// A ClusterStaticEntry's own status fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticFields {
    pub rendered: bool,
    pub masked: bool,
    pub set: bool,
    pub entry_id: Option<String>,
    pub ttl: Option<TtlStatus>,
}

/// What is known of one ClusterStaticEntry.
pub struct StaticInputs<'a> {
    pub enabled: bool,
    /// The generation processed, the rendered entry and the scope it falls in.
    pub processed: (Option<i64>, &'a Result<Entry, SpecError>, &'a Scope),
    /// Whether it won its entry key when last planned, if it was planned.
    pub won: Option<bool>,
    pub index: &'a EntryIndex,
    pub ownership: &'a Ownership,
    pub refusals: Vec<&'a str>,
    pub unavailable: Option<&'a str>,
    /// The policies' verdict when last planned, if a policy governs it.
    pub verdict: Option<&'a Verdict>,
    /// Whether its `expiresAt` had passed when last planned.
    pub lapsed: bool,
    /// What was planned for its entry and not written.
    pub withheld: Withheld,
    /// Whether its entry drifted and the drift is only reported: SPIRE differs by choice, which
    /// does not make the resource progressing (drift does not change Ready).
    pub drift_reported: bool,
}

/// The status of a ClusterStaticEntry.
pub fn static_status(object: &ClusterStaticEntry, inputs: StaticInputs<'_>) -> Desired<StaticFields> {
    let (generation, entry, scope) = inputs.processed;
    // What is written: the rendered entry with the TTLs the policies set.
    let entry: Result<Entry, &SpecError> = entry.as_ref().map(|e| {
        let mut e = e.clone();
        if let Some(v) = inputs.verdict.filter(|v| v.decision.allowed) {
            let seconds = |s: Option<u32>| s.and_then(|s| i32::try_from(s).ok()).unwrap_or(0);
            e.x509_svid_ttl = seconds(v.decision.x509_ttl.seconds);
            e.jwt_svid_ttl = seconds(v.decision.jwt_ttl.seconds);
        }
        e
    });
    let stored = entry.as_ref().ok().and_then(|entry| {
        let key = EntryKey::of(entry);
        inputs
            .index
            .scope(scope)
            .into_iter()
            .find(|e| EntryKey::of(e) == key && inputs.ownership.claim(e) != Claim::Foreign)
    });
    let in_sync = stored
        .as_ref()
        .zip(entry.as_ref().ok())
        .is_some_and(|(stored, wanted)| differing_fields(wanted, stored).is_empty());
    let masked = inputs.won == Some(false);
    let mut tally = Tally::default();
    if let Some(v) = inputs.verdict {
        tally.add_verdict(v, &|d| d.to_string());
    }
    let health = health(static_facts(&StaticState {
        enabled: inputs.enabled,
        rendered: entry.as_ref().map(|_| ()).map_err(|e| *e),
        lapsed: inputs.lapsed.then(|| object.spec.expires_at.clone().unwrap_or_default()),
        tally: &tally,
        masked,
        refusals: inputs.refusals,
        unavailable: inputs.unavailable,
        in_sync: in_sync || inputs.drift_reported,
        withheld: &inputs.withheld,
    }));
    Desired {
        generation: described(inputs.enabled, Some(generation), object.metadata.generation, None),
        health,
        synced_type: types::ENTRIES_SYNCED,
        fields: StaticFields {
            rendered: entry.is_ok(),
            masked,
            set: in_sync,
            entry_id: stored.and_then(|e| e.id).map(|id| id.as_str().to_owned()),
            ttl: tally.ttl.clone(),
        },
    }
}

/// What is known of one ClusterFederatedTrustDomain.
pub struct FederationInputs<'a> {
    pub enabled: bool,
    /// The generation the last federation pass saw, and what it decided.
    pub processed: Option<(Option<i64>, Option<&'a RelationshipOutcome>)>,
    pub object_generation: Option<i64>,
    pub recorded_generation: Option<i64>,
    pub refusal: Option<&'a str>,
    pub unavailable: Option<&'a str>,
    /// The operator runs in observe mode.
    pub observe: bool,
}

/// The status of a ClusterFederatedTrustDomain.
pub fn federation_status(inputs: FederationInputs<'_>) -> Desired<()> {
    let outcome = inputs.processed.and_then(|(_, o)| o);
    Desired {
        generation: described(
            inputs.enabled,
            inputs.processed.map(|(g, _)| g),
            inputs.object_generation,
            inputs.recorded_generation,
        ),
        health: health(federation_facts(inputs.enabled, outcome, inputs.refusal, inputs.unavailable, inputs.observe)),
        synced_type: types::RELATIONSHIP_SYNCED,
        fields: (),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generation_described_is_the_one_processed() {
        assert_eq!(described(true, Some(Some(3)), Some(4), Some(2)), Some(3), "not one that arrived since");
        assert_eq!(described(true, None, Some(4), Some(2)), Some(2), "before processing, what status said");
        assert_eq!(described(false, Some(Some(3)), Some(4), Some(2)), Some(4), "a switched-off kind is observed");
    }

    #[test]
    fn an_identity_that_does_not_parse_counts_nothing() {
        let broken: Parsed = Err(SpecError::Unreadable("x".into()));
        let desired = identity_status(IdentityInputs {
            enabled: true,
            processed: Some((Some(1), &broken)),
            object_generation: Some(1),
            recorded_generation: None,
            suspended: false,
            tally: Tally { pods: 5, held: 5, ..Default::default() },
            namespaces: &[("shop".into(), None)],
            ignore_namespaces: &[],
            refusals: vec![],
            unavailable: Some("down"),
            withheld: Withheld::default(),
        });
        assert_eq!(desired.fields.stats, ClusterSPIFFEIDStats::default());
        assert!(matches!(desired.health, Health::InvalidSpec { .. }), "stalled outranks the outage");
        assert_eq!(desired.generation, Some(1));
    }
}
