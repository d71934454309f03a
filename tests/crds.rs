//! The generated CRDs on a real kube-apiserver: they install, their CEL rules reject bad objects
//! with the rule's message, and manifests written for spire-controller-manager are accepted.

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Client,
    api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};
use support::{install_crds, testbed, unique};

fn api_for(client: &Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("spire-steward.io", "v1alpha1", kind);
    Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk))
}

fn object(kind: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "spire-steward.io/v1alpha1",
        "kind": kind,
        "metadata": { "name": unique("cel") },
        "spec": spec,
    }))
    .unwrap()
}

/// Creates `obj` as a dry run and returns the API server's refusal message, if any.
async fn refusal(client: &Client, kind: &str, spec: Value) -> Option<String> {
    let params = PostParams { dry_run: true, ..Default::default() };
    match api_for(client, kind).create(&params, &object(kind, spec)).await {
        Ok(_) => None,
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            Some(status.message)
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[tokio::test]
async fn crds_install_and_become_established() {
    let client = testbed().kube_admin().await;
    install_crds(&client).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for name in [
        "clusterspiffeids.spire-steward.io",
        "clusterstaticentries.spire-steward.io",
        "clusterfederatedtrustdomains.spire-steward.io",
        "identitypolicies.spire-steward.io",
        "identityexceptions.spire-steward.io",
    ] {
        let crd = crds.get(name).await.unwrap();
        assert_eq!(crd.spec.scope, "Cluster");
        assert_eq!(crd.spec.names.categories.as_deref(), Some(&["spire-steward".to_owned()][..]));
    }
}

#[tokio::test]
async fn cel_rules_reject_bad_objects_with_their_message() {
    let client = testbed().kube_admin().await;
    install_crds(&client).await;
    let csid = |extra: Value| {
        let mut spec = json!({ "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/w" });
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        spec
    };
    let cse = |extra: Value| {
        let mut spec = json!({
            "spiffeID": "spiffe://example.org/w",
            "parentID": "spiffe://example.org/spire/agent/a",
            "selectors": ["unix:uid:0"],
        });
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        spec
    };
    let cftd = |extra: Value| {
        let mut spec = json!({
            "trustDomain": "partner.example.com",
            "bundleEndpointURL": "https://127.0.0.1:8443",
            "bundleEndpointProfile": { "type": "https_web" },
        });
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        spec
    };
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "template scheme",
            "ClusterSPIFFEID",
            json!({ "spiffeIDTemplate": "https://{{ .TrustDomain }}/w" }),
            "spiffeIDTemplate must start with spiffe://",
        ),
        ("ttl syntax", "ClusterSPIFFEID", csid(json!({ "ttl": "an hour" })), "ttl must be a non-negative duration"),
        ("ttl sign", "ClusterSPIFFEID", csid(json!({ "ttl": "-1h" })), "ttl must be a non-negative duration"),
        ("ttl bound", "ClusterSPIFFEID", csid(json!({ "ttl": "600000h" })), "ttl must be at most 596523h"),
        (
            "jwtTtl syntax",
            "ClusterSPIFFEID",
            csid(json!({ "jwtTtl": "5 minutes" })),
            "jwtTtl must be a non-negative duration",
        ),
        (
            "selector template",
            "ClusterSPIFFEID",
            csid(json!({ "workloadSelectorTemplates": ["k8s-ns-x"] })),
            "each workloadSelectorTemplate must render a selector of the form type:value",
        ),
        (
            "federatesWith",
            "ClusterSPIFFEID",
            csid(json!({ "federatesWith": ["Partner.Example"] })),
            "each federatesWith item must be a trust domain name",
        ),
        (
            "static id scheme",
            "ClusterStaticEntry",
            cse(json!({ "spiffeID": "example.org/w" })),
            "spiffeID must be a SPIFFE ID",
        ),
        (
            "static id dot segment",
            "ClusterStaticEntry",
            cse(json!({ "spiffeID": "spiffe://example.org/a/../b" })),
            "spiffeID must be a SPIFFE ID",
        ),
        (
            "static id reserved",
            "ClusterStaticEntry",
            cse(json!({ "spiffeID": "spiffe://example.org/spire/x" })),
            "spiffeID must not be under the reserved /spire path",
        ),
        (
            "static parent",
            "ClusterStaticEntry",
            cse(json!({ "parentID": "spiffe://example.org" })),
            "parentID must be a SPIFFE ID",
        ),
        (
            "static selector",
            "ClusterStaticEntry",
            cse(json!({ "selectors": ["unix"] })),
            "each selector must be of the form type:value",
        ),
        (
            "static selector value",
            "ClusterStaticEntry",
            cse(json!({ "selectors": ["unix:"] })),
            "each selector must be of the form type:value",
        ),
        (
            "static ttl",
            "ClusterStaticEntry",
            cse(json!({ "x509SVIDTTL": "1d" })),
            "x509SVIDTTL must be a non-negative duration",
        ),
        (
            "static jwt ttl",
            "ClusterStaticEntry",
            cse(json!({ "jwtSVIDTTL": "-5m" })),
            "jwtSVIDTTL must be a non-negative duration",
        ),
        (
            "static federatesWith",
            "ClusterStaticEntry",
            cse(json!({ "federatesWith": ["a b"] })),
            "each federatesWith item must be a trust domain name",
        ),
        (
            "trust domain charset",
            "ClusterFederatedTrustDomain",
            cftd(json!({ "trustDomain": "Partner.example.com" })),
            "trustDomain must contain only lowercase letters",
        ),
        (
            "trust domain substring",
            "ClusterFederatedTrustDomain",
            cftd(json!({ "trustDomain": "ok/../bad" })),
            "trustDomain must contain only lowercase letters",
        ),
        (
            "bundle url scheme",
            "ClusterFederatedTrustDomain",
            cftd(json!({ "bundleEndpointURL": "http://127.0.0.1:8443" })),
            "bundleEndpointURL must be an https URL",
        ),
        (
            "bundle url userinfo",
            "ClusterFederatedTrustDomain",
            cftd(json!({ "bundleEndpointURL": "https://u:p@127.0.0.1" })),
            "bundleEndpointURL must be an https URL",
        ),
        (
            "https_spiffe without id",
            "ClusterFederatedTrustDomain",
            cftd(json!({ "bundleEndpointProfile": { "type": "https_spiffe" } })),
            "endpointSPIFFEID is required when type is https_spiffe",
        ),
        (
            "https_web with id",
            "ClusterFederatedTrustDomain",
            cftd(json!({ "bundleEndpointProfile": { "type": "https_web", "endpointSPIFFEID": "spiffe://p/s" } })),
            "endpointSPIFFEID must not be set when type is https_web",
        ),
        (
            "endpoint id shape",
            "ClusterFederatedTrustDomain",
            cftd(json!({ "bundleEndpointProfile": { "type": "https_spiffe", "endpointSPIFFEID": "partner/server" } })),
            "endpointSPIFFEID must be a SPIFFE ID",
        ),
    ];
    let mut failures = Vec::new();
    for (name, kind, spec, want) in cases {
        match refusal(&client, kind, spec).await {
            Some(message) if message.contains(want) => {}
            other => failures.push(format!("{name}: expected a refusal containing {want:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The same shapes with valid values go through.
    for (kind, spec) in [
        (
            "ClusterSPIFFEID",
            csid(json!({ "ttl": "1h30m", "jwtTtl": "0", "federatesWith": ["spiffe://partner.example.com"] })),
        ),
        ("ClusterStaticEntry", cse(json!({ "x509SVIDTTL": "90s", "selectors": ["k8s:ns:default"] }))),
        (
            "ClusterFederatedTrustDomain",
            cftd(json!({
                "bundleEndpointProfile": { "type": "https_spiffe", "endpointSPIFFEID": "spiffe://partner.example.com/spire/server" }
            })),
        ),
    ] {
        assert_eq!(refusal(&client, kind, spec.clone()).await, None, "{kind} {spec}");
    }
}

/// `base` with the top-level fields of `extra` set.
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

#[tokio::test]
async fn example_manifests_are_accepted() {
    let client = testbed().kube_admin().await;
    install_crds(&client).await;
    let dir = support::repo_root().join("e2e/examples");
    let mut applied = 0;
    for path in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut obj: DynamicObject = serde_yaml_ng::from_str(&text).unwrap();
        let kind = obj.types.as_ref().unwrap().kind.clone();
        let name = unique(obj.metadata.name.as_deref().unwrap());
        obj.metadata.name = Some(name.clone());
        let api = api_for(&client, &kind);
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("{} was refused: {e}", path.display()));
        api.delete(&name, &DeleteParams::default()).await.unwrap();
        applied += 1;
    }
    assert!(applied >= 6, "only {applied} examples found");
}

#[tokio::test]
async fn category_and_short_names_work_with_kubectl() {
    let bed = testbed();
    install_crds(&bed.kube_admin().await).await;
    // Discovery can trail a CRD's Established condition by a moment; kubectl is asked again
    // until the API server serves the new names.
    for resource in ["spire-steward", "csid", "cse", "cftd"] {
        let get = || {
            std::process::Command::new(bed.var("KUBECTL_BIN"))
                .args(["--kubeconfig", bed.var("KUBECONFIG_ADMIN"), "get", resource])
                .output()
                .unwrap()
        };
        let served = support::eventually(std::time::Duration::from_secs(15), || {
            let out = get();
            async move { out.status.success().then_some(()) }
        })
        .await;
        assert!(served.is_some(), "kubectl get {resource}: {}", String::from_utf8_lossy(&get().stderr));
    }
}

#[tokio::test]
async fn the_operator_identity_is_authenticated_but_unprivileged() {
    let bed = testbed();
    let client = bed.kube_operator().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    match crds.list(&Default::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }
}
