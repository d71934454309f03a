//! TTL bounds, their intersection across policies, and the effective TTL of one entry.

use super::{Denial, Enforcement, Policy, Rule};

/// What a policy does with a declared TTL outside its bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TtlAction {
    /// The TTL is brought to the nearest bound and the entry is written (the default).
    #[default]
    Clamp,
    /// The entry is denied.
    Deny,
}

/// A policy's TTL bounds, in seconds. An absent bound does not constrain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TtlBounds {
    pub x509_min: Option<u32>,
    pub x509_max: Option<u32>,
    pub x509_default: Option<u32>,
    pub jwt_max: Option<u32>,
    pub jwt_default: Option<u32>,
    pub action: TtlAction,
}

/// Which bound set an effective TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Raised to a policy's minimum.
    Min,
    /// Lowered to a policy's maximum, or an unset TTL given the maximum.
    Max,
    /// An unset TTL given a policy's default.
    Default,
    /// Lowered to an exception's maximum, which replaced the policies' maximum.
    ExceptionMax,
}

/// The TTL an entry is written with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effective {
    /// The TTL to write, in seconds; `None` leaves it unset (the server's default applies).
    pub seconds: Option<u32>,
    /// The TTL the identity declared; `None` if unset.
    pub requested: Option<u32>,
    /// The policy (or, for [`Bound::ExceptionMax`], the exception) whose bound set `seconds`, when
    /// it differs from `requested`.
    pub bound_by: Option<(String, Bound)>,
}

/// The two SVID kinds with TTLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TtlKind {
    X509,
    Jwt,
}

impl TtlKind {
    fn label(self) -> &'static str {
        match self {
            TtlKind::X509 => "x509 TTL",
            TtlKind::Jwt => "jwt TTL",
        }
    }
}

impl TtlBounds {
    /// `(min, max, default)` for one kind. JWT-SVIDs have no minimum.
    fn limits(&self, kind: TtlKind) -> Limits {
        match kind {
            TtlKind::X509 => (self.x509_min, self.x509_max, self.x509_default),
            TtlKind::Jwt => (None, self.jwt_max, self.jwt_default),
        }
    }
}

/// `(min, max, default)` of one policy for one kind.
type Limits = (Option<u32>, Option<u32>, Option<u32>);

/// The result of the TTL rules for one kind.
pub(super) struct Outcome {
    pub effective: Effective,
    pub denials: Vec<Denial>,
    /// Whether the exception maximum let the TTL exceed the policies' maximum.
    pub exception_used: bool,
}

/// Applies the TTL rules for one kind (see [`super::decide`]).
pub(super) fn evaluate(
    kind: TtlKind,
    requested: Option<u32>,
    policies: &[&Policy],
    exception_max: Option<(u32, &str)>,
) -> Outcome {
    let bounded: Vec<(&Policy, Limits, TtlAction)> =
        policies.iter().filter_map(|p| p.ttl.as_ref().map(|t| (*p, t.limits(kind), t.action))).collect();
    let mut denials = Vec::new();

    // An empty intersection: some policy's minimum above some policy's maximum.
    let mut disjoint_enforced = false;
    for (a, (a_min, _, _), _) in &bounded {
        for (b, (_, b_max, _), _) in &bounded {
            if let (Some(min), Some(max)) = (a_min, b_max)
                && min > max
            {
                let enforced = a.enforcement == Enforcement::Enforce && b.enforcement == Enforcement::Enforce;
                disjoint_enforced |= enforced;
                denials.push(Denial {
                    policy: a.name.clone(),
                    rule: Rule::TtlBoundsDisjoint { other: b.name.clone() },
                    value: format!("{} min {min}s of {} above max {max}s of {}", kind.label(), a.name, b.name),
                    enforced,
                });
            }
        }
    }

    let enforce: Vec<_> = bounded.iter().filter(|(p, _, _)| p.enforcement == Enforcement::Enforce).collect();
    let pick = |get: fn(&Limits) -> Option<u32>, larger: bool| {
        enforce
            .iter()
            .filter_map(|(p, limits, _)| get(limits).map(|v| (v, p.name.as_str())))
            .reduce(|best, next| if (larger && next.0 > best.0) || (!larger && next.0 < best.0) { next } else { best })
    };
    let min = pick(|l| l.0, true);
    let policy_max = pick(|l| l.1, false);
    let default = pick(|l| l.2, false);
    let max: Option<(u32, &str, Bound)> = match (policy_max, exception_max) {
        (Some((p, _)), Some((e, exception))) if e > p => Some((e, exception, Bound::ExceptionMax)),
        (Some((p, name)), _) => Some((p, name, Bound::Max)),
        (None, _) => None,
    };

    let mut effective = Effective { seconds: requested, requested, bound_by: None };
    if !disjoint_enforced {
        let set = |effective: &mut Effective, seconds: u32, name: &str, bound: Bound| {
            effective.seconds = Some(seconds);
            effective.bound_by = Some((name.to_owned(), bound));
        };
        match requested {
            None => {
                if let Some((d, name)) = default {
                    set(&mut effective, d, name, Bound::Default);
                } else if let Some((m, name)) = policy_max {
                    set(&mut effective, m, name, Bound::Max);
                }
                if let (Some(s), Some((m, name))) = (effective.seconds, min)
                    && s < m
                {
                    set(&mut effective, m, name, Bound::Min);
                }
                if let (Some(s), Some((m, name, bound))) = (effective.seconds, max)
                    && s > m
                {
                    set(&mut effective, m, name, bound);
                }
            }
            Some(r) => {
                let above = max.is_some_and(|(m, _, _)| r > m);
                let below = min.is_some_and(|(m, _)| r < m);
                let mut denied = false;
                for (p, (p_min, p_max, _), action) in &enforce {
                    let p_max = match max {
                        Some((e, _, Bound::ExceptionMax)) => p_max.map(|m| m.max(e)),
                        _ => *p_max,
                    };
                    let out = (above && p_max.is_some_and(|m| r > m)) || (below && p_min.is_some_and(|m| r < m));
                    if out && *action == TtlAction::Deny {
                        denied = true;
                        denials.push(out_of_bounds(kind, p, r, *p_min, p_max, true));
                    }
                }
                if !denied {
                    if let (true, Some((m, name, bound))) = (above, max) {
                        set(&mut effective, m, name, bound);
                    } else if let (true, Some((m, name))) = (below, min) {
                        set(&mut effective, m, name, Bound::Min);
                    }
                }
            }
        }
    }

    // Audit policies report what they would clamp or deny; they never change the TTL.
    if let Some(s) = effective.seconds {
        for (p, (p_min, p_max, _), _) in bounded.iter().filter(|(p, _, _)| p.enforcement == Enforcement::Audit) {
            let p_max = match (p_max, exception_max) {
                (Some(m), Some((e, _))) if e > *m => Some(e),
                _ => *p_max,
            };
            if p_min.is_some_and(|m| s < m) || p_max.is_some_and(|m| s > m) {
                denials.push(out_of_bounds(kind, p, s, *p_min, p_max, false));
            }
        }
    }

    let exception_used = matches!(max, Some((_, _, Bound::ExceptionMax)))
        && effective.seconds.zip(policy_max).is_some_and(|(s, (p, _))| s > p);
    Outcome { effective, denials, exception_used }
}

fn out_of_bounds(
    kind: TtlKind,
    policy: &Policy,
    ttl: u32,
    min: Option<u32>,
    max: Option<u32>,
    enforced: bool,
) -> Denial {
    let bound = |b: Option<u32>| b.map_or_else(|| "-".to_owned(), |v| format!("{v}s"));
    Denial {
        policy: policy.name.clone(),
        rule: Rule::TtlOutOfBounds,
        value: format!("{} {ttl}s outside [{}, {}]", kind.label(), bound(min), bound(max)),
        enforced,
    }
}
