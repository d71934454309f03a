//! Exception activity, relaxations and terms, and which policies govern.

use super::*;

#[test]
fn exception_activity_at_the_instant() {
    let e = exception("legacy", Relaxations { admin: true, ..Relaxations::default() });
    let at = e.expires_at;
    let ms = SignedDuration::from_millis(1);
    let cases = [("1 ms before", at - ms, true), ("at expiresAt", at, false), ("1 ms after", at + ms, false)];
    let p = policy("p");
    let req = Request { admin: true, ..request("/a") };
    for (name, now, active) in cases {
        assert_eq!(e.is_active(now), active, "{name}");
        let decision = decide(&req, &[&p], &[&e], now);
        assert_eq!(decision.allowed, active, "{name}");
        let used = if active { vec![("legacy".to_owned(), Relaxation::Admin)] } else { vec![] };
        assert_eq!(decision.exceptions_used, used, "{name}");
    }
}

#[test]
fn exception_relaxations() {
    let ttl_max = Relaxations { x509_ttl_max: Some(86_400), jwt_ttl_max: Some(3600), ..Relaxations::default() };
    let p = Policy {
        allow: vec![pat("/ns/{namespace}/sa/{serviceAccount}")],
        require_owner: true,
        ttl: Some(TtlBounds { x509_max: Some(3600), jwt_max: Some(300), ..TtlBounds::default() }),
        ..policy("p")
    };
    type Case = (&'static str, Relaxations, Request<'static>, Vec<Relaxation>);
    let cases: Vec<Case> = vec![
        (
            "extra allow",
            Relaxations { extra_allow: vec![pat("/legacy/*")], ..Relaxations::default() },
            request("/legacy/app"),
            vec![Relaxation::ExtraAllow],
        ),
        (
            "admin",
            Relaxations { admin: true, ..Relaxations::default() },
            Request { admin: true, ..request("/ns/team-a/sa/web") },
            vec![Relaxation::Admin],
        ),
        (
            "downstream",
            Relaxations { downstream: true, ..Relaxations::default() },
            Request { downstream: true, ..request("/ns/team-a/sa/web") },
            vec![Relaxation::Downstream],
        ),
        (
            "federates with",
            Relaxations { federates_with: vec!["b.org".into()], ..Relaxations::default() },
            Request { federates_with: vec!["b.org".into()], ..request("/ns/team-a/sa/web") },
            vec![Relaxation::FederatesWith],
        ),
        (
            "owner not required",
            Relaxations { owner_not_required: true, ..Relaxations::default() },
            Request { owner_set: false, ..request("/ns/team-a/sa/web") },
            vec![Relaxation::OwnerNotRequired],
        ),
        (
            "ttl max",
            ttl_max.clone(),
            Request { x509_ttl: Some(43_200), jwt_ttl: Some(1800), ..request("/ns/team-a/sa/web") },
            vec![Relaxation::X509TtlMax, Relaxation::JwtTtlMax],
        ),
        (
            "ttl max not needed is not used",
            ttl_max,
            Request { x509_ttl: Some(600), ..request("/ns/team-a/sa/web") },
            vec![],
        ),
    ];
    for (name, relaxations, req, used) in cases {
        let e = exception("exc", relaxations);
        let without = decide(&req, &[&p], &[], ts(NOW));
        let with = decide(&req, &[&p], &[&e], ts(NOW));
        assert!(with.allowed && with.denials.is_empty(), "{name}: {:?}", with.denials);
        let want: Vec<(String, Relaxation)> = used.iter().map(|r| ("exc".to_owned(), *r)).collect();
        assert_eq!(with.exceptions_used, want, "{name}");
        if !used.is_empty() {
            assert!(!without.allowed || without.x509_ttl != with.x509_ttl, "{name}: the relaxation changed nothing");
        }
    }
    // The larger TTL max replaces the policy's: above it, the exception's bound clamps.
    let e = exception("long", Relaxations { x509_ttl_max: Some(86_400), ..Relaxations::default() });
    let decision = decide(&Request { x509_ttl: Some(200_000), ..request("/ns/team-a/sa/web") }, &[&p], &[&e], ts(NOW));
    assert_eq!(decision.x509_ttl.seconds, Some(86_400));
    assert_eq!(decision.x509_ttl.bound_by, Some(("long".into(), Bound::ExceptionMax)));
    // The exception max gives no maximum to a Deny policy that has none.
    let q = ttl_policy("q", Some(60), None, None, TtlAction::Deny);
    let decision =
        decide(&Request { x509_ttl: Some(43_200), ..request("/ns/team-a/sa/web") }, &[&p, &q], &[&e], ts(NOW));
    assert!(decision.allowed, "{:?}", decision.denials);
    assert_eq!(decision.x509_ttl.seconds, Some(43_200));
    // A smaller exception max does not tighten the policy.
    let e = exception("short", Relaxations { x509_ttl_max: Some(60), ..Relaxations::default() });
    let decision = decide(&Request { x509_ttl: Some(1800), ..request("/ns/team-a/sa/web") }, &[&p], &[&e], ts(NOW));
    assert_eq!(decision.x509_ttl.seconds, Some(1800));
    // Extra allow does not override a deny pattern.
    let d = Policy { deny: vec![pat("/legacy/**")], ..policy("d") };
    let e = exception("exc", Relaxations { extra_allow: vec![pat("/legacy/*")], ..Relaxations::default() });
    let decision = decide(&request("/legacy/app"), &[&d], &[&e], ts(NOW));
    assert_eq!(rules(&decision), [("d".into(), Rule::SpiffeIdDenied, true)]);
    // After the lapse the policy TTL is back.
    let e = exception("long", Relaxations { x509_ttl_max: Some(86_400), ..Relaxations::default() });
    let decision =
        decide(&Request { x509_ttl: Some(43_200), ..request("/ns/team-a/sa/web") }, &[&p], &[&e], e.expires_at);
    assert_eq!(decision.x509_ttl.seconds, Some(3600));
    assert!(decision.exceptions_used.is_empty());
}

#[test]
fn term_too_long_table() {
    let day = Duration::from_secs(86_400);
    let e = exception("e", Relaxations { admin: true, ..Relaxations::default() }); // a two-day term
    let cases = [
        ("no maximum", None, false),
        ("longer maximum", Some(3 * day), false),
        ("term equal to maximum", Some(2 * day), false),
        ("1 ms shorter maximum", Some(2 * day - Duration::from_millis(1)), true),
        ("one day maximum", Some(day), true),
    ];
    let req = Request { admin: true, ..request("/a") };
    for (name, max, want) in cases {
        let p = Policy { max_exception_duration: max, ..policy("p") };
        assert_eq!(term_too_long(&p, &e), want, "{name}");
        // A refused exception relaxes nothing.
        assert_eq!(decide(&req, &[&p], &[&e], ts(NOW)).allowed, !want, "{name}");
    }
}

#[test]
fn governs_table() {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let select =
        |pairs: &[(&str, &str)]| LabelSelector { match_labels: Some(labels(pairs)), ..LabelSelector::default() };
    let not_exists = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "x".into(),
            operator: "DoesNotExist".into(),
            values: None,
        }]),
        ..LabelSelector::default()
    };
    let tenant = labels(&[("tier", "tenant")]);
    let app = labels(&[("app", "web")]);
    let all = PolicyMatch::default();
    type Case<'a> = (&'a str, PolicyMatch, SourceKind, Option<&'a BTreeMap<String, String>>, bool);
    let cases: Vec<Case<'_>> = vec![
        ("default governs pod identities", all.clone(), SourceKind::ClusterSPIFFEID, Some(&tenant), true),
        ("default governs static entries", all.clone(), SourceKind::ClusterStaticEntry, None, true),
        ("never federated trust domains", all.clone(), SourceKind::ClusterFederatedTrustDomain, None, false),
        (
            "kind listed",
            PolicyMatch { kinds: vec![SourceKind::ClusterStaticEntry], ..all.clone() },
            SourceKind::ClusterStaticEntry,
            None,
            true,
        ),
        (
            "kind not listed",
            PolicyMatch { kinds: vec![SourceKind::ClusterStaticEntry], ..all.clone() },
            SourceKind::ClusterSPIFFEID,
            Some(&tenant),
            false,
        ),
        (
            "namespace selector matches",
            PolicyMatch { namespace_selector: Some(select(&[("tier", "tenant")])), ..all.clone() },
            SourceKind::ClusterSPIFFEID,
            Some(&tenant),
            true,
        ),
        (
            "namespace selector misses",
            PolicyMatch { namespace_selector: Some(select(&[("tier", "core")])), ..all.clone() },
            SourceKind::ClusterSPIFFEID,
            Some(&tenant),
            false,
        ),
        (
            "no namespace, empty selector",
            PolicyMatch { namespace_selector: Some(LabelSelector::default()), ..all.clone() },
            SourceKind::ClusterStaticEntry,
            None,
            true,
        ),
        (
            "no namespace, label selector",
            PolicyMatch { namespace_selector: Some(select(&[("tier", "tenant")])), ..all.clone() },
            SourceKind::ClusterStaticEntry,
            None,
            false,
        ),
        (
            "no namespace, DoesNotExist selector",
            PolicyMatch { namespace_selector: Some(not_exists), ..all.clone() },
            SourceKind::ClusterStaticEntry,
            None,
            false,
        ),
        (
            "identity label selector misses",
            PolicyMatch { selector: Some(select(&[("app", "db")])), ..all.clone() },
            SourceKind::ClusterSPIFFEID,
            Some(&tenant),
            false,
        ),
    ];
    for (name, policy_match, kind, ns_labels, want) in cases {
        assert_eq!(governs(&policy_match, kind, Some(&app), ns_labels), want, "{name}");
    }
    let hit = PolicyMatch { selector: Some(select(&[("app", "web")])), ..all };
    assert!(governs(&hit, SourceKind::ClusterSPIFFEID, Some(&app), Some(&tenant)));
}
