//! The status of IdentityPolicies and IdentityExceptions, from the verdicts of the last passes.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::{Desired, Health};
use crate::{
    api::{
        conditions::types,
        v1alpha1::{TtlReport, TtlStatus},
    },
    policy::{Bound, Exception, Verdict, in_force},
};

/// What one policy governed at the last passes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyCounts {
    /// UIDs of the identities it governs for at least one entry.
    pub identities: BTreeSet<String>,
    pub entries: i32,
    /// Entries breaking one of its rules.
    pub denied: i32,
    /// Entries whose TTL one of its bounds set.
    pub clamped: i32,
}

/// What the entries made of one exception at the last passes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExceptionUse {
    /// Entries that relied on it.
    pub entries: i32,
    pub relaxations: BTreeSet<&'static str>,
    /// A governing policy whose `maxExceptionDuration` refuses it.
    pub refused_by: Option<String>,
}

/// Adds up verdicts, each with the UID of the identity it is about, per policy and per
/// exception.
pub fn governance_counts<'a>(
    verdicts: impl IntoIterator<Item = (&'a str, &'a Verdict)>,
) -> (BTreeMap<String, PolicyCounts>, BTreeMap<String, ExceptionUse>) {
    let mut policies: BTreeMap<String, PolicyCounts> = BTreeMap::new();
    let mut exceptions: BTreeMap<String, ExceptionUse> = BTreeMap::new();
    for (uid, verdict) in verdicts {
        let decision = &verdict.decision;
        for name in &verdict.policies {
            let counts = policies.entry(name.clone()).or_default();
            counts.identities.insert(uid.to_owned());
            counts.entries += 1;
            if decision.denials.iter().any(|d| &d.policy == name) {
                counts.denied += 1;
            }
            let sets = |e: &crate::policy::Effective| {
                e.bound_by.as_ref().is_some_and(|(n, b)| n == name && *b != Bound::ExceptionMax)
            };
            if decision.allowed && (sets(&decision.x509_ttl) || sets(&decision.jwt_ttl)) {
                counts.clamped += 1;
            }
        }
        let mut relied: BTreeSet<&str> = BTreeSet::new();
        for (name, relaxation) in &decision.exceptions_used {
            let used = exceptions.entry(name.clone()).or_default();
            used.relaxations.insert(relaxation.as_str());
            if relied.insert(name) {
                used.entries += 1;
            }
        }
        for (name, policy) in &decision.exceptions_refused {
            exceptions.entry(name.clone()).or_default().refused_by.get_or_insert_with(|| policy.clone());
        }
    }
    (policies, exceptions)
}

/// An IdentityPolicy's own status fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyFields {
    pub identities_governed: i32,
    pub entries_governed: i32,
    pub entries_denied: i32,
    pub entries_clamped: i32,
}

/// The status of an IdentityPolicy: `validity` is None until the operator has read its
/// generation, then whether it is valid.
pub fn policy_status(
    generation: Option<i64>,
    validity: Option<Result<(), &str>>,
    counts: Option<&PolicyCounts>,
) -> Desired<PolicyFields> {
    let counts = counts.cloned().unwrap_or_default();
    let fields = PolicyFields {
        identities_governed: counts.identities.len() as i32,
        entries_governed: counts.entries,
        entries_denied: counts.denied,
        entries_clamped: counts.clamped,
    };
    let health = match validity {
        None => Health::Pending,
        Some(Err(why)) => Health::InvalidSpec {
            message: format!("{why}; the policy denies nothing and removes nothing until it is fixed"),
        },
        Some(Ok(())) => Health::Governing {
            message: format!(
                "governs {} entries of {} identities: {} break its rules, {} have a TTL it sets",
                fields.entries_governed, fields.identities_governed, fields.entries_denied, fields.entries_clamped
            ),
        },
    };
    Desired { generation, health, synced_type: types::GOVERNING, fields }
}

/// An IdentityException's own status fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExceptionFields {
    pub entries_relaxed: i32,
    pub relaxations_used: Vec<String>,
}

/// The status of an IdentityException at `now`. `validity` is None until the operator has read
/// it, then the validated exception or why it is invalid. `window` is how long before the lapse
/// it shows `ExpiringSoon`.
pub fn exception_status(
    generation: Option<i64>,
    validity: Option<Result<&Exception, &str>>,
    used: Option<&ExceptionUse>,
    now: Timestamp,
    window: Duration,
) -> Desired<ExceptionFields> {
    let used = used.cloned().unwrap_or_default();
    let fields = ExceptionFields {
        entries_relaxed: used.entries,
        relaxations_used: used.relaxations.iter().map(|r| (*r).to_owned()).collect(),
    };
    let health = match validity {
        None => Health::Pending,
        Some(Err(why)) => Health::InvalidSpec { message: format!("{why}; the exception relaxes nothing") },
        Some(Ok(exception)) => exception_health(exception, &used, now, window),
    };
    Desired { generation, health, synced_type: types::ACTIVE, fields }
}

fn exception_health(exception: &Exception, used: &ExceptionUse, now: Timestamp, window: Duration) -> Health {
    let target = format!("{} {}", exception.target.kind, exception.target.name);
    if !in_force(exception.expires_at, now) {
        return Health::Expired {
            message: format!(
                "expired at {}; {target} is held to the policies again. Create a new exception to extend it",
                exception.expires_at
            ),
        };
    }
    if let Some(policy) = &used.refused_by {
        return Health::TermTooLong {
            message: format!(
                "its term, from {} to {}, is longer than the maxExceptionDuration of IdentityPolicy {policy}; it \
                 relaxes nothing",
                exception.created_at, exception.expires_at
            ),
        };
    }
    let left = exception.expires_at.duration_since(now);
    let window = SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX);
    let expiring_soon = left <= window;
    let soon = if expiring_soon { " (inside the warning window)" } else { "" };
    Health::Active {
        message: format!(
            "in force for {target} until {}{soon}; {} entries rely on it",
            exception.expires_at, used.entries
        ),
        expiring_soon,
    }
}

/// The instants after `now` at which an exception's status changes by itself: its lapse and the
/// start of its warning window.
pub fn exception_instants(exception: &Exception, window: Duration, now: Timestamp) -> impl Iterator<Item = Timestamp> {
    let warn = SignedDuration::try_from(window).ok().and_then(|w| exception.expires_at.checked_sub(w).ok());
    [Some(exception.expires_at), warn].into_iter().flatten().filter(move |at| *at > now)
}

/// The note of the Normal Event a change of the TTLs a policy sets calls for: None when they did
/// not change, or when no bound sets them now.
pub fn ttl_change_note(previous: Option<&TtlStatus>, next: Option<&TtlStatus>) -> Option<String> {
    if previous == next {
        return None;
    }
    let next = next?;
    let describe = |kind: &str, r: &Option<TtlReport>| {
        let r = r.as_ref()?;
        let bound = r.bound_by.as_ref()?;
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "unset".into());
        Some(format!("{kind} TTL {} requested, {} written ({bound})", show(&r.requested), show(&r.effective)))
    };
    let parts: Vec<String> = [describe("x509", &next.x509), describe("jwt", &next.jwt)].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        api::conditions::reasons,
        policy::{Relaxations, Target},
        status::conditions_for,
    };

    fn exception() -> Exception {
        Exception {
            name: "legacy".into(),
            target: Target { kind: "ClusterSPIFFEID".into(), name: "billing".into(), namespace: None },
            expires_at: "2026-12-10T00:00:00Z".parse().unwrap(),
            created_at: "2026-12-01T00:00:00Z".parse().unwrap(),
            relaxations: Relaxations::default(),
        }
    }

    fn reason(health: &Health) -> &'static str {
        conditions_for(health, types::ACTIVE).into_iter().find(|c| c.type_ == types::READY).unwrap().reason
    }

    #[test]
    fn an_exception_is_active_then_expiring_soon_then_expired_exactly_at_the_instant() {
        let e = exception();
        let window = Duration::from_secs(72 * 3600);
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let cases = [
            ("2026-12-06T23:59:59Z", reasons::ACTIVE),
            ("2026-12-07T00:00:00Z", reasons::EXPIRING_SOON),
            ("2026-12-09T23:59:59.999Z", reasons::EXPIRING_SOON),
            ("2026-12-10T00:00:00Z", reasons::EXPIRED),
            ("2026-12-10T00:00:00.001Z", reasons::EXPIRED),
        ];
        for (now, want) in cases {
            let desired = exception_status(Some(1), Some(Ok(&e)), None, at(now), window);
            assert_eq!(reason(&desired.health), want, "{now}");
        }
        let refused = ExceptionUse { refused_by: Some("strict".into()), ..Default::default() };
        let desired = exception_status(Some(1), Some(Ok(&e)), Some(&refused), at("2026-12-02T00:00:00Z"), window);
        assert_eq!(reason(&desired.health), reasons::TERM_TOO_LONG);
        let desired = exception_status(Some(1), Some(Ok(&e)), Some(&refused), at("2026-12-11T00:00:00Z"), window);
        assert_eq!(reason(&desired.health), reasons::EXPIRED, "expiry outranks the refusal");
        let invalid = exception_status(Some(1), Some(Err("bad")), None, at("2026-12-02T00:00:00Z"), window);
        assert_eq!(reason(&invalid.health), reasons::INVALID_SPEC);

        let instants: Vec<_> = exception_instants(&e, window, at("2026-12-01T00:00:00Z")).collect();
        assert_eq!(instants, [at("2026-12-10T00:00:00Z"), at("2026-12-07T00:00:00Z")]);
        let instants: Vec<_> = exception_instants(&e, window, at("2026-12-08T00:00:00Z")).collect();
        assert_eq!(instants, [at("2026-12-10T00:00:00Z")]);
    }

    #[test]
    fn an_invalid_policy_is_stalled_and_a_valid_one_counts() {
        let invalid = policy_status(Some(2), Some(Err("spec.ttl.x509.min: 2h is above 1h")), None);
        assert_eq!(reason(&invalid.health), reasons::INVALID_SPEC);
        let counts = PolicyCounts { identities: ["a".to_owned()].into(), entries: 3, denied: 1, clamped: 2 };
        let valid = policy_status(Some(2), Some(Ok(())), Some(&counts));
        assert_eq!(reason(&valid.health), reasons::GOVERNING);
        assert_eq!(
            valid.fields,
            PolicyFields { identities_governed: 1, entries_governed: 3, entries_denied: 1, entries_clamped: 2 }
        );
        assert_eq!(policy_status(None, None, None).health, Health::Pending);
    }
}
