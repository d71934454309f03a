//! One ladder of reasons for every kind: what reconciliation observed about a resource, and the
//! one health that follows from it.
//!
//! The precedence, first match wins:
//!
//! | # | reason | when |
//! |---|---|---|
//! | 1 | `ReconcileDisabled` | the operator's configuration switches its kind off |
//! | 2 | `Pending` | the operator has not processed the resource's generation yet (`SpireUnavailable` instead while SPIRE keeps it from starting: unreachable, or denying it; a `Stalled` status already recorded for the generation is then left as it is) |
//! | 3 | `InvalidSpec` | the spec does not parse (existing entries are kept) |
//! | 4 | `Suspended` | `spec.suspend` is true |
//! | 5 | `InvalidSpec` | the spec parses but fails to render for some pods |
//! | 6 | `Expired` | its `expiresAt` has passed (its entry is removed) |
//! | 7 | `PolicyDenied` | a policy denies entries it declares (they are not written) |
//! | 8 | `Masked` | every entry it declares is masked by an older (or cluster-scoped) resource |
//! | 9 | `Observing` | observe mode: writes of its entries are planned and not made |
//! | 10 | `DeletionHeld` | the deletion circuit breaker holds deletions of its entries |
//! | 11 | `SpireRejected` | SPIRE refused a write |
//! | 12 | `SpireUnavailable` | SPIRE could not be reached |
//! | 13 | `InputsIncomplete` | an input is missing (a pod's node is not known yet) |
//! | 14 | `Progressing` | writes are still to be made |
//! | 15 | `Synced` | everything it declares is in SPIRE |
//!
//! Problems only a change of spec, of policy or of SPIRE, or a person's confirmation, can fix
//! (3, 5-8, 10, 11, Stalled) outrank a passing outage (12), so a broken resource stays failed
//! while SPIRE is away. In observe mode nothing is written, so nothing is held or refused: what
//! would be written (9) comes before them.

use super::Health;

/// What reconciliation observed about one resource, whatever its kind. Each message is the one
/// its reason shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The operator processed the resource's current generation.
    pub processed: bool,
    pub disabled: Option<String>,
    pub invalid: Option<String>,
    pub suspended: bool,
    pub render_failed: Option<String>,
    pub expired: Option<String>,
    pub denied: Option<String>,
    pub masked: Option<String>,
    /// Observe mode: what would be written.
    pub observing: Option<String>,
    /// Deletions the circuit breaker holds, and how to confirm them.
    pub deletion_held: Option<String>,
    pub rejected: Option<String>,
    pub unavailable: Option<String>,
    pub waiting: Option<String>,
    pub progressing: Option<String>,
    /// What Ready says when nothing above applies.
    pub synced: String,
}

/// The health the facts call for, by the ladder above.
pub fn health(facts: Facts) -> Health {
    let Facts {
        processed,
        disabled,
        invalid,
        suspended,
        render_failed,
        expired,
        denied,
        masked,
        observing,
        deletion_held,
        rejected,
        unavailable,
        waiting,
        progressing,
        synced,
    } = facts;
    if let Some(message) = disabled {
        return Health::Disabled { message };
    }
    if !processed {
        // Before its first pass the operator only waits for SPIRE: say why.
        return unavailable.map_or(Health::Pending, |message| Health::SpireUnavailable { message });
    }
    if let Some(message) = invalid {
        return Health::InvalidSpec { message };
    }
    if suspended {
        return Health::Suspended;
    }
    if let Some(message) = render_failed {
        return Health::InvalidSpec { message };
    }
    if let Some(message) = expired {
        return Health::Expired { message };
    }
    if let Some(message) = denied {
        return Health::PolicyDenied { message };
    }
    if let Some(message) = masked {
        return Health::Masked { message };
    }
    if let Some(message) = observing {
        return Health::Observing { message };
    }
    if let Some(message) = deletion_held {
        return Health::DeletionHeld { message };
    }
    if let Some(message) = rejected {
        return Health::SpireRejected { message };
    }
    if let Some(message) = unavailable {
        return Health::SpireUnavailable { message };
    }
    if let Some(message) = waiting {
        return Health::InputsIncomplete { message };
    }
    if let Some(message) = progressing {
        return Health::Progressing { message };
    }
    Health::Synced { message: synced }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    fn every_fact() -> Facts {
        Facts {
            processed: true,
            disabled: m("disabled"),
            invalid: m("invalid"),
            suspended: true,
            render_failed: m("render"),
            expired: m("expired"),
            denied: m("denied"),
            masked: m("masked"),
            observing: m("observing"),
            deletion_held: m("held"),
            rejected: m("rejected"),
            unavailable: m("unavailable"),
            waiting: m("waiting"),
            progressing: m("progressing"),
            synced: "synced".into(),
        }
    }

    #[test]
    fn each_reason_wins_over_every_reason_below_it() {
        // Peel facts off from the top: each step shows the next reason of the ladder.
        let mut facts = every_fact();
        let mut seen = vec![health(facts.clone())];
        facts.disabled = None;
        seen.push(health(Facts { processed: false, unavailable: None, ..facts.clone() }));
        let steps: [fn(&mut Facts); 13] = [
            |f| f.invalid = None,
            |f| f.suspended = false,
            |f| f.render_failed = None,
            |f| f.expired = None,
            |f| f.denied = None,
            |f| f.masked = None,
            |f| f.observing = None,
            |f| f.deletion_held = None,
            |f| f.rejected = None,
            |f| f.unavailable = None,
            |f| f.waiting = None,
            |f| f.progressing = None,
            |_| {},
        ];
        seen.push(health(facts.clone()));
        for step in &steps[..12] {
            step(&mut facts);
            seen.push(health(facts.clone()));
        }
        assert_eq!(
            seen,
            [
                Health::Disabled { message: "disabled".into() },
                Health::Pending,
                Health::InvalidSpec { message: "invalid".into() },
                Health::Suspended,
                Health::InvalidSpec { message: "render".into() },
                Health::Expired { message: "expired".into() },
                Health::PolicyDenied { message: "denied".into() },
                Health::Masked { message: "masked".into() },
                Health::Observing { message: "observing".into() },
                Health::DeletionHeld { message: "held".into() },
                Health::SpireRejected { message: "rejected".into() },
                Health::SpireUnavailable { message: "unavailable".into() },
                Health::InputsIncomplete { message: "waiting".into() },
                Health::Progressing { message: "progressing".into() },
                Health::Synced { message: "synced".into() },
            ]
        );
    }

    #[test]
    fn before_its_first_pass_a_resource_shows_why_spire_keeps_the_operator_waiting() {
        let waiting = Facts { processed: false, invalid: m("invalid"), ..Default::default() };
        assert_eq!(health(waiting.clone()), Health::Pending);
        let denied = Facts { unavailable: m("denied the operator with PermissionDenied"), ..waiting };
        assert_eq!(
            health(denied),
            Health::SpireUnavailable { message: "denied the operator with PermissionDenied".into() }
        );
        let off = Facts { processed: false, disabled: m("off"), unavailable: m("down"), ..Default::default() };
        assert_eq!(health(off), Health::Disabled { message: "off".into() });
    }

    #[test]
    fn a_stalled_resource_stays_stalled_while_spire_is_away() {
        for stalled in [
            Facts { render_failed: m("render"), ..Default::default() },
            Facts { masked: m("masked"), ..Default::default() },
            Facts { denied: m("denied"), ..Default::default() },
            Facts { expired: m("expired"), ..Default::default() },
            Facts { rejected: m("rejected"), ..Default::default() },
            Facts { deletion_held: m("held"), ..Default::default() },
        ] {
            let got = health(Facts { processed: true, unavailable: m("down"), ..stalled });
            assert!(!matches!(got, Health::SpireUnavailable { .. }), "{got:?}");
        }
    }
}
