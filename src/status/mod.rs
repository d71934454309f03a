//! Status conditions, computed purely from what reconciliation observed.
//!
//! kstatus conventions: `Ready` is present from the first write (Unknown until the first
//! reconciliation ends), `Reconciling` and `Stalled` are present only while true, every condition
//! carries the generation it describes, and `lastTransitionTime` changes only when a condition's
//! status does.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};

mod desired;
mod drifted;
mod facts;
mod governance;
mod ladder;

pub use desired::{
    Desired, FederationInputs, IdentityFields, IdentityInputs, StaticFields, StaticInputs, federation_status,
    identity_status, static_status,
};
pub use drifted::{drift_announcement, drifted};
pub use facts::{
    Announcement, IdentityState, StaticState, Tally, Withheld, announcement, disabled, federation_facts,
    identity_facts, static_facts, tallies, unreachable,
};
pub use governance::{
    ExceptionFields, ExceptionUse, PolicyCounts, PolicyFields, exception_instants, exception_status, governance_counts,
    policy_status, ttl_change_note,
};
pub use ladder::{Facts, health};

use crate::api::conditions::{reasons, types};

/// What reconciliation concluded about one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Seen, not yet reconciled.
    Pending,
    /// Everything the resource declares is in SPIRE.
    Synced { message: String },
    /// Changes are being written.
    Progressing { message: String },
    /// SPIRE did not answer; retried with backoff.
    SpireUnavailable { message: String },
    /// The spec cannot be turned into entries; only a change to it helps.
    InvalidSpec { message: String },
    /// SPIRE refused a write. It is tried again at each periodic check, but it usually takes a
    /// change to the spec or to SPIRE (a missing federated bundle, say) to succeed.
    SpireRejected { message: String },
    /// An input is missing; existing entries are kept until it is whole.
    InputsIncomplete { message: String },
    /// Another resource declares the same entry and takes precedence.
    Masked { message: String },
    /// Reconciliation is suspended by the user.
    Suspended,
    /// The operator's configuration switches reconciliation of this kind off.
    Disabled { message: String },
    /// A policy denies entries the resource declares.
    PolicyDenied { message: String },
    /// The resource's `expiresAt` has passed.
    Expired { message: String },
    /// An exception's term is longer than a governing policy allows.
    TermTooLong { message: String },
    /// An exception is in force; `expiring_soon` inside the warning window.
    Active { message: String, expiring_soon: bool },
    /// A policy is valid and governs what it matches.
    Governing { message: String },
    /// Observe mode: writes are planned, none is made.
    Observing { message: String },
    /// The deletion circuit breaker holds deletions of the resource's entries until a person
    /// confirms them.
    DeletionHeld { message: String },
}

/// A condition as reconciliation wants it, before times and generations are filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

fn wanted(type_: &'static str, status: &'static str, reason: &'static str, message: impl Into<String>) -> Wanted {
    Wanted { type_, status, reason, message: message.into() }
}

/// The conditions for a health, with `synced_type` naming the resource's domain condition
/// (`EntriesSynced` or `RelationshipSynced`).
pub fn conditions_for(health: &Health, synced_type: &'static str) -> Vec<Wanted> {
    use Health::*;
    match health {
        Pending => vec![wanted(types::READY, "Unknown", reasons::PENDING, "Waiting for the first reconciliation")],
        Synced { message } => vec![
            wanted(types::READY, "True", reasons::SYNCED, message.clone()),
            wanted(synced_type, "True", reasons::SYNCED, message.clone()),
        ],
        Progressing { message } => vec![
            wanted(types::READY, "False", reasons::PROGRESSING, message.clone()),
            wanted(types::RECONCILING, "True", reasons::PROGRESSING, message.clone()),
            wanted(synced_type, "False", reasons::PROGRESSING, message.clone()),
        ],
        SpireUnavailable { message } => vec![
            wanted(types::READY, "False", reasons::SPIRE_UNAVAILABLE, message.clone()),
            wanted(types::RECONCILING, "True", reasons::SPIRE_UNAVAILABLE, message.clone()),
            wanted(synced_type, "Unknown", reasons::SPIRE_UNAVAILABLE, message.clone()),
        ],
        InvalidSpec { message } => vec![
            wanted(types::READY, "False", reasons::INVALID_SPEC, message.clone()),
            wanted(types::STALLED, "True", reasons::INVALID_SPEC, message.clone()),
            wanted(synced_type, "False", reasons::INVALID_SPEC, message.clone()),
        ],
        SpireRejected { message } => vec![
            wanted(types::READY, "False", reasons::SPIRE_REJECTED, message.clone()),
            wanted(types::STALLED, "True", reasons::SPIRE_REJECTED, message.clone()),
            wanted(synced_type, "False", reasons::SPIRE_REJECTED, message.clone()),
        ],
        InputsIncomplete { message } => vec![
            wanted(types::READY, "False", reasons::INPUTS_INCOMPLETE, message.clone()),
            wanted(types::RECONCILING, "True", reasons::INPUTS_INCOMPLETE, message.clone()),
            wanted(synced_type, "Unknown", reasons::INPUTS_INCOMPLETE, message.clone()),
        ],
        Masked { message } => vec![
            wanted(types::READY, "False", reasons::MASKED, message.clone()),
            wanted(types::STALLED, "True", reasons::MASKED, message.clone()),
            wanted(synced_type, "False", reasons::MASKED, message.clone()),
        ],
        Disabled { message } => vec![wanted(types::READY, "Unknown", reasons::RECONCILE_DISABLED, message.clone())],
        PolicyDenied { message } => vec![
            wanted(types::READY, "False", reasons::POLICY_DENIED, message.clone()),
            wanted(types::STALLED, "True", reasons::POLICY_DENIED, message.clone()),
            wanted(synced_type, "False", reasons::POLICY_DENIED, message.clone()),
        ],
        Expired { message } => vec![
            wanted(types::READY, "False", reasons::EXPIRED, message.clone()),
            wanted(types::STALLED, "True", reasons::EXPIRED, message.clone()),
            wanted(types::EXPIRED, "True", reasons::EXPIRED, message.clone()),
            wanted(synced_type, "False", reasons::EXPIRED, message.clone()),
        ],
        TermTooLong { message } => vec![
            wanted(types::READY, "False", reasons::TERM_TOO_LONG, message.clone()),
            wanted(types::STALLED, "True", reasons::TERM_TOO_LONG, message.clone()),
            wanted(synced_type, "False", reasons::TERM_TOO_LONG, message.clone()),
        ],
        Active { message, expiring_soon } => {
            let reason = if *expiring_soon { reasons::EXPIRING_SOON } else { reasons::ACTIVE };
            let mut out = vec![
                wanted(types::READY, "True", reason, message.clone()),
                wanted(synced_type, "True", reasons::ACTIVE, message.clone()),
            ];
            if *expiring_soon {
                out.push(wanted(types::EXPIRING_SOON, "True", reasons::EXPIRING_SOON, message.clone()));
            }
            out
        }
        Governing { message } => vec![
            wanted(types::READY, "True", reasons::GOVERNING, message.clone()),
            wanted(synced_type, "True", reasons::GOVERNING, message.clone()),
        ],
        Observing { message } => vec![
            wanted(types::READY, "False", reasons::OBSERVING, message.clone()),
            wanted(synced_type, "False", reasons::OBSERVING, message.clone()),
        ],
        DeletionHeld { message } => vec![
            wanted(types::READY, "False", reasons::DELETION_HELD, message.clone()),
            wanted(types::STALLED, "True", reasons::DELETION_HELD, message.clone()),
            wanted(synced_type, "False", reasons::DELETION_HELD, message.clone()),
        ],
        Suspended => vec![wanted(
            types::READY,
            "True",
            reasons::SUSPENDED,
            "Reconciliation is suspended; entries are left as they are",
        )],
    }
}

/// Builds the new condition list. A condition whose status is unchanged keeps its
/// `lastTransitionTime`; conditions not wanted any more (a `Reconciling` that ended) are dropped.
pub fn merge_conditions(
    previous: &[Condition],
    wanted: &[Wanted],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    wanted
        .iter()
        .map(|w| {
            let since = previous
                .iter()
                .find(|c| c.type_ == w.type_ && c.status == w.status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or(Time(now));
            Condition {
                type_: w.type_.to_owned(),
                status: w.status.to_owned(),
                reason: w.reason.to_owned(),
                message: w.message.clone(),
                observed_generation: generation,
                last_transition_time: since,
            }
        })
        .collect()
}

/// Whether two condition lists say the same thing, ignoring transition times; a status write is
/// skipped when they do.
pub fn same_conditions(a: &[Condition], b: &[Condition]) -> bool {
    let key =
        |c: &Condition| (c.type_.clone(), c.status.clone(), c.reason.clone(), c.message.clone(), c.observed_generation);
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNCED: &str = types::ENTRIES_SYNCED;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    fn types_of(conditions: &[Condition]) -> Vec<(&str, &str)> {
        conditions.iter().map(|c| (c.type_.as_str(), c.status.as_str())).collect()
    }

    #[test]
    fn ready_is_always_present_and_transient_conditions_only_while_true() {
        let cases = [
            (Health::Pending, vec![("Ready", "Unknown")]),
            (Health::Synced { message: "m".into() }, vec![("Ready", "True"), (SYNCED, "True")]),
            (
                Health::Progressing { message: "m".into() },
                vec![("Ready", "False"), ("Reconciling", "True"), (SYNCED, "False")],
            ),
            (
                Health::SpireUnavailable { message: "m".into() },
                vec![("Ready", "False"), ("Reconciling", "True"), (SYNCED, "Unknown")],
            ),
            (
                Health::InvalidSpec { message: "m".into() },
                vec![("Ready", "False"), ("Stalled", "True"), (SYNCED, "False")],
            ),
            (
                Health::SpireRejected { message: "m".into() },
                vec![("Ready", "False"), ("Stalled", "True"), (SYNCED, "False")],
            ),
            (Health::Suspended, vec![("Ready", "True")]),
            (Health::Disabled { message: "m".into() }, vec![("Ready", "Unknown")]),
            (Health::Masked { message: "m".into() }, vec![("Ready", "False"), ("Stalled", "True"), (SYNCED, "False")]),
            (
                Health::InputsIncomplete { message: "m".into() },
                vec![("Ready", "False"), ("Reconciling", "True"), (SYNCED, "Unknown")],
            ),
            (Health::Observing { message: "m".into() }, vec![("Ready", "False"), (SYNCED, "False")]),
            (
                Health::DeletionHeld { message: "m".into() },
                vec![("Ready", "False"), ("Stalled", "True"), (SYNCED, "False")],
            ),
        ];
        for (health, want) in cases {
            let got = merge_conditions(&[], &conditions_for(&health, SYNCED), Some(1), at(0));
            assert_eq!(types_of(&got), want, "{health:?}");
        }
    }

    #[test]
    fn reasons_match_the_health() {
        let got = conditions_for(&Health::SpireUnavailable { message: "down".into() }, SYNCED);
        assert!(got.iter().all(|c| c.reason == reasons::SPIRE_UNAVAILABLE && c.message == "down"));
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let first =
            merge_conditions(&[], &conditions_for(&Health::Synced { message: "a".into() }, SYNCED), Some(1), at(10));
        let same =
            merge_conditions(&first, &conditions_for(&Health::Synced { message: "b".into() }, SYNCED), Some(2), at(20));
        assert!(same.iter().all(|c| c.last_transition_time == Time(at(10))));
        assert!(same.iter().all(|c| c.observed_generation == Some(2)));
        let broken = merge_conditions(
            &same,
            &conditions_for(&Health::InvalidSpec { message: "x".into() }, SYNCED),
            Some(3),
            at(30),
        );
        assert!(broken.iter().all(|c| c.last_transition_time == Time(at(30))));
    }

    #[test]
    fn recovering_drops_stalled() {
        let broken = merge_conditions(
            &[],
            &conditions_for(&Health::InvalidSpec { message: "x".into() }, SYNCED),
            Some(1),
            at(0),
        );
        let fixed = merge_conditions(
            &broken,
            &conditions_for(&Health::Synced { message: "ok".into() }, SYNCED),
            Some(2),
            at(5),
        );
        assert!(!fixed.iter().any(|c| c.type_ == types::STALLED));
    }

    #[test]
    fn comparison_ignores_time_and_order() {
        let a = merge_conditions(&[], &conditions_for(&Health::Synced { message: "m".into() }, SYNCED), Some(1), at(1));
        let mut b =
            merge_conditions(&[], &conditions_for(&Health::Synced { message: "m".into() }, SYNCED), Some(1), at(9));
        b.reverse();
        assert!(same_conditions(&a, &b));
        let c = merge_conditions(&[], &conditions_for(&Health::Synced { message: "n".into() }, SYNCED), Some(1), at(1));
        assert!(!same_conditions(&a, &c));
    }
}
