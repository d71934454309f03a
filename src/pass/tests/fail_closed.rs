//! Where governance must fail closed: a denial never costs a pod its fallback entry, and an Audit
//! policy never changes what is written.

use super::{
    tenants::{spec, tenant},
    *,
};
use crate::policy::{
    Enforcement, Exception, Governance, GoverningPolicy, Pattern, Policy, PolicyMatch, Relaxations, Target,
    TargetedException,
};

/// A denied identity covered the pod before policies judged it: the fallback that stepped aside
/// keeps what it declared.
#[test]
fn a_denied_identity_does_not_cost_the_pod_its_fallback_entry() {
    let mut world = World::new("");
    let fallback = ClusterSPIFFEIDSpec {
        fallback: Some(true),
        ..spec("spiffe://example.org/ns/{{ .PodMeta.Namespace }}/default")
    };
    let source = Source {
        kind: SourceKind::ClusterSPIFFEID,
        name: "fb".into(),
        uid: "fb".into(),
        created_at: 1,
        deleting_at: None,
    };
    world.identities.push(IdentitySource {
        source,
        meta: Default::default(),
        namespace: None,
        identity: PodIdentity::parse(&fallback).map(Arc::new).map_err(crate::reconcile::SpecError::from),
        suspended: false,
    });
    world.add_pod("p1", &[("app", "web")]);
    let plan = world.pass("p1");
    world.write(&plan);
    assert_eq!(world.paths("p1"), ["/ns/shop/default"]);

    // A tenant creates a SPIFFEID the confinement denies.
    tenant(&mut world, "t", "shop", spec("spiffe://example.org/payments/web"), 5);
    let plan = world.pass("p1");
    assert!(plan.deletes.is_empty(), "the fallback entry is kept: {plan:?}");
}

/// An Audit policy naming SPIFFEID with an allow list does not lift the built-in confinement.
#[test]
fn an_audit_policy_does_not_lift_the_tenant_confinement() {
    let mut world = World::new("");
    tenant(&mut world, "t", "shop", spec("spiffe://example.org/ns/kube-system/sa/admin"), 1);
    world.add_pod("p1", &[("app", "web")]);
    let audit = GoverningPolicy {
        policy_match: PolicyMatch { kinds: vec![SourceKind::SPIFFEID], ..Default::default() },
        policy: Policy {
            name: "trial".into(),
            enforcement: Enforcement::Audit,
            allow: vec![Pattern::parse("/ns/{namespace}/sa/*").unwrap()],
            ..Default::default()
        },
    };
    world.governance = Governance { policies: vec![audit], exceptions: vec![], incomplete: false };
    let plan = world.pass("p1");
    assert!(plan.creates.is_empty(), "still confined: {plan:?}");
}

/// An Audit policy's maxExceptionDuration refuses nothing: the exception keeps the entry.
#[test]
fn an_audit_policy_term_limit_refuses_no_exception() {
    let mut world = World::new("");
    world.identity("web", "spiffe://example.org/legacy/{{ .PodMeta.Name }}", "web", 1);
    world.add_pod("p1", &[("app", "web")]);
    let strict = GoverningPolicy {
        policy_match: PolicyMatch::default(),
        policy: Policy { name: "strict".into(), allow: vec![Pattern::parse("/ns/**").unwrap()], ..Default::default() },
    };
    let exception = TargetedException {
        exception: Exception {
            name: "legacy".into(),
            target: Target { kind: "ClusterSPIFFEID".into(), name: "web".into(), namespace: None },
            expires_at: "2026-12-31T00:00:00Z".parse().unwrap(),
            created_at: "2026-11-01T00:00:00Z".parse().unwrap(),
            relaxations: Relaxations { extra_allow: vec![Pattern::parse("/legacy/*").unwrap()], ..Default::default() },
        },
        kind: SourceKind::ClusterSPIFFEID,
        pod_selector: None,
    };
    world.governance =
        Governance { policies: vec![strict.clone()], exceptions: vec![exception.clone()], incomplete: false };
    let plan = world.pass("p1");
    world.write(&plan);
    assert_eq!(world.paths("p1"), ["/legacy/pod-p1"]);

    let audit = GoverningPolicy {
        policy_match: PolicyMatch::default(),
        policy: Policy {
            name: "trial".into(),
            enforcement: Enforcement::Audit,
            max_exception_duration: Some(std::time::Duration::from_secs(7 * 86400)),
            ..Default::default()
        },
    };
    world.governance = Governance { policies: vec![strict, audit], exceptions: vec![exception], incomplete: false };
    let plan = world.pass("p1");
    assert!(plan.deletes.is_empty(), "an Audit policy changes nothing: {plan:?}");
}

/// While a policy or exception cannot be read, what it would allow is unknown: an entry that is
/// denied now is kept, and only deleted once every policy and exception reads again.
#[test]
fn a_denied_entry_is_kept_while_a_policy_or_exception_is_unreadable() {
    let mut world = World::new("");
    world.identity("web", "spiffe://example.org/legacy/{{ .PodMeta.Name }}", "web", 1);
    world.add_pod("p1", &[("app", "web")]);
    let plan = world.pass("p1");
    world.write(&plan);
    assert_eq!(world.paths("p1"), ["/legacy/pod-p1"]);
    let strict = GoverningPolicy {
        policy_match: PolicyMatch::default(),
        policy: Policy { name: "strict".into(), allow: vec![Pattern::parse("/ns/**").unwrap()], ..Default::default() },
    };
    world.governance = Governance { policies: vec![strict.clone()], exceptions: vec![], incomplete: true };
    let plan = world.pass("p1");
    assert!(plan.deletes.is_empty() && plan.creates.is_empty(), "kept while incomplete: {plan:?}");
    world.governance = Governance { policies: vec![strict], exceptions: vec![], incomplete: false };
    assert_eq!(world.pass("p1").deletes.len(), 1, "removed once the rules read again");
}
