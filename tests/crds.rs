//! The generated CRDs on a real kube-apiserver: they install, their CEL rules reject bad objects
//! with the rule's message, and manifests written for spire-controller-manager are accepted.

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use serde_json::{Value, json};
use support::{
    cel::{api_for, refusal},
    install_crds, testbed, unique,
};

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
