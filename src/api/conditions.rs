//! Condition types and reasons written to the status of every spire-steward resource.
//!
//! These strings are part of the API: dashboards, `kubectl wait` and alert rules match on them, so
//! they never change once released. Reasons are CamelCase, as Kubernetes conventions ask.

/// Condition types.
pub mod types {
    /// The resource is fully reconciled into SPIRE.
    pub const READY: &str = "Ready";
    /// The operator is working towards the desired state; present only while true.
    pub const RECONCILING: &str = "Reconciling";
    /// The operator cannot make progress without a change from the user; present only while true.
    pub const STALLED: &str = "Stalled";
    /// The registration entries declared by the resource match SPIRE.
    pub const ENTRIES_SYNCED: &str = "EntriesSynced";
    /// The federation relationship declared by the resource matches SPIRE.
    pub const RELATIONSHIP_SYNCED: &str = "RelationshipSynced";
    /// An IdentityPolicy is valid and judges the entries it governs.
    pub const GOVERNING: &str = "Governing";
    /// An IdentityException is in force.
    pub const ACTIVE: &str = "Active";
    /// An IdentityException lapses within the operator's warning window; present only while true.
    pub const EXPIRING_SOON: &str = "ExpiringSoon";
    /// The resource's `expiresAt` has passed; present only while true.
    pub const EXPIRED: &str = "Expired";
    /// SPIRE's entries for the resource drifted from what it declares and are not repaired
    /// (`driftPolicy: Report`, or an entry the operator does not own); present only while true.
    /// Drift does not change `Ready`.
    pub const DRIFTED: &str = "Drifted";
}

/// Condition reasons.
pub mod reasons {
    /// The resource has been seen but not yet reconciled.
    pub const PENDING: &str = "Pending";
    /// Everything the resource declares is in SPIRE.
    pub const SYNCED: &str = "Synced";
    /// Changes are being written to SPIRE.
    pub const PROGRESSING: &str = "Progressing";
    /// The spec is invalid: a template does not parse or render, or a value is out of bounds.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The SPIRE server could not be reached; the operator retries with backoff.
    pub const SPIRE_UNAVAILABLE: &str = "SpireUnavailable";
    /// SPIRE refused one or more writes.
    pub const SPIRE_REJECTED: &str = "SpireRejected";
    /// Another resource declares the same entry and takes precedence.
    pub const MASKED: &str = "Masked";
    /// The resource is suspended; its entries are left as they are.
    pub const SUSPENDED: &str = "Suspended";
    /// An input needed to compute the entries is missing; existing entries are kept.
    pub const INPUTS_INCOMPLETE: &str = "InputsIncomplete";
    /// The operator's configuration switches reconciliation of this kind off; its entries are
    /// left as they are.
    pub const RECONCILE_DISABLED: &str = "ReconcileDisabled";
    /// A policy denies entries the resource declares; they are not written, and removed if they
    /// existed.
    pub const POLICY_DENIED: &str = "PolicyDenied";
    /// The resource's `expiresAt` has passed: an exception no longer relaxes anything, a static
    /// entry is removed.
    pub const EXPIRED: &str = "Expired";
    /// An exception's term is longer than a governing policy's `maxExceptionDuration`; it
    /// relaxes nothing.
    pub const TERM_TOO_LONG: &str = "TermTooLong";
    /// An exception is in force.
    pub const ACTIVE: &str = "Active";
    /// An exception is in force and lapses within the operator's warning window.
    pub const EXPIRING_SOON: &str = "ExpiringSoon";
    /// A policy is valid and governs what it matches.
    pub const GOVERNING: &str = "Governing";
    /// Event reason: a policy bound now sets an entry's TTL, or sets it to another value.
    pub const TTL_CLAMPED: &str = "TTLClamped";
    /// Event reason, on an exception's target: the exception lapsed.
    pub const EXCEPTION_EXPIRED: &str = "ExceptionExpired";
    /// Event reason: the object does not parse as its kind (a field another client wrote in a
    /// form the operator refuses); its entries are kept as they are.
    pub const UNREADABLE: &str = "Unreadable";
    /// The operator runs in observe mode: it plans and reports, and writes nothing to SPIRE; the
    /// message counts the entries that would be created, updated and deleted.
    pub const OBSERVING: &str = "Observing";
    /// The deletion circuit breaker holds deletions of entries the resource declared: the pass
    /// would delete more than the configured share of owned entries. The message says how to
    /// confirm them.
    pub const DELETION_HELD: &str = "DeletionHeld";
    /// Event reason: a person's confirmation (the `spire-steward.io/confirm-deletions`
    /// annotation) released deletions the breaker would have held.
    pub const DELETION_CONFIRMED: &str = "DeletionConfirmed";
    /// The `Drifted` condition's reason: drift is recorded, not repaired.
    pub const DRIFT_REPORTED: &str = "DriftReported";
    /// Event reason (Normal): an entry changed behind the operator's back was repaired.
    pub const DRIFT_REPAIRED: &str = "DriftRepaired";
    /// Event reason (Warning): drift was detected and left as it is.
    pub const DRIFT_DETECTED: &str = "DriftDetected";
}
