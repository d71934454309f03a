//! The governance kinds' CEL rules on a real kube-apiserver: every IdentityPolicy,
//! IdentityException and `expiresAt` rule refuses bad input with the field and the value, and an
//! exception's spec cannot change once created.

mod support;

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{
    cel::{api_for, object, refusal},
    install_crds, testbed,
};

fn with(base: &Value, extra: Value) -> Value {
    let mut spec = base.clone();
    spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    spec
}

fn policy_spec() -> Value {
    json!({ "spiffeIDs": { "allow": ["/ns/{namespace}/sa/{serviceAccount}"] } })
}

fn exception_spec() -> Value {
    json!({
        "target": { "kind": "ClusterSPIFFEID", "name": "legacy" },
        "relaxations": { "x509TtlMax": "720h" },
        "expiresAt": "2027-01-31T18:00:00Z",
        "owner": "team-a",
        "justification": "the legacy client pins its SVID for a month",
    })
}

#[tokio::test]
async fn policy_and_exception_rules_name_the_field_and_the_value() {
    let client = testbed().kube_admin().await;
    install_crds(&client).await;
    let policy = |extra: Value| with(&policy_spec(), extra);
    let allow = |pattern: &str| policy(json!({ "spiffeIDs": { "allow": ["/ok/{podName}", pattern] } }));
    let x509 = |bounds: Value| policy(json!({ "ttl": { "x509": bounds } }));
    let jwt = |bounds: Value| policy(json!({ "ttl": { "jwt": bounds } }));
    let exception = |extra: Value| with(&exception_spec(), extra);
    let relaxations = |r: Value| exception(json!({ "relaxations": r }));
    let cse = |expires_at: &str| {
        json!({
            "spiffeID": "spiffe://example.org/w",
            "parentID": "spiffe://example.org/spire/agent/a",
            "selectors": ["unix:uid:0"],
            "expiresAt": expires_at,
        })
    };
    let not_instant = "is not an RFC 3339 instant with a time zone";
    // Each refusal must contain every one of its strings: the field and the offending value.
    let cases: Vec<(&str, &str, Value, Vec<&str>)> = vec![
        (
            "pattern not absolute",
            "IdentityPolicy",
            allow("ns/{namespace}"),
            vec![r#"spiffeIDs.allow pattern "ns/{namespace}""#, "does not start with /"],
        ),
        (
            "pattern empty segment",
            "IdentityPolicy",
            allow("/ns//x"),
            vec![r#"spiffeIDs.allow pattern "/ns//x""#, "empty segment"],
        ),
        (
            "pattern trailing slash",
            "IdentityPolicy",
            allow("/ns/x/"),
            vec![r#"spiffeIDs.allow pattern "/ns/x/""#, "ends with /"],
        ),
        (
            "pattern dot segment",
            "IdentityPolicy",
            allow("/ns/./x"),
            vec![r#"spiffeIDs.allow pattern "/ns/./x""#, "a . or .. segment"],
        ),
        (
            "pattern dot-dot segment",
            "IdentityPolicy",
            allow("/ns/../x"),
            vec![r#"spiffeIDs.allow pattern "/ns/../x""#, "a . or .. segment"],
        ),
        (
            "pattern mixed glob",
            "IdentityPolicy",
            allow("/app-*"),
            vec![r#"spiffeIDs.allow pattern "/app-*""#, "mixes a placeholder or glob with other text"],
        ),
        (
            "pattern mixed placeholder",
            "IdentityPolicy",
            allow("/ns-{namespace}"),
            vec![r#"spiffeIDs.allow pattern "/ns-{namespace}""#, "mixes a placeholder or glob with other text"],
        ),
        (
            "pattern unknown placeholder",
            "IdentityPolicy",
            allow("/team/{team}/**"),
            vec![r#"spiffeIDs.allow pattern "/team/{team}/**""#, "names the unknown placeholder {team}"],
        ),
        (
            "deny pattern",
            "IdentityPolicy",
            policy(json!({ "spiffeIDs": { "deny": ["/legacy/{team}"] } })),
            vec![r#"spiffeIDs.deny pattern "/legacy/{team}""#, "names the unknown placeholder {team}"],
        ),
        (
            "parentIDs pattern",
            "IdentityPolicy",
            policy(json!({ "privileges": { "parentIDs": ["spire/agent/*"] } })),
            vec![r#"privileges.parentIDs pattern "spire/agent/*""#, "does not start with /"],
        ),
        (
            "privileges federatesWith",
            "IdentityPolicy",
            policy(json!({ "privileges": { "federatesWith": ["partner.example", "Partner Example"] } })),
            vec![r#"privileges.federatesWith item "Partner Example""#, "is not a trust domain name"],
        ),
        (
            "x509 min above max",
            "IdentityPolicy",
            x509(json!({ "min": "2h", "max": "1h" })),
            vec![r#"ttl.x509.min "2h" is above ttl.x509.max "1h""#],
        ),
        (
            "x509 default above max",
            "IdentityPolicy",
            x509(json!({ "max": "1h", "default": "90m" })),
            vec![r#"ttl.x509.default "90m" is above ttl.x509.max "1h""#],
        ),
        (
            "x509 default below min",
            "IdentityPolicy",
            x509(json!({ "min": "5m", "default": "60s" })),
            vec![r#"ttl.x509.default "60s" is below ttl.x509.min "5m""#],
        ),
        (
            "x509 max zero below min",
            "IdentityPolicy",
            x509(json!({ "min": "5m", "max": "0" })),
            vec![r#"ttl.x509.min "5m" is above ttl.x509.max "0""#],
        ),
        (
            "jwt default above max",
            "IdentityPolicy",
            jwt(json!({ "max": "5m", "default": "1h" })),
            vec![r#"ttl.jwt.default "1h" is above ttl.jwt.max "5m""#],
        ),
        (
            "x509 min syntax",
            "IdentityPolicy",
            x509(json!({ "min": "5 minutes" })),
            vec![r#"ttl.x509.min "5 minutes" is not a non-negative duration"#],
        ),
        (
            "x509 max unit",
            "IdentityPolicy",
            x509(json!({ "max": "1d" })),
            vec![r#"ttl.x509.max "1d" is not a non-negative duration"#],
        ),
        (
            "x509 default sign",
            "IdentityPolicy",
            x509(json!({ "default": "-1h" })),
            vec![r#"ttl.x509.default "-1h" is not a non-negative duration"#],
        ),
        (
            "x509 max bound",
            "IdentityPolicy",
            x509(json!({ "max": "600000h" })),
            vec![r#"ttl.x509.max "600000h" is above 596523h"#],
        ),
        (
            "jwt max beyond a Go duration",
            "IdentityPolicy",
            jwt(json!({ "max": "99999999999h", "default": "5m" })),
            vec![r#"ttl.jwt.max "99999999999h" is above 596523h"#],
        ),
        (
            "jwt default syntax",
            "IdentityPolicy",
            jwt(json!({ "default": "an hour" })),
            vec![r#"ttl.jwt.default "an hour" is not a non-negative duration"#],
        ),
        (
            "maxExceptionDuration syntax",
            "IdentityPolicy",
            policy(json!({ "maxExceptionDuration": "30d" })),
            vec![r#"maxExceptionDuration "30d" is not a non-negative duration"#],
        ),
        (
            "exception expiresAt word",
            "IdentityException",
            exception(json!({ "expiresAt": "tomorrow" })),
            vec![r#"expiresAt "tomorrow""#, not_instant],
        ),
        (
            "exception expiresAt without a time zone",
            "IdentityException",
            exception(json!({ "expiresAt": "2027-01-31T18:00:00" })),
            vec![r#"expiresAt "2027-01-31T18:00:00""#, not_instant],
        ),
        (
            "exception expiresAt on a missing day",
            "IdentityException",
            exception(json!({ "expiresAt": "2027-02-29T18:00:00Z" })),
            vec![r#"expiresAt "2027-02-29T18:00:00Z""#, not_instant],
        ),
        (
            "exception expiresAt hour",
            "IdentityException",
            exception(json!({ "expiresAt": "2027-01-31T24:00:00Z" })),
            vec![r#"expiresAt "2027-01-31T24:00:00Z""#, not_instant],
        ),
        (
            "no relaxation",
            "IdentityException",
            relaxations(json!({})),
            vec!["spec.relaxations", "relaxations must grant at least one relaxation"],
        ),
        (
            "relaxations that grant nothing",
            "IdentityException",
            relaxations(json!({ "admin": false, "ownerNotRequired": false, "extraAllow": [], "federatesWith": [] })),
            vec!["spec.relaxations", "relaxations must grant at least one relaxation"],
        ),
        (
            "relaxation x509TtlMax syntax",
            "IdentityException",
            relaxations(json!({ "x509TtlMax": "1 month" })),
            vec![r#"relaxations.x509TtlMax "1 month" is not a non-negative duration"#],
        ),
        (
            "relaxation jwtTtlMax bound",
            "IdentityException",
            relaxations(json!({ "jwtTtlMax": "700000h" })),
            vec![r#"relaxations.jwtTtlMax "700000h" is above 596523h"#],
        ),
        (
            "relaxation extraAllow shape",
            "IdentityException",
            relaxations(json!({ "extraAllow": ["/legacy//x"] })),
            vec![r#"relaxations.extraAllow pattern "/legacy//x""#, "empty segment"],
        ),
        (
            "relaxation extraAllow placeholder",
            "IdentityException",
            relaxations(json!({ "extraAllow": ["/legacy/{team}"] })),
            vec![r#"relaxations.extraAllow pattern "/legacy/{team}""#, "names the unknown placeholder {team}"],
        ),
        (
            "relaxation federatesWith",
            "IdentityException",
            relaxations(json!({ "federatesWith": ["spiffe://Partner"] })),
            vec![r#"relaxations.federatesWith item "spiffe://Partner""#, "is not a trust domain name"],
        ),
        (
            "podSelector on a static entry",
            "IdentityException",
            exception(json!({
                "target": { "kind": "ClusterStaticEntry", "name": "db" },
                "podSelector": { "matchLabels": { "legacy": "true" } },
            })),
            vec!["spec.podSelector", r#"target ClusterStaticEntry "db" has no pods"#],
        ),
        ("static expiresAt word", "ClusterStaticEntry", cse("tomorrow"), vec![r#"expiresAt "tomorrow""#, not_instant]),
        (
            "static expiresAt without a time zone",
            "ClusterStaticEntry",
            cse("2027-01-31T18:00:00"),
            vec![r#"expiresAt "2027-01-31T18:00:00""#, not_instant],
        ),
        (
            "static expiresAt fraction",
            "ClusterStaticEntry",
            cse("2027-01-31T18:00:00.5Z"),
            vec![r#"expiresAt "2027-01-31T18:00:00.5Z" has a fraction of a second"#],
        ),
    ];
    let mut failures = Vec::new();
    for (name, kind, spec, wants) in cases {
        match refusal(&client, kind, spec).await {
            Some(message) if wants.iter().all(|want| message.contains(want)) => {}
            other => failures.push(format!("{name}: expected a refusal containing {wants:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Every field in use, with valid values, goes through.
    for (kind, spec) in [
        (
            "IdentityPolicy",
            json!({
                "match": {
                    "kinds": ["ClusterSPIFFEID", "ClusterStaticEntry"],
                    "selector": { "matchLabels": { "tier": "web" } },
                    "namespaceSelector": { "matchExpressions": [{ "key": "env", "operator": "In", "values": ["prod"] }] },
                },
                "spiffeIDs": {
                    "allow": ["/ns/{namespace}/sa/{serviceAccount}", "/node/{nodeName}/*", "/pods/{podName}/**", "/legacy.app_1-x"],
                    "deny": ["/ns/kube-system/**"],
                },
                "ttl": {
                    "x509": { "min": "5m", "max": "24h", "default": "1h30m" },
                    "jwt": { "max": "0.5h", "default": "300s" },
                    "action": "Deny",
                },
                "privileges": {
                    "admin": "Deny",
                    "downstream": "Allow",
                    "federatesWith": ["partner.example.com", "spiffe://other.example"],
                    "selectorTypes": ["unix", "k8s"],
                    "parentIDs": ["/spire/agent/k8s_psat/{nodeName}/**"],
                },
                "requireOwner": true,
                "maxExceptionDuration": "720h",
                "enforcement": "Audit",
            }),
        ),
        ("IdentityPolicy", x509(json!({ "min": "0", "max": "596523h", "default": "2147482800s" }))),
        (
            "IdentityException",
            exception(json!({
                "podSelector": { "matchLabels": { "legacy": "true" } },
                "relaxations": {
                    "x509TtlMax": "720h",
                    "jwtTtlMax": "1h",
                    "extraAllow": ["/legacy/{namespace}/*"],
                    "admin": true,
                    "downstream": true,
                    "federatesWith": ["spiffe://partner.example.com"],
                    "ownerNotRequired": true,
                },
                "expiresAt": "2028-02-29T23:59:59.5+05:30",
                "ticket": "SEC-1234",
                "approvedBy": "security@example.com",
            })),
        ),
        ("IdentityException", relaxations(json!({ "ownerNotRequired": true, "admin": false }))),
        ("ClusterStaticEntry", cse("2027-01-31T18:00:00-03:00")),
    ] {
        assert_eq!(refusal(&client, kind, spec.clone()).await, None, "{kind} {spec}");
    }
}

#[tokio::test]
async fn an_exception_spec_cannot_change_after_creation() {
    let client = testbed().kube_admin().await;
    install_crds(&client).await;
    let api = api_for(&client, "IdentityException");
    let created = api.create(&PostParams::default(), &object("IdentityException", exception_spec())).await.unwrap();
    let name = created.metadata.name.clone().unwrap();
    let refused = |result: Result<DynamicObject, kube::Error>| match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        other => panic!("expected the change to be refused, got {other:?}"),
    };

    // A replace that extends the exception.
    let mut extended = created.clone();
    extended.data["spec"]["expiresAt"] = json!("2027-03-31T18:00:00Z");
    let message = refused(api.replace(&name, &PostParams::default(), &extended).await);
    for want in [
        "the spec of an IdentityException cannot be changed",
        r#"expiresAt from "2027-01-31T18:00:00Z" to "2027-03-31T18:00:00Z""#,
        "create a new exception",
    ] {
        assert!(message.contains(want), "{message:?} lacks {want:?}");
    }

    // A patch that changes other fields, one of them optional.
    let patch = json!({ "spec": { "owner": "team-b", "ticket": "SEC-1", "relaxations": { "admin": true } } });
    let message = refused(api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await);
    assert!(message.contains("(changed: relaxations, owner, ticket)"), "{message:?}");

    // The metadata stays editable, and the spec is as created.
    let labels = json!({ "metadata": { "labels": { "reviewed": "yes" } } });
    let labelled = api.patch(&name, &PatchParams::default(), &Patch::Merge(&labels)).await.unwrap();
    assert_eq!(labelled.metadata.labels.unwrap()["reviewed"], "yes");
    assert_eq!(labelled.data["spec"], created.data["spec"]);

    api.delete(&name, &DeleteParams::default()).await.unwrap();
}
