//! Time-boxed exceptions: named relaxations of the policies for one identity, until an instant.

use k8s_openapi::jiff::Timestamp;

use super::{Pattern, Policy};

/// The identity an exception is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The identity resource's kind, as in its manifest (`ClusterSPIFFEID`, `ClusterStaticEntry`).
    pub kind: String,
    pub name: String,
    /// Set for namespaced identity kinds only.
    pub namespace: Option<String>,
}

/// What an exception relaxes. Each field is one named relaxation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Relaxations {
    /// `x509TtlMax`: an X509-SVID TTL maximum (seconds) that replaces the policies' maximum when
    /// it is larger.
    pub x509_ttl_max: Option<u32>,
    /// `jwtTtlMax`: the same for JWT-SVIDs.
    pub jwt_ttl_max: Option<u32>,
    /// `extraAllow`: patterns added to every policy's allow list. They do not override a deny
    /// pattern.
    pub extra_allow: Vec<Pattern>,
    /// `admin`: the entry may be an admin entry although a policy denies it.
    pub admin: bool,
    /// `downstream`: the entry may be a downstream entry although a policy denies it.
    pub downstream: bool,
    /// `federatesWith`: trust domains the entry may federate with in addition to the policies'.
    pub federates_with: Vec<String>,
    /// `ownerNotRequired`: policies requiring an owner accept the identity without one.
    pub owner_not_required: bool,
}

/// The name of one relaxation, as reported in a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Relaxation {
    X509TtlMax,
    JwtTtlMax,
    ExtraAllow,
    Admin,
    Downstream,
    FederatesWith,
    OwnerNotRequired,
}

impl Relaxation {
    /// The relaxation's field name in the resource.
    pub fn as_str(self) -> &'static str {
        match self {
            Relaxation::X509TtlMax => "x509TtlMax",
            Relaxation::JwtTtlMax => "jwtTtlMax",
            Relaxation::ExtraAllow => "extraAllow",
            Relaxation::Admin => "admin",
            Relaxation::Downstream => "downstream",
            Relaxation::FederatesWith => "federatesWith",
            Relaxation::OwnerNotRequired => "ownerNotRequired",
        }
    }
}

/// An exception to the policies for one identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    pub name: String,
    pub target: Target,
    /// The instant the exception lapses.
    pub expires_at: Timestamp,
    /// `metadata.creationTimestamp`: the start of the exception's term.
    pub created_at: Timestamp,
    pub relaxations: Relaxations,
}

impl Exception {
    /// Whether the exception is in force at `now`: strictly before `expires_at`. It is active one
    /// millisecond before the instant and lapsed at the instant itself and after. This is the only
    /// test of activity; everything that asks whether an exception applies calls it.
    pub fn is_active(&self, now: Timestamp) -> bool {
        in_force(self.expires_at, now)
    }
}

/// Whether something that lapses at `expires_at` is still in force at `now`: strictly before the
/// instant. The one rule for every expiry: exceptions and static entries' `expiresAt` alike.
pub fn in_force(expires_at: Timestamp, now: Timestamp) -> bool {
    now < expires_at
}

/// Whether an exception's term (`expires_at - created_at`) is longer than the policy's
/// `maxExceptionDuration`. A policy without a maximum accepts any term. Such an exception is
/// refused (`TermTooLong`) and relaxes nothing while the policy governs its target.
pub fn term_too_long(policy: &Policy, exception: &Exception) -> bool {
    let Some(max) = policy.max_exception_duration else {
        return false;
    };
    let term = exception.expires_at.as_nanosecond() - exception.created_at.as_nanosecond();
    term > i128::try_from(max.as_nanos()).unwrap_or(i128::MAX)
}
