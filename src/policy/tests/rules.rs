//! The rules, one policy at a time and several together.

use super::*;

#[test]
fn no_policies_allows_and_keeps_ttls() {
    let mut req = request("/anything");
    req.x509_ttl = Some(99_999);
    req.admin = true;
    let decision = decide(&req, &[], &[], ts(NOW));
    assert!(decision.allowed);
    assert!(decision.denials.is_empty());
    assert_eq!(decision.x509_ttl, Effective { seconds: Some(99_999), requested: Some(99_999), bound_by: None });
    assert_eq!(decision.jwt_ttl, Effective::default());
}

#[test]
fn rules_one_policy_at_a_time() {
    let static_request =
        |path: &str| Request { kind: SourceKind::ClusterStaticEntry, bindings: Bindings::default(), ..request(path) };
    let cases: Vec<(&str, Policy, Request<'static>, Option<Rule>)> = vec![
        (
            "allowed by allow list",
            Policy { allow: vec![pat("/ns/{namespace}/sa/{serviceAccount}")], ..policy("p") },
            request("/ns/team-a/sa/web"),
            None,
        ),
        (
            "outside allow list",
            Policy { allow: vec![pat("/ns/{namespace}/sa/{serviceAccount}")], ..policy("p") },
            request("/ns/team-b/sa/web"),
            Some(Rule::SpiffeIdNotAllowed),
        ),
        ("empty allow list allows", policy("p"), request("/whatever"), None),
        (
            "deny pattern",
            Policy { deny: vec![pat("/legacy/**")], ..policy("p") },
            request("/legacy/x"),
            Some(Rule::SpiffeIdDenied),
        ),
        (
            "deny wins over allow",
            Policy { allow: vec![pat("/**")], deny: vec![pat("/legacy/**")], ..policy("p") },
            request("/legacy/x"),
            Some(Rule::SpiffeIdDenied),
        ),
        ("abnormal path denied", policy("p"), request("/ns/team-a/../team-b"), Some(Rule::SpiffeIdNotAllowed)),
        ("admin by default denied", policy("p"), Request { admin: true, ..request("/a") }, Some(Rule::AdminNotAllowed)),
        (
            "admin allowed",
            Policy { privileges: Privileges { admin: Permission::Allow, ..Privileges::default() }, ..policy("p") },
            Request { admin: true, ..request("/a") },
            None,
        ),
        (
            "downstream by default denied",
            policy("p"),
            Request { downstream: true, ..request("/a") },
            Some(Rule::DownstreamNotAllowed),
        ),
        (
            "downstream allowed",
            Policy { privileges: Privileges { downstream: Permission::Allow, ..Privileges::default() }, ..policy("p") },
            Request { downstream: true, ..request("/a") },
            None,
        ),
        (
            "federation by default denied",
            policy("p"),
            Request { federates_with: vec!["b.org".into()], ..request("/a") },
            Some(Rule::FederationNotAllowed { domain: "b.org".into() }),
        ),
        (
            "federation allowed",
            Policy {
                privileges: Privileges { federates_with: vec!["b.org".into()], ..Privileges::default() },
                ..policy("p")
            },
            Request { federates_with: vec!["b.org".into()], ..request("/a") },
            None,
        ),
        (
            "selector type not allowed",
            Policy {
                privileges: Privileges { selector_types: Some(vec!["unix".into()]), ..Privileges::default() },
                ..policy("p")
            },
            Request { selector_types: vec!["unix".into(), "docker".into()], ..static_request("/vm/a") },
            Some(Rule::SelectorTypeNotAllowed),
        ),
        (
            "selector type allowed",
            Policy {
                privileges: Privileges { selector_types: Some(vec!["unix".into()]), ..Privileges::default() },
                ..policy("p")
            },
            Request { selector_types: vec!["unix".into()], ..static_request("/vm/a") },
            None,
        ),
        (
            "selector types ignored for pod identities",
            Policy {
                privileges: Privileges { selector_types: Some(vec!["unix".into()]), ..Privileges::default() },
                ..policy("p")
            },
            request("/a"),
            None,
        ),
        (
            "parent ID not allowed",
            Policy {
                privileges: Privileges {
                    parent_ids: Some(vec![pat("/spire/agent/join_token/*")]),
                    ..Privileges::default()
                },
                ..policy("p")
            },
            static_request("/vm/a"),
            Some(Rule::ParentIdNotAllowed),
        ),
        (
            "parent ID allowed",
            Policy {
                privileges: Privileges { parent_ids: Some(vec![pat("/spire/agent/**")]), ..Privileges::default() },
                ..policy("p")
            },
            static_request("/vm/a"),
            None,
        ),
        (
            "static entry has no namespace",
            Policy { allow: vec![pat("/ns/{namespace}/**")], ..policy("p") },
            static_request("/ns/team-a/x"),
            Some(Rule::SpiffeIdNotAllowed),
        ),
        (
            "owner required",
            Policy { require_owner: true, ..policy("p") },
            Request { owner_set: false, ..request("/a") },
            Some(Rule::OwnerRequired),
        ),
        ("owner set", Policy { require_owner: true, ..policy("p") }, request("/a"), None),
        (
            "ttl deny above max",
            ttl_policy("p", None, Some(3600), None, TtlAction::Deny),
            Request { x509_ttl: Some(7200), ..request("/a") },
            Some(Rule::TtlOutOfBounds),
        ),
        (
            "ttl deny below min",
            ttl_policy("p", Some(600), Some(3600), None, TtlAction::Deny),
            Request { x509_ttl: Some(60), ..request("/a") },
            Some(Rule::TtlOutOfBounds),
        ),
        (
            "ttl min above own max",
            ttl_policy("p", Some(7200), Some(3600), None, TtlAction::Clamp),
            request("/a"),
            Some(Rule::TtlBoundsDisjoint { other: "p".into() }),
        ),
    ];
    for (name, policy, req, want) in cases {
        for enforcement in [Enforcement::Enforce, Enforcement::Audit] {
            let policy = Policy { enforcement, ..policy.clone() };
            let decision = decide(&req, &[&policy], &[], ts(NOW));
            let enforced = enforcement == Enforcement::Enforce;
            match &want {
                None => assert!(decision.allowed && decision.denials.is_empty(), "{name}: {:?}", decision.denials),
                Some(rule) => {
                    assert_eq!(decision.allowed, !enforced, "{name} ({enforcement:?})");
                    assert!(!decision.denials.is_empty(), "{name}");
                    for denial in &decision.denials {
                        assert_eq!(
                            (&denial.policy, &denial.rule, denial.enforced),
                            (&"p".to_owned(), rule, enforced),
                            "{name}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn denial_values_name_the_offence() {
    let p = Policy {
        privileges: Privileges { selector_types: Some(vec!["unix".into()]), ..Privileges::default() },
        ..policy("p")
    };
    let req = Request {
        kind: SourceKind::ClusterStaticEntry,
        selector_types: vec!["docker".into(), "docker".into()],
        ..request("/vm/a")
    };
    let decision = decide(&req, &[&p], &[], ts(NOW));
    assert_eq!(decision.denials.len(), 1, "one denial per selector type");
    assert_eq!(decision.denials[0].value, "docker");
    let p = Policy { allow: vec![pat("/ns/{namespace}/**")], ..policy("p") };
    let decision = decide(&request("/ns/other/x"), &[&p], &[], ts(NOW));
    assert_eq!(decision.denials[0].value, "/ns/other/x");
}

#[test]
fn ttl_single_policy_table() {
    // (name, min, max, default, action, requested, want seconds, want bound)
    type Case =
        (&'static str, Option<u32>, Option<u32>, Option<u32>, TtlAction, Option<u32>, Option<u32>, Option<Bound>);
    let cases: [Case; 10] = [
        ("within bounds unchanged", Some(60), Some(3600), Some(600), TtlAction::Clamp, Some(1800), Some(1800), None),
        ("clamped to max", Some(60), Some(3600), None, TtlAction::Clamp, Some(7200), Some(3600), Some(Bound::Max)),
        ("clamped to min", Some(60), Some(3600), None, TtlAction::Clamp, Some(10), Some(60), Some(Bound::Min)),
        ("at max unchanged", None, Some(3600), None, TtlAction::Clamp, Some(3600), Some(3600), None),
        ("at min unchanged", Some(60), None, None, TtlAction::Clamp, Some(60), Some(60), None),
        (
            "unset gets default",
            Some(60),
            Some(3600),
            Some(600),
            TtlAction::Clamp,
            None,
            Some(600),
            Some(Bound::Default),
        ),
        (
            "unset without default gets max",
            None,
            Some(3600),
            None,
            TtlAction::Clamp,
            None,
            Some(3600),
            Some(Bound::Max),
        ),
        ("unset with min only stays unset", Some(60), None, None, TtlAction::Clamp, None, None, None),
        ("denied keeps requested", None, Some(3600), None, TtlAction::Deny, Some(7200), Some(7200), None),
        (
            "unset default under Deny is no denial",
            None,
            Some(3600),
            Some(600),
            TtlAction::Deny,
            None,
            Some(600),
            Some(Bound::Default),
        ),
    ];
    for (name, min, max, default, action, requested, want, bound) in cases {
        let p = ttl_policy("p", min, max, default, action);
        let decision = decide(&Request { x509_ttl: requested, ..request("/a") }, &[&p], &[], ts(NOW));
        assert_eq!(decision.x509_ttl.seconds, want, "{name}");
        assert_eq!(decision.x509_ttl.requested, requested, "{name}");
        assert_eq!(decision.x509_ttl.bound_by, bound.map(|b| ("p".to_owned(), b)), "{name}");
    }
}

#[test]
fn jwt_ttl_bounds() {
    let p = Policy {
        ttl: Some(TtlBounds { jwt_max: Some(300), jwt_default: Some(120), ..TtlBounds::default() }),
        ..policy("p")
    };
    let decision = decide(&Request { jwt_ttl: Some(900), ..request("/a") }, &[&p], &[], ts(NOW));
    assert_eq!(
        decision.jwt_ttl,
        Effective { seconds: Some(300), requested: Some(900), bound_by: Some(("p".into(), Bound::Max)) }
    );
    assert_eq!(decision.x509_ttl, Effective::default());
    let decision = decide(&request("/a"), &[&p], &[], ts(NOW));
    assert_eq!(decision.jwt_ttl.seconds, Some(120));
    let deny = Policy {
        ttl: Some(TtlBounds { jwt_max: Some(300), action: TtlAction::Deny, ..TtlBounds::default() }),
        ..policy("p")
    };
    let decision = decide(&Request { jwt_ttl: Some(900), ..request("/a") }, &[&deny], &[], ts(NOW));
    assert_eq!(rules(&decision), [("p".into(), Rule::TtlOutOfBounds, true)]);
}

#[test]
fn several_policies_intersect() {
    let a = ttl_policy("a", Some(300), Some(7200), Some(3600), TtlAction::Clamp);
    let b = ttl_policy("b", Some(600), Some(1800), Some(900), TtlAction::Clamp);
    let cases = [
        ("max is the smaller max", Some(5000), Some(1800), Some(("b", Bound::Max))),
        ("min is the larger min", Some(400), Some(600), Some(("b", Bound::Min))),
        ("inside both unchanged", Some(1000), Some(1000), None),
        ("default is the smaller default", None, Some(900), Some(("b", Bound::Default))),
    ];
    for (name, requested, want, bound) in cases {
        let decision = decide(&Request { x509_ttl: requested, ..request("/a") }, &[&a, &b], &[], ts(NOW));
        assert!(decision.allowed, "{name}");
        assert_eq!(decision.x509_ttl.seconds, want, "{name}");
        assert_eq!(decision.x509_ttl.bound_by, bound.map(|(n, b)| (n.to_owned(), b)), "{name}");
    }
    // A default above another policy's max is clamped to it.
    let c = ttl_policy("c", None, Some(7200), Some(3600), TtlAction::Clamp);
    let d = ttl_policy("d", None, Some(1200), None, TtlAction::Clamp);
    let decision = decide(&request("/a"), &[&c, &d], &[], ts(NOW));
    assert_eq!(decision.x509_ttl.seconds, Some(1200));
    assert_eq!(decision.x509_ttl.bound_by, Some(("d".into(), Bound::Max)));
    // Only the policy whose Deny bound is broken denies.
    let e = ttl_policy("e", None, Some(1200), None, TtlAction::Deny);
    let decision = decide(&Request { x509_ttl: Some(3000), ..request("/a") }, &[&c, &e], &[], ts(NOW));
    assert_eq!(rules(&decision), [("e".into(), Rule::TtlOutOfBounds, true)]);
    // Every policy must be satisfied: one allows the ID, the other does not.
    let f = Policy { allow: vec![pat("/ns/{namespace}/**")], ..policy("f") };
    let g = Policy { allow: vec![pat("/ns/*/sa/db")], ..policy("g") };
    let decision = decide(&request("/ns/team-a/sa/web"), &[&f, &g], &[], ts(NOW));
    assert_eq!(rules(&decision), [("g".into(), Rule::SpiffeIdNotAllowed, true)]);
}

#[test]
fn disjoint_bounds_name_both_policies() {
    let a = ttl_policy("a", Some(3600), Some(7200), None, TtlAction::Clamp);
    let b = ttl_policy("b", None, Some(1800), None, TtlAction::Clamp);
    let req = Request { x509_ttl: Some(5000), ..request("/a") };
    let decision = decide(&req, &[&a, &b], &[], ts(NOW));
    assert!(!decision.allowed);
    assert_eq!(rules(&decision), [("a".into(), Rule::TtlBoundsDisjoint { other: "b".into() }, true)]);
    assert!(decision.denials[0].value.contains('a') && decision.denials[0].value.contains('b'));
    assert_eq!(decision.x509_ttl, Effective { seconds: Some(5000), requested: Some(5000), bound_by: None });
    // With one of the two auditing, the conflict is reported, not enforced.
    let b_audit = Policy { enforcement: Enforcement::Audit, ..b.clone() };
    let decision = decide(&req, &[&a, &b_audit], &[], ts(NOW));
    assert!(decision.allowed);
    assert!(decision.denials.iter().any(|d| d.rule == Rule::TtlBoundsDisjoint { other: "b".into() } && !d.enforced));
}

#[test]
fn audit_and_enforce_together() {
    let enforce = Policy {
        allow: vec![pat("/ns/{namespace}/**")],
        ..ttl_policy("enforce", None, Some(3600), None, TtlAction::Clamp)
    };
    let audit = Policy {
        enforcement: Enforcement::Audit,
        deny: vec![pat("/ns/*/sa/web")],
        ..ttl_policy("audit", None, Some(600), Some(300), TtlAction::Deny)
    };
    let req = Request { x509_ttl: Some(7200), ..request("/ns/team-a/sa/web") };
    let decision = decide(&req, &[&enforce, &audit], &[], ts(NOW));
    assert!(decision.allowed, "audit never denies: {:?}", decision.denials);
    // The enforce policy clamps; the audit policy reports the clamped TTL against its own bound.
    assert_eq!(decision.x509_ttl.seconds, Some(3600));
    assert_eq!(decision.x509_ttl.bound_by, Some(("enforce".into(), Bound::Max)));
    assert_eq!(
        rules(&decision),
        [("audit".into(), Rule::SpiffeIdDenied, false), ("audit".into(), Rule::TtlOutOfBounds, false)]
    );
    // An audit default does not fill an unset TTL.
    let decision = decide(&request("/ns/team-a/sa/db"), &[&audit], &[], ts(NOW));
    assert_eq!(decision.x509_ttl.seconds, None);
    // An enforce denial next to an audit one denies.
    let req = Request { x509_ttl: None, ..request("/ns/other") };
    let strict = Policy { allow: vec![pat("/ns/team-a/**")], ..policy("strict") };
    let decision = decide(&req, &[&strict, &audit], &[], ts(NOW));
    assert!(!decision.allowed);
}
