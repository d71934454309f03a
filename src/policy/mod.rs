//! Registration policy: whether one rendered entry may exist, and with which TTLs.
//!
//! [`decide`] is the one decision. Reconcile, status, Events, metrics and reports all call it, so
//! that a rule is written once. It is pure: the caller passes the entry's request, the policies
//! that govern its identity (see [`governs`]), the exceptions that target it, and the instant.

mod convert;
mod exception;
mod governance;
mod pattern;
mod ttl;

#[cfg(test)]
mod tests;

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::LabelSelector, jiff::Timestamp};

pub use convert::{ConvertError, exception_of, kind_name, policy_of, source_kind};
pub use exception::{Exception, Relaxation, Relaxations, Target, in_force, term_too_long};
pub use governance::{
    Governance, GoverningPolicy, Subject, TENANT_CONFINEMENT, TargetedException, Verdict, tenant_confinement,
};
pub use pattern::{Bindings, Pattern, PatternError, Placeholder, is_normal_path};
pub use ttl::{Bound, Effective, TtlAction, TtlBounds};

use crate::{reconcile::SourceKind, selection};

/// Whether a policy's violations stop the entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Enforcement {
    /// Violations deny the entry (the default).
    #[default]
    Enforce,
    /// Violations are reported (denials with `enforced: false`); the entry is written as if the
    /// policy did not exist, and its TTL bounds neither clamp nor fill a TTL.
    Audit,
}

/// Whether a privilege may be granted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Permission {
    Allow,
    /// The default: a governed entry may not have the privilege.
    #[default]
    Deny,
}

/// What an entry may carry beyond its SPIFFE ID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Privileges {
    /// Whether the entry may be an admin entry.
    pub admin: Permission,
    /// Whether the entry may be a downstream entry.
    pub downstream: Permission,
    /// The trust domains the entry may federate with; none by default.
    pub federates_with: Vec<String>,
    /// For static entries: the selector types (`unix`, `k8s`, ...) the entry may use; `None`
    /// allows any.
    pub selector_types: Option<Vec<String>>,
    /// For static entries: patterns the parent ID's path must match one of; `None` allows any.
    pub parent_ids: Option<Vec<Pattern>>,
}

/// Which identities a policy governs (`spec.match`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyMatch {
    /// The identity kinds; empty means every identity kind.
    pub kinds: Vec<SourceKind>,
    /// A label selector on the identity resource; absent selects all.
    pub selector: Option<LabelSelector>,
    /// A selector on the labels of the identity's namespace (the pods' namespace for pod
    /// identities). An identity without a namespace (a static entry) matches only an absent or
    /// empty namespace selector.
    pub namespace_selector: Option<LabelSelector>,
}

/// One registration policy, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub enforcement: Enforcement,
    /// If not empty, the SPIFFE ID's path must match one of these (or an active exception's
    /// `extraAllow`).
    pub allow: Vec<Pattern>,
    /// A SPIFFE ID whose path matches any of these is denied, whatever the allow list says.
    pub deny: Vec<Pattern>,
    pub ttl: Option<TtlBounds>,
    pub privileges: Privileges,
    /// Whether the identity must name an owner team and contact.
    pub require_owner: bool,
    /// The longest term (`expiresAt` minus creation) an exception to this policy may have.
    pub max_exception_duration: Option<Duration>,
}

/// Whether a policy's `spec.match` selects an identity of `kind` with `labels`, in a namespace
/// with `namespace_labels` (`None` when the identity has no namespace). Selectors must have
/// passed [`selection::check_selector`]. The federated trust domain kind is never an identity.
pub fn governs(
    policy_match: &PolicyMatch,
    kind: SourceKind,
    labels: Option<&BTreeMap<String, String>>,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let kind_matches = if policy_match.kinds.is_empty() {
        kind != SourceKind::ClusterFederatedTrustDomain
    } else {
        policy_match.kinds.contains(&kind)
    };
    let namespace_matches = match namespace_labels {
        Some(ns_labels) => selection::selects(policy_match.namespace_selector.as_ref(), Some(ns_labels)),
        None => policy_match.namespace_selector.as_ref().is_none_or(|s| {
            s.match_labels.as_ref().is_none_or(|l| l.is_empty())
                && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
        }),
    };
    kind_matches && namespace_matches && selection::selects(policy_match.selector.as_ref(), labels)
}

/// What one rendered entry asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The path of the rendered SPIFFE ID (`/ns/a/sa/b`).
    pub spiffe_id: String,
    /// The path of the parent ID.
    pub parent_id: String,
    pub kind: SourceKind,
    /// The values of the identity's placeholders.
    pub bindings: Bindings<'a>,
    /// The declared X509-SVID TTL in seconds; `None` if unset.
    pub x509_ttl: Option<u32>,
    /// The declared JWT-SVID TTL in seconds; `None` if unset.
    pub jwt_ttl: Option<u32>,
    pub admin: bool,
    pub downstream: bool,
    pub federates_with: Vec<String>,
    /// The types of the entry's selectors (`unix` of `unix:uid:1000`).
    pub selector_types: Vec<String>,
    /// Whether the identity names an owner team and contact.
    pub owner_set: bool,
}

/// The rule a denial breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The allow list is not empty and the SPIFFE ID matches none of it, or the path is not in
    /// normal form.
    SpiffeIdNotAllowed,
    /// The SPIFFE ID matches a deny pattern.
    SpiffeIdDenied,
    /// A declared TTL is outside a policy's bounds and the policy's action is Deny (or the policy
    /// audits).
    TtlOutOfBounds,
    /// This policy's minimum is above `other`'s maximum: no TTL satisfies both.
    TtlBoundsDisjoint {
        other: String,
    },
    AdminNotAllowed,
    DownstreamNotAllowed,
    FederationNotAllowed {
        domain: String,
    },
    SelectorTypeNotAllowed,
    ParentIdNotAllowed,
    OwnerRequired,
}

impl Rule {
    /// The rule's name in status messages and Events.
    pub fn as_str(&self) -> &'static str {
        match self {
            Rule::SpiffeIdNotAllowed => "SpiffeIDNotAllowed",
            Rule::SpiffeIdDenied => "SpiffeIDDenied",
            Rule::TtlOutOfBounds => "TTLOutOfBounds",
            Rule::TtlBoundsDisjoint { .. } => "TTLBoundsDisjoint",
            Rule::AdminNotAllowed => "AdminNotAllowed",
            Rule::DownstreamNotAllowed => "DownstreamNotAllowed",
            Rule::FederationNotAllowed { .. } => "FederationNotAllowed",
            Rule::SelectorTypeNotAllowed => "SelectorTypeNotAllowed",
            Rule::ParentIdNotAllowed => "ParentIDNotAllowed",
            Rule::OwnerRequired => "OwnerRequired",
        }
    }
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The policy whose rule is broken.
    pub policy: String,
    pub rule: Rule,
    /// The offending value.
    pub value: String,
    /// False for an Audit policy (and for disjoint bounds unless both policies enforce).
    pub enforced: bool,
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.policy == TENANT_CONFINEMENT {
            write!(f, "the {TENANT_CONFINEMENT} of SPIFFEIDs rule {}: {}", self.rule.as_str(), self.value)
        } else {
            write!(f, "IdentityPolicy {} rule {}: {}", self.policy, self.rule.as_str(), self.value)
        }
    }
}

impl Bound {
    /// The bound's name in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Min => "min",
            Bound::Max => "max",
            Bound::Default => "default",
            Bound::ExceptionMax => "exception max",
        }
    }
}

/// The outcome for one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// False exactly when some denial is enforced.
    pub allowed: bool,
    pub denials: Vec<Denial>,
    pub x509_ttl: Effective,
    pub jwt_ttl: Effective,
    /// The exception relaxations the decision relied on, each once, in the order first used.
    pub exceptions_used: Vec<(String, Relaxation)>,
    /// Exceptions active at the instant but refused because their term is longer than a
    /// governing policy's `maxExceptionDuration`: `(exception, policy)`.
    pub exceptions_refused: Vec<(String, String)>,
}

impl Decision {
    /// Whether the entry is written with a TTL a bound set rather than the declared one.
    pub fn ttl_set_by_bound(&self) -> bool {
        self.allowed && (self.x509_ttl.bound_by.is_some() || self.jwt_ttl.bound_by.is_some())
    }

    /// Whether the entry is written although an Audit policy would deny it.
    pub fn violates_audit(&self) -> bool {
        self.allowed && !self.denials.is_empty()
    }
}

/// Decides whether the entry `request` describes may exist, given the `policies` governing its
/// identity, the `exceptions` targeting it and the instant `now`.
///
/// Rules:
/// - **No policy**: allowed, TTLs as declared.
/// - **Every policy must be satisfied**; each broken rule is one [`Denial`] naming the policy, the
///   rule and the value. An Enforce policy's denial makes the entry denied; an Audit policy's
///   denial is reported with `enforced: false` and changes nothing.
/// - **Exceptions**: only an exception active at `now` ([`Exception::is_active`]) whose term is
///   within every governing policy's `maxExceptionDuration` ([`term_too_long`]) relaxes anything.
///   Which exceptions target the identity is the caller's matter.
/// - **SPIFFE ID**: a path not in normal form (empty, `.` or `..` segments) is denied by every
///   policy. Deny wins: a path matching a deny pattern is denied (`SpiffeIdDenied`), whatever
///   allow lists and exceptions say. When the allow list is not empty, the path must match one of
///   its patterns or an active exception's `extraAllow` (`SpiffeIdNotAllowed`).
/// - **TTL bounds** of all policies intersect: the largest minimum and the smallest maximum. A
///   minimum of one policy above a maximum of another is an empty intersection, a
///   `TtlBoundsDisjoint` denial naming both (enforced only if both policies enforce); the TTL is
///   then left as declared. An active exception's larger `x509TtlMax`/`jwtTtlMax` replaces the
///   maximum for this entry (the largest such exception counts).
/// - **Unset TTL**: gets the smallest default of the Enforce policies; without a default, the
///   policies' maximum; then it is brought within the bounds. Without either it stays unset.
/// - **Declared TTL outside the bounds**: each Enforce policy whose bound it breaks with action
///   Deny denies it (`TtlOutOfBounds`); if none does, it is clamped to the bound. `bound_by`
///   names the policy (or exception) whose bound set the TTL.
/// - **Audit policies' TTL bounds** are checked against the effective TTL and reported.
/// - **admin / downstream**: a policy whose privilege is Deny (the default) denies an entry with
///   it, unless an active exception grants `admin` / `downstream`.
/// - **federatesWith**: each domain must be in every policy's list or an active exception's.
/// - **Static entries only**: each selector type must be in the policy's `selectorTypes` and the
///   parent ID must match one of its `parentIDs` patterns, when the policy lists them.
/// - **requireOwner**: the identity must name an owner, unless an active exception grants
///   `ownerNotRequired`.
pub fn decide(request: &Request<'_>, policies: &[&Policy], exceptions: &[&Exception], now: Timestamp) -> Decision {
    let mut exceptions_refused = Vec::new();
    let usable: Vec<&Exception> = exceptions
        .iter()
        .copied()
        .filter(|e| e.is_active(now))
        // An Audit policy's maximum term refuses nothing: it is written as if it did not exist.
        .filter(|e| match policies.iter().find(|p| p.enforcement == Enforcement::Enforce && term_too_long(p, e)) {
            Some(p) => {
                exceptions_refused.push((e.name.clone(), p.name.clone()));
                false
            }
            None => true,
        })
        .collect();
    let mut denials = Vec::new();
    let mut used: Vec<(String, Relaxation)> = Vec::new();
    let mut use_relaxation = |exception: &Exception, relaxation: Relaxation| {
        let item = (exception.name.clone(), relaxation);
        if !used.contains(&item) {
            used.push(item);
        }
    };
    let grant = |pred: &dyn Fn(&Relaxations) -> bool| usable.iter().copied().find(|e| pred(&e.relaxations));

    let path = request.spiffe_id.as_str();
    let normal = is_normal_path(path);
    let id_matches = |pattern: &Pattern| pattern.matches(path, &request.bindings);
    for policy in policies {
        let enforced = policy.enforcement == Enforcement::Enforce;
        let mut deny = |rule: Rule, value: &str| {
            denials.push(Denial { policy: policy.name.clone(), rule, value: value.to_owned(), enforced })
        };

        if !normal {
            deny(Rule::SpiffeIdNotAllowed, path);
        } else if policy.deny.iter().any(id_matches) {
            deny(Rule::SpiffeIdDenied, path);
        } else if !policy.allow.is_empty() && !policy.allow.iter().any(id_matches) {
            match grant(&|r| r.extra_allow.iter().any(id_matches)) {
                Some(e) => use_relaxation(e, Relaxation::ExtraAllow),
                None => deny(Rule::SpiffeIdNotAllowed, path),
            }
        }

        if request.admin && policy.privileges.admin == Permission::Deny {
            match grant(&|r| r.admin) {
                Some(e) => use_relaxation(e, Relaxation::Admin),
                None => deny(Rule::AdminNotAllowed, "true"),
            }
        }
        if request.downstream && policy.privileges.downstream == Permission::Deny {
            match grant(&|r| r.downstream) {
                Some(e) => use_relaxation(e, Relaxation::Downstream),
                None => deny(Rule::DownstreamNotAllowed, "true"),
            }
        }
        for domain in &request.federates_with {
            if !policy.privileges.federates_with.contains(domain) {
                match grant(&|r| r.federates_with.contains(domain)) {
                    Some(e) => use_relaxation(e, Relaxation::FederatesWith),
                    None => deny(Rule::FederationNotAllowed { domain: domain.clone() }, domain),
                }
            }
        }

        if request.kind == SourceKind::ClusterStaticEntry {
            if let Some(types) = &policy.privileges.selector_types {
                let mut seen: Vec<&str> = Vec::new();
                for t in &request.selector_types {
                    if !types.contains(t) && !seen.contains(&t.as_str()) {
                        seen.push(t);
                        deny(Rule::SelectorTypeNotAllowed, t);
                    }
                }
            }
            if let Some(patterns) = &policy.privileges.parent_ids {
                let parent = request.parent_id.as_str();
                if !is_normal_path(parent) || !patterns.iter().any(|p| p.matches(parent, &request.bindings)) {
                    deny(Rule::ParentIdNotAllowed, parent);
                }
            }
        }

        if policy.require_owner && !request.owner_set {
            match grant(&|r| r.owner_not_required) {
                Some(e) => use_relaxation(e, Relaxation::OwnerNotRequired),
                None => deny(Rule::OwnerRequired, "owner unset"),
            }
        }
    }

    let largest = |get: fn(&Relaxations) -> Option<u32>| {
        usable
            .iter()
            .filter_map(|e| get(&e.relaxations).map(|v| (v, e.name.as_str())))
            .reduce(|best, next| if next.0 > best.0 { next } else { best })
    };
    let x509_max = largest(|r| r.x509_ttl_max);
    let jwt_max = largest(|r| r.jwt_ttl_max);
    let x509 = ttl::evaluate(ttl::TtlKind::X509, request.x509_ttl, policies, x509_max);
    let jwt = ttl::evaluate(ttl::TtlKind::Jwt, request.jwt_ttl, policies, jwt_max);
    for (outcome, max, relaxation) in
        [(&x509, x509_max, Relaxation::X509TtlMax), (&jwt, jwt_max, Relaxation::JwtTtlMax)]
    {
        if outcome.exception_used
            && let Some((_, name)) = max
            && let Some(e) = usable.iter().find(|e| e.name == name)
        {
            use_relaxation(e, relaxation);
        }
    }
    denials.extend(x509.denials);
    denials.extend(jwt.denials);

    Decision {
        allowed: !denials.iter().any(|d| d.enforced),
        denials,
        x509_ttl: x509.effective,
        jwt_ttl: jwt.effective,
        exceptions_used: used,
        exceptions_refused,
    }
}
