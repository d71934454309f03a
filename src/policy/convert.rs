//! From the resources users write to the validated forms the decision reads. Every error names
//! the field and the value, for the resource's status.

use k8s_openapi::jiff::Timestamp;

use super::{
    Enforcement, Exception, GoverningPolicy, Pattern, Permission, Policy, PolicyMatch, Privileges, Relaxations, Target,
    TargetedException, TtlAction, TtlBounds,
};
use crate::{
    api::v1alpha1::{self as api, IdentityExceptionSpec, IdentityKind, IdentityPolicySpec},
    duration,
    reconcile::SourceKind,
    selection,
};

/// Why a policy or an exception cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConvertError {
    /// The field's path in the spec, such as `spec.ttl.x509.max`.
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> ConvertError {
    ConvertError { field: field.to_owned(), message: message.into() }
}

fn seconds(field: &str, value: Option<&str>) -> Result<Option<u32>, ConvertError> {
    value
        .map(|v| duration::parse_ttl_seconds(v).map(|s| s.unsigned_abs()).map_err(|e| invalid(field, e.to_string())))
        .transpose()
}

/// A bound that sets a TTL: zero (or under a second) would write SPIRE's "unset".
fn positive_seconds(field: &str, value: Option<&str>) -> Result<Option<u32>, ConvertError> {
    match seconds(field, value)? {
        Some(0) => Err(invalid(
            field,
            format!("{:?} is under one second; a TTL bound must be at least 1s", value.unwrap_or_default()),
        )),
        other => Ok(other),
    }
}

fn patterns(field: &str, values: &[String]) -> Result<Vec<Pattern>, ConvertError> {
    values.iter().map(|p| Pattern::parse(p).map_err(|e| invalid(field, e.to_string()))).collect()
}

fn selector(
    field: &str,
    s: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> Result<(), ConvertError> {
    s.map_or(Ok(()), |s| selection::check_selector(s).map_err(|e| invalid(field, e.to_string())))
}

/// The source kind an identity kind names.
pub fn source_kind(kind: IdentityKind) -> SourceKind {
    match kind {
        IdentityKind::ClusterSpiffeId => SourceKind::ClusterSPIFFEID,
        IdentityKind::ClusterStaticEntry => SourceKind::ClusterStaticEntry,
        IdentityKind::SpiffeId => SourceKind::SPIFFEID,
    }
}

/// Validates an IdentityPolicy named `name`.
pub fn policy_of(name: &str, spec: &IdentityPolicySpec) -> Result<GoverningPolicy, ConvertError> {
    let m = spec.policy_match.clone().unwrap_or_default();
    selector("spec.match.selector", m.selector.as_ref())?;
    selector("spec.match.namespaceSelector", m.namespace_selector.as_ref())?;
    let policy_match = PolicyMatch {
        kinds: m.kinds.iter().copied().map(source_kind).collect(),
        selector: m.selector,
        namespace_selector: m.namespace_selector,
    };
    let ids = spec.spiffe_ids.clone().unwrap_or_default();
    let ttl = match &spec.ttl {
        None => None,
        Some(t) => {
            let x509 = t.x509.clone().unwrap_or_default();
            let jwt = t.jwt.clone().unwrap_or_default();
            let bounds = TtlBounds {
                x509_min: seconds("spec.ttl.x509.min", x509.min.as_deref())?,
                x509_max: positive_seconds("spec.ttl.x509.max", x509.max.as_deref())?,
                x509_default: positive_seconds("spec.ttl.x509.default", x509.default.as_deref())?,
                jwt_max: positive_seconds("spec.ttl.jwt.max", jwt.max.as_deref())?,
                jwt_default: positive_seconds("spec.ttl.jwt.default", jwt.default.as_deref())?,
                action: match t.action.unwrap_or_default() {
                    api::TtlAction::Clamp => TtlAction::Clamp,
                    api::TtlAction::Deny => TtlAction::Deny,
                },
            };
            let ordered = |field: &str, low: Option<u32>, high: Option<u32>, what: &str| match (low, high) {
                (Some(l), Some(h)) if l > h => Err(invalid(field, format!("{l}s is above {what} {h}s"))),
                _ => Ok(()),
            };
            ordered("spec.ttl.x509.min", bounds.x509_min, bounds.x509_max, "spec.ttl.x509.max")?;
            ordered("spec.ttl.x509.default", bounds.x509_default, bounds.x509_max, "spec.ttl.x509.max")?;
            ordered("spec.ttl.x509.min", bounds.x509_min, bounds.x509_default, "spec.ttl.x509.default")?;
            ordered("spec.ttl.jwt.default", bounds.jwt_default, bounds.jwt_max, "spec.ttl.jwt.max")?;
            Some(bounds)
        }
    };
    let p = spec.privileges.clone().unwrap_or_default();
    let permission = |p: Option<api::Permission>| match p.unwrap_or_default() {
        api::Permission::Allow => Permission::Allow,
        api::Permission::Deny => Permission::Deny,
    };
    let privileges = Privileges {
        admin: permission(p.admin),
        downstream: permission(p.downstream),
        federates_with: p.federates_with.iter().map(|d| trust_domain_name(d)).collect(),
        selector_types: p.selector_types.clone(),
        parent_ids: p.parent_ids.as_deref().map(|v| patterns("spec.privileges.parentIDs", v)).transpose()?,
    };
    let max_exception_duration = spec
        .max_exception_duration
        .as_deref()
        .map(|v| duration::parse(v).map_err(|e| invalid("spec.maxExceptionDuration", e.to_string())))
        .transpose()?;
    let policy = Policy {
        name: name.to_owned(),
        enforcement: match spec.enforcement.unwrap_or_default() {
            api::Enforcement::Enforce => Enforcement::Enforce,
            api::Enforcement::Audit => Enforcement::Audit,
        },
        allow: patterns("spec.spiffeIDs.allow", &ids.allow)?,
        deny: patterns("spec.spiffeIDs.deny", &ids.deny)?,
        ttl,
        privileges,
        require_owner: spec.require_owner.unwrap_or(false),
        max_exception_duration,
    };
    Ok(GoverningPolicy { policy_match, policy })
}

/// A trust domain as entries carry it: the name without `spiffe://`.
fn trust_domain_name(s: &str) -> String {
    s.strip_prefix("spiffe://").unwrap_or(s).to_owned()
}

/// Validates an IdentityException named `name`, created at `created_at`.
pub fn exception_of(
    name: &str,
    created_at: Timestamp,
    spec: &IdentityExceptionSpec,
) -> Result<TargetedException, ConvertError> {
    let expires_at: Timestamp = spec
        .expires_at
        .parse()
        .map_err(|e| invalid("spec.expiresAt", format!("{:?} is not an RFC 3339 instant: {e}", spec.expires_at)))?;
    selector("spec.podSelector", spec.pod_selector.as_ref())?;
    let r = &spec.relaxations;
    let relaxations = Relaxations {
        x509_ttl_max: positive_seconds("spec.relaxations.x509TtlMax", r.x509_ttl_max.as_deref())?,
        jwt_ttl_max: positive_seconds("spec.relaxations.jwtTtlMax", r.jwt_ttl_max.as_deref())?,
        extra_allow: patterns("spec.relaxations.extraAllow", r.extra_allow.as_deref().unwrap_or_default())?,
        admin: r.admin.unwrap_or(false),
        downstream: r.downstream.unwrap_or(false),
        federates_with: r.federates_with.iter().flatten().map(|d| trust_domain_name(d)).collect(),
        owner_not_required: r.owner_not_required.unwrap_or(false),
    };
    let kind = source_kind(spec.target.kind);
    if spec.pod_selector.is_some() && !kind.is_pod_identity() {
        return Err(invalid("spec.podSelector", "only pod identities have pods to select"));
    }
    let exception = Exception {
        name: name.to_owned(),
        target: Target {
            kind: kind_name(kind).to_owned(),
            name: spec.target.name.clone(),
            namespace: spec.target.namespace.clone(),
        },
        expires_at,
        created_at,
        relaxations,
    };
    Ok(TargetedException { exception, kind, pod_selector: spec.pod_selector.clone() })
}

/// A kind's name as manifests write it.
pub fn kind_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::ClusterSPIFFEID => "ClusterSPIFFEID",
        SourceKind::ClusterStaticEntry => "ClusterStaticEntry",
        SourceKind::ClusterFederatedTrustDomain => "ClusterFederatedTrustDomain",
        SourceKind::SPIFFEID => "SPIFFEID",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::{ExceptionRelaxations, ExceptionTarget, SpiffeIdRules, TtlPolicy, X509Bounds};

    #[test]
    fn a_policy_converts_and_errors_name_the_field() {
        let mut spec = IdentityPolicySpec {
            spiffe_ids: Some(SpiffeIdRules { allow: vec!["/ns/{namespace}/**".into()], deny: vec![] }),
            ttl: Some(TtlPolicy {
                x509: Some(X509Bounds { min: Some("5m".into()), max: Some("1h".into()), default: None }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let ok = policy_of("p", &spec).unwrap();
        assert_eq!(ok.policy.ttl.as_ref().unwrap().x509_max, Some(3600));
        assert_eq!(ok.policy.allow.len(), 1);
        assert!(ok.policy_match.kinds.is_empty());

        spec.ttl.as_mut().unwrap().x509.as_mut().unwrap().min = Some("2h".into());
        let err = policy_of("p", &spec).unwrap_err();
        assert_eq!(err.field, "spec.ttl.x509.min", "{err}");

        spec.ttl.as_mut().unwrap().x509.as_mut().unwrap().min = None;
        spec.ttl.as_mut().unwrap().x509.as_mut().unwrap().max = Some("500ms".into());
        let err = policy_of("p", &spec).unwrap_err();
        assert_eq!(err.field, "spec.ttl.x509.max", "a bound under a second would write SPIRE's unset: {err}");

        spec.ttl = None;
        spec.spiffe_ids.as_mut().unwrap().deny = vec!["/ns/{team}".into()];
        let err = policy_of("p", &spec).unwrap_err();
        assert_eq!(err.field, "spec.spiffeIDs.deny");
        assert!(err.message.contains("{team}"), "{err}");
    }

    #[test]
    fn an_exception_converts_and_refuses_a_pod_selector_on_static_entries() {
        let mut spec = IdentityExceptionSpec {
            target: ExceptionTarget { kind: IdentityKind::ClusterSpiffeId, name: "legacy".into(), namespace: None },
            relaxations: ExceptionRelaxations { x509_ttl_max: Some("720h".into()), ..Default::default() },
            expires_at: "2027-01-31T18:00:00Z".into(),
            owner: "team".into(),
            justification: "migration".into(),
            ..Default::default()
        };
        let created: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let ok = exception_of("e", created, &spec).unwrap();
        assert_eq!(ok.exception.relaxations.x509_ttl_max, Some(720 * 3600));
        assert_eq!(ok.exception.expires_at.to_string(), "2027-01-31T18:00:00Z");
        assert_eq!(ok.exception.target.kind, "ClusterSPIFFEID");

        spec.target.kind = IdentityKind::ClusterStaticEntry;
        spec.pod_selector = Some(Default::default());
        assert_eq!(exception_of("e", created, &spec).unwrap_err().field, "spec.podSelector");
        spec.pod_selector = None;
        spec.expires_at = "tomorrow".into();
        assert_eq!(exception_of("e", created, &spec).unwrap_err().field, "spec.expiresAt");
    }
}
