//! Tenant identities in the pass: confinement, their own namespace, and masking.

use super::*;
use crate::policy::{Governance, GoverningPolicy, Pattern, Policy, PolicyMatch};

/// A SPIFFEID of namespace `namespace` selecting pods with `app=<app>`.
pub(super) fn tenant(world: &mut World, uid: &str, namespace: &str, spec: ClusterSPIFFEIDSpec, created_at: i64) {
    let source =
        Source { kind: SourceKind::SPIFFEID, name: uid.into(), uid: uid.into(), created_at, deleting_at: None };
    let identity = PodIdentity::parse(&spec).map(Arc::new).map_err(crate::reconcile::SpecError::from);
    world.identities.push(IdentitySource {
        source,
        meta: Default::default(),
        namespace: Some(namespace.into()),
        identity,
        suspended: false,
    });
    world.identities.sort_by(|a, b| a.source.precedence(&b.source));
}

pub(super) fn spec(template: &str) -> ClusterSPIFFEIDSpec {
    ClusterSPIFFEIDSpec {
        spiffe_id_template: template.into(),
        pod_selector: Some(LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() }),
        ..Default::default()
    }
}

#[test]
fn a_tenant_identity_is_confined_to_its_namespace_without_a_policy() {
    let cases = [
        ("under its namespace", spec("spiffe://example.org/ns/{{ .PodMeta.Namespace }}/web"), true),
        ("the namespace path itself", spec("spiffe://example.org/ns/{{ .PodMeta.Namespace }}"), false),
        ("another namespace from a label", spec("spiffe://example.org/ns/{{ .PodMeta.Labels.ns }}/web"), false),
        ("outside /ns", spec("spiffe://example.org/payments/web"), false),
        ("admin", ClusterSPIFFEIDSpec { admin: Some(true), ..spec("spiffe://example.org/ns/shop/web") }, false),
        (
            "federation",
            ClusterSPIFFEIDSpec {
                federates_with: vec!["partner.example.com".into()],
                ..spec("spiffe://example.org/ns/shop/web")
            },
            false,
        ),
    ];
    for (name, spec, allowed) in cases {
        let mut world = World::new("");
        tenant(&mut world, "t", "shop", spec, 1);
        world.add_pod("p1", &[("app", "web"), ("ns", "payments")]);
        let plan = world.pass("p1");
        assert_eq!(plan.creates.len(), usize::from(allowed), "{name}: {plan:?}");
        if !allowed {
            world.write(&plan);
            let (health, _) = world.status("t", &[], None);
            assert!(
                matches!(&health, Health::PolicyDenied { message } if message.contains("built-in tenant confinement")),
                "{name}: {health:?}"
            );
        }
    }
}

#[test]
fn a_tenant_identity_selects_only_pods_of_its_namespace() {
    let mut world = World::new("");
    tenant(&mut world, "t", "elsewhere", spec("spiffe://example.org/ns/elsewhere/web"), 1);
    world.add_pod("p1", &[("app", "web")]);
    assert!(world.pass("p1").creates.is_empty(), "the pod is in shop, the SPIFFEID in elsewhere");
    assert!(world.records["p1"].outcomes.is_empty());
}

#[test]
fn a_cluster_scoped_identity_wins_the_same_entry_whatever_its_age() {
    let mut world = World::new("");
    tenant(&mut world, "tenant", "shop", spec("spiffe://example.org/ns/shop/web"), 1);
    world.identity("cluster", "spiffe://example.org/ns/shop/web", "web", 5);
    world.add_pod("p1", &[("app", "web")]);
    let plan = world.pass("p1");
    assert_eq!(plan.creates.len(), 1);
    assert_eq!(plan.creates[0].source.uid, "cluster");
    assert_eq!(world.records["p1"].masked, ["tenant"]);
}

#[test]
fn a_policy_naming_the_tenant_kind_replaces_the_confinement() {
    let mut world = World::new("");
    tenant(&mut world, "t", "shop", spec("spiffe://example.org/legacy/web"), 1);
    world.add_pod("p1", &[("app", "web")]);
    assert!(world.pass("p1").creates.is_empty(), "confined");
    let widen = |kinds: Vec<SourceKind>| GoverningPolicy {
        policy_match: PolicyMatch { kinds, ..Default::default() },
        policy: Policy {
            name: "tenants".into(),
            allow: vec![Pattern::parse("/legacy/*").unwrap()],
            ..Default::default()
        },
    };
    // A policy for every kind does not unconfine tenants: it governs with the confinement.
    world.governance = Governance { policies: vec![widen(vec![])], exceptions: vec![], incomplete: false };
    assert!(world.pass("p1").creates.is_empty(), "still confined");
    world.governance =
        Governance { policies: vec![widen(vec![SourceKind::SPIFFEID])], exceptions: vec![], incomplete: false };
    assert_eq!(world.pass("p1").creates.len(), 1, "widened");
}
