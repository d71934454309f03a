//! The Helm chart in `charts/spire-steward`: it lints, renders with default and non-default
//! values into the objects and configuration the operator needs, passes the testbed's
//! kube-apiserver in a server-side dry run, and its RBAC grants the operator's identity exactly
//! the calls the operator makes.
//!
//! helm is built from the pinned Go module in `hack/tools/helm` by `hack/tools/build-helm.sh`.

mod support;

use std::{
    collections::BTreeSet,
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::{
    authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
    core::v1::{Namespace, Pod},
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{testbed, unique};

const CHART: &str = "charts/spire-steward";
const NON_DEFAULT_VALUES: &str = "charts/spire-steward/ci/non-default-values.yaml";
/// The hardening options on, with the CRDs (but no monitoring.coreos.com objects, whose CRDs the
/// testbed does not have): rendered and dry-run on the real API server.
const HARDENED_VALUES: &str = "charts/spire-steward/ci/hardened-values.yaml";
/// The testbed's unprivileged operator identity.
const OPERATOR_USER: &str = "spire-steward-operator";
const GROUP: &str = "spire-steward.io";

// --- helm -------------------------------------------------------------------------------------

use support::helm;

fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The chart rendered by `helm template`, as text and as objects.
struct Rendered {
    text: String,
    objects: Vec<Value>,
}

impl Rendered {
    fn new(release: &str, namespace: &str, extra: &[&str]) -> Self {
        let mut args = vec!["template", release, CHART, "--namespace", namespace];
        args.extend_from_slice(extra);
        let text = run(helm(&args), &format!("helm {}", args.join(" ")));
        let objects = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|doc| <Value as serde::Deserialize>::deserialize(doc).expect("helm rendered bad YAML"))
            .filter(|v| !v.is_null())
            .collect();
        Self { text, objects }
    }

    fn defaults(release: &str, namespace: &str) -> Self {
        Self::new(release, namespace, &[])
    }

    fn non_default(release: &str, namespace: &str) -> Self {
        Self::new(release, namespace, &["--values", NON_DEFAULT_VALUES])
    }

    fn kinds(&self) -> BTreeSet<String> {
        self.objects.iter().map(|o| o["kind"].as_str().unwrap().to_owned()).collect()
    }

    fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    /// The one object of `kind` whose name ends with `suffix`.
    fn named(&self, kind: &str, suffix: &str) -> &Value {
        let all: Vec<&Value> =
            self.all(kind).into_iter().filter(|o| o["metadata"]["name"].as_str().unwrap().ends_with(suffix)).collect();
        assert_eq!(all.len(), 1, "expected one {kind} named *{suffix}, got {}", all.len());
        all[0]
    }

    fn one(&self, kind: &str) -> &Value {
        let all = self.all(kind);
        assert_eq!(all.len(), 1, "expected one {kind}, got {}", all.len());
        all[0]
    }

    /// The operator's own ClusterRole, not one aggregated to the built-in roles.
    fn operator_role(&self) -> &Value {
        let own: Vec<&Value> = self
            .all("ClusterRole")
            .into_iter()
            .filter(|r| {
                !r["metadata"]["labels"].as_object().is_some_and(|l| l.keys().any(|k| k.contains("aggregate-to-")))
            })
            .collect();
        assert_eq!(own.len(), 1, "expected one operator ClusterRole");
        own[0]
    }

    fn operator_role_typed(&self) -> ClusterRole {
        serde_json::from_value(self.operator_role().clone()).expect("the ClusterRole parses")
    }

    fn typed<T: serde::de::DeserializeOwned>(&self, kind: &str) -> T {
        serde_json::from_value(self.one(kind).clone()).unwrap_or_else(|e| panic!("rendered {kind} does not parse: {e}"))
    }

    /// The operator's configuration file from the ConfigMap, as text.
    fn config_text(&self) -> String {
        let config = self.all("ConfigMap").into_iter().find(|c| c["data"].get("config.yaml").is_some());
        config.expect("no ConfigMap has a config.yaml")["data"]["config.yaml"].as_str().unwrap().to_owned()
    }

    fn config(&self) -> Value {
        serde_yaml_ng::from_str(&self.config_text()).expect("config.yaml is not YAML")
    }

    fn container(&self) -> &Value {
        let containers =
            self.one("Deployment")["spec"]["template"]["spec"]["containers"].as_array().expect("no containers");
        assert_eq!(containers.len(), 1);
        &containers[0]
    }
}

// --- the rules the operator needs ---------------------------------------------------------------

/// One permission: verb on group/resource[/subresource], optionally in a namespace and on a name.
#[derive(Clone, Debug)]
struct Access {
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
    namespace: Option<String>,
    name: Option<String>,
}

impl Access {
    fn is_namespaced_in(&self, namespace: &str) -> bool {
        self.namespace.as_deref() == Some(namespace)
    }
}

fn access(verb: &'static str, group: &'static str, resource: &'static str) -> Access {
    Access { verb, group, resource, subresource: "", namespace: None, name: None }
}

impl Access {
    fn sub(self, subresource: &'static str) -> Self {
        Self { subresource, ..self }
    }

    fn ns(self, namespace: &str) -> Self {
        Self { namespace: Some(namespace.to_owned()), ..self }
    }

    fn named(self, name: &str) -> Self {
        Self { name: Some(name.to_owned()), ..self }
    }

    /// Asks the API server whether the client's own identity may make this call.
    async fn allowed(&self, client: &kube::Client) -> bool {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(self.verb.into()),
                    group: Some(self.group.into()),
                    resource: Some(self.resource.into()),
                    subresource: Some(self.subresource.into()),
                    namespace: self.namespace.clone(),
                    name: self.name.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let review = Api::<SelfSubjectAccessReview>::all(client.clone())
            .create(&PostParams::default(), &review)
            .await
            .unwrap_or_else(|e| panic!("SelfSubjectAccessReview for {self}: {e}"));
        review.status.expect("review without status").allowed
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() { "core" } else { self.group };
        write!(f, "{} {group}/{}", self.verb, self.resource)?;
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in {ns}"),
            None => write!(f, " (cluster-wide)"),
        }
    }
}

const READ: [&str; 3] = ["get", "list", "watch"];
const CUSTOM_RESOURCES: [&str; 6] = [
    "clusterspiffeids",
    "spiffeids",
    "clusterstaticentries",
    "clusterfederatedtrustdomains",
    "identitypolicies",
    "identityexceptions",
];

/// Every cluster-wide call the operator makes; namespaced reads are cluster-wide (all
/// namespaces) and also checked in one namespace.
fn cluster_calls() -> Vec<Access> {
    let mut calls = Vec::new();
    for verb in READ {
        for resource in ["pods", "nodes", "namespaces"] {
            calls.push(access(verb, "", resource));
        }
        calls.push(access(verb, "", "pods").ns("default"));
        calls.push(access(verb, "discovery.k8s.io", "endpointslices"));
        calls.push(access(verb, "discovery.k8s.io", "endpointslices").ns("default"));
        for resource in CUSTOM_RESOURCES {
            calls.push(access(verb, GROUP, resource));
        }
    }
    for resource in CUSTOM_RESOURCES {
        calls.push(access("patch", GROUP, resource).sub("status"));
    }
    calls.push(access("patch", GROUP, "clusterfederatedtrustdomains"));
    for verb in ["update", "patch"] {
        calls.push(access(verb, GROUP, "clusterfederatedtrustdomains").sub("finalizers"));
    }
    for verb in ["create", "patch"] {
        // Events about cluster-scoped objects land in "default".
        calls.push(access(verb, "events.k8s.io", "events").ns("default"));
        calls.push(access(verb, "events.k8s.io", "events").ns("kube-system"));
    }
    calls
}

/// Calls the operator never makes, which its role must refuse.
fn refused_calls() -> Vec<Access> {
    let mut calls = vec![
        access("delete", "", "pods").ns("default"),
        access("create", "", "pods").ns("default"),
        access("patch", "", "pods").ns("default"),
        access("create", "", "pods").sub("exec").ns("default"),
        access("patch", "", "nodes"),
        access("delete", "", "namespaces"),
        access("list", "", "secrets"),
        access("get", "", "secrets").ns("default"),
        access("list", "", "configmaps").ns("default"),
        access("list", "", "serviceaccounts"),
        access("create", "", "serviceaccounts").sub("token").ns("default"),
        access("create", "", "events").ns("default"),
        access("delete", "events.k8s.io", "events").ns("default"),
        access("list", "events.k8s.io", "events"),
        access("create", "discovery.k8s.io", "endpointslices").ns("default"),
        access("create", "apiextensions.k8s.io", "customresourcedefinitions"),
        access("update", "apiextensions.k8s.io", "customresourcedefinitions"),
        access("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
        access("escalate", "rbac.authorization.k8s.io", "clusterroles"),
        access("list", "coordination.k8s.io", "leases"),
        access("create", "coordination.k8s.io", "leases").ns("kube-system"),
        access("update", "coordination.k8s.io", "leases").ns("default"),
        // The spec of the operator's resources belongs to their authors: a ClusterFederatedTrustDomain
        // may be patched (for its finalizer) but not replaced.
        access("update", GROUP, "clusterfederatedtrustdomains"),
        access("update", GROUP, "clusterfederatedtrustdomains").sub("status"),
        access("delete", GROUP, "clusterfederatedtrustdomains"),
        access("deletecollection", GROUP, "clusterfederatedtrustdomains"),
    ];
    for resource in ["clusterspiffeids", "spiffeids", "clusterstaticentries", "identitypolicies", "identityexceptions"]
    {
        for verb in ["update", "patch", "delete"] {
            calls.push(access(verb, GROUP, resource));
        }
        calls.push(access("update", GROUP, resource).sub("status"));
        calls.push(access("update", GROUP, resource).sub("finalizers"));
        calls.push(access("patch", GROUP, resource).sub("finalizers"));
    }
    for resource in CUSTOM_RESOURCES {
        calls.push(access("create", GROUP, resource));
    }
    calls
}

/// The ClusterRole's rules as (group, resource, verb) triples, sorted.
fn rule_triples(role: &ClusterRole) -> BTreeSet<(String, String, String)> {
    let mut triples = BTreeSet::new();
    for rule in role.rules.as_deref().unwrap_or_default() {
        assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none(), "unexpected rule {rule:?}");
        for group in rule.api_groups.as_deref().unwrap_or_default() {
            for resource in rule.resources.as_deref().unwrap_or_default() {
                for verb in &rule.verbs {
                    triples.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    triples
}

fn expected_triples() -> BTreeSet<(String, String, String)> {
    let mut t = BTreeSet::new();
    let mut add = |g: &str, r: &str, verbs: &[&str]| {
        for v in verbs {
            t.insert((g.to_owned(), r.to_owned(), (*v).to_owned()));
        }
    };
    for r in ["pods", "nodes", "namespaces"] {
        add("", r, &READ);
    }
    add("discovery.k8s.io", "endpointslices", &READ);
    for r in CUSTOM_RESOURCES {
        add(GROUP, r, &READ);
        add(GROUP, &format!("{r}/status"), &["patch"]);
    }
    add(GROUP, "clusterfederatedtrustdomains", &["patch"]);
    add(GROUP, "clusterfederatedtrustdomains/finalizers", &["update", "patch"]);
    add("events.k8s.io", "events", &["create", "patch"]);
    t
}

// --- offline checks ------------------------------------------------------------------------------

#[test]
fn chart_lints_with_default_and_non_default_values() {
    run(helm(&["lint", "--strict", CHART]), "helm lint (defaults)");
    run(helm(&["lint", "--strict", CHART, "--values", NON_DEFAULT_VALUES]), "helm lint (non-default values)");
}

#[test]
fn default_values_render_a_two_replica_leader_elected_operator() {
    let r = Rendered::defaults("spire-steward", "spire-system");
    assert_eq!(
        r.kinds(),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
        .map(String::from)
        .into(),
        "{}",
        r.text
    );
    assert!(r.all("CustomResourceDefinition").is_empty(), "the chart must not template the CRDs");
    for object in &r.objects {
        if !["ClusterRole", "ClusterRoleBinding"].contains(&object["kind"].as_str().unwrap()) {
            assert_eq!(object["metadata"]["namespace"], "spire-system", "{object:#}");
        }
    }

    let deployment = r.one("Deployment");
    assert_eq!(deployment["metadata"]["name"], "spire-steward");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "spire-steward");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = r.container();
    assert_eq!(c["image"], "spire-steward:0.1.0");
    assert_eq!(c["args"], json!(["run", "--config", "/etc/spire-steward/config.yaml"]));
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "health");
    assert_eq!(ports(c), [("health".into(), 8081), ("metrics".into(), 8080)].into());
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    // TCP mode by default: the agent's Workload API through the SPIFFE CSI driver, no hostPath.
    assert_eq!(
        mounts(c),
        [("config".into(), "/etc/spire-steward".into()), ("spiffe-workload-api".into(), "/spiffe-workload-api".into())]
            .into()
    );
    assert_eq!(volume(pod, "spiffe-workload-api")["csi"], json!({ "driver": "csi.spiffe.io", "readOnly": true }));
    assert!(!r.text.contains("hostPath"), "no hostPath by default");
    assert_eq!(volume(pod, "config")["configMap"]["name"], "spire-steward");

    // The configuration file: the operator's own parser accepts it, and it elects a leader.
    let config = r.config();
    assert_eq!(config["apiVersion"], "spire-steward.io/v1alpha1");
    assert_eq!(config["kind"], "OperatorConfig");
    assert_eq!(config["leaderElection"]["leaderElect"], true);
    assert_eq!(config["leaderElection"]["resourceName"], "spire-steward");
    assert_eq!(config["leaderElection"]["resourceNamespace"], "spire-system");
    assert_eq!(config["spireServerAddress"], "spire-server.spire-server:8081");
    assert_eq!(config["spireAgentSocketPath"], "/spiffe-workload-api/spire-agent.sock");
    assert_eq!(config["metrics"]["bindAddress"], ":8080");
    assert_eq!(config["health"]["healthProbeBindAddress"], ":8081");
    let parsed = operator_config(&r.config_text());
    assert!(parsed.leader_election.enabled);
    assert_eq!(parsed.leader_election.lease_name, "spire-steward");
    assert_eq!(parsed.leader_election.lease_namespace.as_deref(), Some("spire-system"));
    assert_eq!(parsed.trust_domain.as_str(), "example.org");
    assert_eq!(parsed.cluster_name, "example-cluster");
    assert_eq!(parsed.entry_id_prefix, "spire-steward");
    assert_eq!(parsed.gc_interval, Duration::from_secs(60));
    assert_eq!(parsed.mode, spire_steward::config::Mode::Enforce);
    assert_eq!(parsed.deletion_breaker, spire_steward::breaker::Breaker::default());
    assert_eq!(parsed.exception_warning_window, Duration::from_secs(72 * 3600));
    assert_eq!(parsed.health_address, Some("0.0.0.0:8081".parse().unwrap()));
    assert_eq!(parsed.metrics_address, Some("0.0.0.0:8080".parse().unwrap()));
    assert_eq!(parsed.spire_server_socket_path, Path::new("/spire-server/api.sock"));

    // RBAC: exactly the operator's calls, no wildcards, bound to the ServiceAccount.
    let role: ClusterRole = r.operator_role_typed();
    assert_eq!(rule_triples(&role), expected_triples());
    assert!(!r.operator_role().to_string().contains('*'), "wildcard in the ClusterRole");
    let binding: ClusterRoleBinding = r.typed("ClusterRoleBinding");
    assert_eq!(binding.role_ref.name, "spire-steward");
    let subjects = binding.subjects.unwrap();
    assert_eq!(subjects.len(), 1);
    assert_eq!((subjects[0].kind.as_str(), subjects[0].name.as_str()), ("ServiceAccount", "spire-steward"));
    assert_eq!(subjects[0].namespace.as_deref(), Some("spire-system"));
    // Tenant roles, aggregated to the built-in namespace roles.
    let tenant: Vec<&Value> = r.all("ClusterRole").into_iter().filter(|c| c != &r.operator_role()).collect();
    let aggregated = |c: &Value| {
        let mut labels: Vec<String> = c["metadata"]["labels"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, v)| k.starts_with("rbac.authorization.k8s.io/aggregate-to-") && *v == "true")
            .map(|(k, _)| k.rsplit('-').next().unwrap().to_owned())
            .collect();
        labels.sort();
        (c["metadata"]["name"].as_str().unwrap().to_owned(), labels, c["rules"][0]["resources"].clone())
    };
    let mut tenant: Vec<_> = tenant.into_iter().map(aggregated).collect();
    tenant.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        tenant,
        [
            ("spire-steward-tenant-edit".to_owned(), vec!["admin".to_owned(), "edit".to_owned()], json!(["spiffeids"])),
            ("spire-steward-tenant-view".to_owned(), vec!["view".to_owned()], json!(["spiffeids", "spiffeids/status"])),
        ]
    );
    assert_eq!(r.all("Role").len(), 2, "the leader-election Role and the state Role");
    let lease_role: Role = serde_json::from_value(r.named("Role", "-leader-election").clone()).unwrap();
    assert_eq!(lease_role.metadata.namespace.as_deref(), Some("spire-system"));
    let rules = lease_role.rules.unwrap();
    assert!(rules.iter().all(|rule| {
        rule.api_groups.as_deref() == Some(&["coordination.k8s.io".to_owned()][..])
            && rule.resources.as_deref() == Some(&["leases".to_owned()][..])
    }));
    let verbs: BTreeSet<_> = rules.iter().flat_map(|r| r.verbs.clone()).collect();
    assert_eq!(verbs, ["create", "get", "update"].map(String::from).into());
    for rule in &rules {
        if rule.verbs != ["create"] {
            assert_eq!(rule.resource_names.as_deref(), Some(&["spire-steward".to_owned()][..]));
        }
    }

    // The state ConfigMap, beside the Lease and named after it: every verb limited to it.
    let state_role: Role = serde_json::from_value(r.named("Role", "-state").clone()).unwrap();
    assert_eq!(state_role.metadata.namespace.as_deref(), Some("spire-system"));
    let rules = state_role.rules.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].resources.as_deref(), Some(&["configmaps".to_owned()][..]));
    assert_eq!(rules[0].resource_names.as_deref(), Some(&["spire-steward-state".to_owned()][..]));
    assert_eq!(rules[0].verbs, ["get", "list", "watch", "create", "patch"].map(String::from));

    let service = r.one("Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    assert_eq!(service["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"]);
}

#[test]
fn non_default_values_reach_the_deployment_and_the_configuration() {
    let r = Rendered::non_default("platform", "identity");
    // No metrics: no Service and no metrics port.
    assert!(r.all("Service").is_empty(), "{}", r.text);
    let deployment = r.one("Deployment");
    assert_eq!(deployment["metadata"]["name"], "steward");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "steward-operator");
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["nodeSelector"], json!({ "node-role.kubernetes.io/control-plane": "" }));
    assert_eq!(pod["tolerations"][0]["operator"], "Exists");
    assert!(pod["affinity"]["podAntiAffinity"].is_object());
    assert_eq!(pod["imagePullSecrets"], json!([{ "name": "registry-credentials" }]));
    assert_eq!(deployment["spec"]["template"]["metadata"]["labels"]["team"], "platform");
    let c = r.container();
    assert_eq!(
        c["image"],
        "registry.example.com/platform/spire-steward@sha256:\
         0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(ports(c), [("health".into(), 9440)].into());
    assert_eq!(c["livenessProbe"]["failureThreshold"], 5);
    assert_eq!(c["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(mounts(c)["spire-server-socket"], "/run/spire/admin/", "mounted where the values say");
    assert_eq!(volume(pod, "spire-server-socket")["hostPath"]["path"], "/var/run/spire/admin");
    assert_eq!(r.one("ServiceAccount")["metadata"]["name"], "steward-operator");

    let config = r.operator_config_checked();
    assert_eq!(config.trust_domain.as_str(), "prod.example.com");
    assert_eq!(config.cluster_name, "prod-eu-1");
    assert_eq!(config.cluster_domain, "cluster.local");
    assert_eq!(config.class_name.as_deref(), Some("blue"));
    assert!(config.watch_classless);
    assert_eq!(config.entry_id_prefix, "prod");
    assert_eq!(config.adopt_entry_id_prefixes, ["scm"]);
    assert_eq!(config.parent_id_template, "spiffe://{{ .TrustDomain }}/spire/agent/x509pop/{{ .NodeMeta.Name }}");
    assert_eq!(config.spire_server_socket_path, Path::new("/run/spire/admin/server.sock"));
    assert_eq!(config.spire_call_timeout, Duration::from_secs(10));
    assert_eq!(config.gc_interval, Duration::from_secs(30), "nanoseconds");
    assert_eq!(config.exception_warning_window, Duration::from_secs(24 * 3600));
    assert_eq!(config.mode, spire_steward::config::Mode::Observe);
    assert_eq!(config.deletion_breaker, spire_steward::breaker::Breaker { max_share_percent: 10, min_deletions: 50 });
    assert!(config.reconcile.cluster_spiffe_ids && config.reconcile.cluster_static_entries);
    assert!(!config.reconcile.cluster_federated_trust_domains);
    assert!(config.leader_election.enabled);
    assert_eq!(config.leader_election.lease_name, "steward-leader");
    assert_eq!(config.leader_election.lease_duration, Duration::from_secs(30));
    assert_eq!(config.metrics_address, None, "metrics off");
    assert_eq!(config.health_address, Some("0.0.0.0:9440".parse().unwrap()));
    assert_eq!(config.ignore_namespaces.len(), 2);
    assert_eq!(config.log_level, tracing::Level::DEBUG);
    let lease_role: Role = serde_json::from_value(r.named("Role", "-leader-election").clone()).unwrap();
    assert!(
        lease_role
            .rules
            .unwrap()
            .iter()
            .any(|rule| rule.resource_names.as_deref() == Some(&["steward-leader".to_owned()][..]))
    );

    // A Lease in another namespace moves the leader-election Role there; turning leader
    // election off removes it.
    let moved = Rendered::new("platform", "identity", &["--set", "config.leaderElection.resourceNamespace=leases"]);
    for kind in ["Role", "RoleBinding"] {
        assert!(moved.all(kind).iter().all(|o| o["metadata"]["namespace"] == "leases"), "{kind}");
    }
    assert_eq!(moved.named("RoleBinding", "-leader-election")["subjects"][0]["namespace"], "identity");
    assert_eq!(moved.named("RoleBinding", "-state")["subjects"][0]["namespace"], "identity");
    assert_eq!(moved.config()["leaderElection"]["resourceNamespace"], "leases");
    let single = Rendered::new(
        "platform",
        "identity",
        &["--set", "config.leaderElection.leaderElect=false", "--set", "replicaCount=1"],
    );
    // Without a Lease, only the state Role is left.
    assert_eq!(single.all("Role").len(), 1);
    assert_eq!(single.named("Role", "-state")["metadata"]["namespace"], "identity");
    assert!(!single.operator_config_checked().leader_election.enabled);
}

#[test]
fn a_missing_trust_domain_is_refused_at_render_time() {
    let out = helm(&["template", "x", CHART, "--set", "config.trustDomain="]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at '/config/trustDomain': minLength: got 0, want 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn several_replicas_without_leader_election_are_refused_at_render_time() {
    let out = helm(&[
        "template",
        "x",
        CHART,
        "--set",
        "config.trustDomain=example.org",
        "--set",
        "config.leaderElection.leaderElect=false",
    ])
    .output()
    .unwrap();
    assert!(!out.status.success(), "the default two replicas need leader election");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("replicaCount > 1 needs config.leaderElection.leaderElect=true"), "{stderr}");
}

impl Rendered {
    fn operator_config_checked(&self) -> spire_steward::config::Config {
        operator_config(&self.config_text())
    }
}

/// Loads a configuration file with the operator's own parser and validation.
fn operator_config(text: &str) -> spire_steward::config::Config {
    spire_steward::config::File::parse(text)
        .unwrap_or_else(|e| panic!("the operator refuses the rendered config: {e}\n{text}"))
        .validate()
        .unwrap_or_else(|e| panic!("the operator refuses the rendered config: {e}\n{text}"))
}

fn ports(container: &Value) -> std::collections::BTreeMap<String, i64> {
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["containerPort"].as_i64().unwrap()))
        .collect()
}

fn mounts(container: &Value) -> std::collections::BTreeMap<String, String> {
    container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["readOnly"], true, "{m}");
            (m["name"].as_str().unwrap().to_owned(), m["mountPath"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn volume<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["volumes"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no volume {name}"))
}

// --- on the testbed ----------------------------------------------------------------------------

/// What a test created on the testbed, deleted in reverse order when dropped (also when the test
/// fails). The testbed runs no namespace controller, so a namespace, emptied of the test's objects
/// by then, is finalized here as that controller would.
struct Created {
    kubectl: String,
    kubeconfig: String,
    objects: Vec<(&'static str, String, Option<String>)>,
}

impl Created {
    fn new(bed: &support::Testbed) -> Self {
        Self {
            kubectl: bed.var("KUBECTL_BIN").to_owned(),
            kubeconfig: bed.var("KUBECONFIG_ADMIN").to_owned(),
            objects: Vec::new(),
        }
    }

    fn push(&mut self, kind: &'static str, name: &str, namespace: Option<&str>) {
        self.objects.push((kind, name.to_owned(), namespace.map(str::to_owned)));
    }

    /// Creates a namespace of the test's own.
    async fn namespace(&mut self, client: &kube::Client) -> String {
        let name = unique("chart");
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": { "name": name, "labels": { "spire-steward-test": "chart" } }
        }))
        .unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("creating the test namespace");
        self.push("namespace", &name, None);
        name
    }
}

impl Created {
    fn finalize_namespace(&self, name: &str) {
        let finalized = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": { "name": name },
            "spec": { "finalizers": [] },
        });
        let out = kubectl_with(
            &self.kubectl,
            &self.kubeconfig,
            &["replace", "--raw", &format!("/api/v1/namespaces/{name}/finalize"), "-f", "-"],
            &finalized.to_string(),
        );
        if !out.status.success() {
            eprintln!("finalizing namespace {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        for (kind, name, namespace) in std::mem::take(&mut self.objects).into_iter().rev() {
            let mut cmd = Command::new(&self.kubectl);
            cmd.args(["--kubeconfig", &self.kubeconfig, "delete", kind, &name])
                .args(["--ignore-not-found", "--wait=false"])
                .stdout(Stdio::null());
            if let Some(ns) = namespace {
                cmd.args(["--namespace", &ns]);
            }
            match cmd.status() {
                Ok(s) if s.success() => {}
                other => eprintln!("cleaning up {kind} {name}: {other:?}"),
            }
            if kind == "namespace" {
                self.finalize_namespace(&name);
            }
        }
    }
}

/// Runs kubectl as the testbed's admin with `input` on stdin.
fn kubectl_admin(bed: &support::Testbed, args: &[&str], input: &str) -> std::process::Output {
    kubectl_with(bed.var("KUBECTL_BIN"), bed.var("KUBECONFIG_ADMIN"), args, input)
}

fn kubectl_with(kubectl: &str, kubeconfig: &str, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(kubectl)
        .args(["--kubeconfig", kubeconfig])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kubectl");
    child.stdin.take().unwrap().write_all(input.as_bytes()).expect("writing to kubectl");
    child.wait_with_output().expect("waiting for kubectl")
}

#[tokio::test]
async fn rendered_manifests_pass_a_server_side_dry_run() {
    let bed = testbed();
    let admin = bed.kube_admin().await;
    let mut created = Created::new(bed);
    let ns = created.namespace(&admin).await;

    let hardened = Rendered::new(&unique("steward"), &ns, &["--values", HARDENED_VALUES]);
    assert_eq!(hardened.all("CustomResourceDefinition").len(), 6);
    for rendered in
        [Rendered::defaults(&unique("steward"), &ns), Rendered::non_default(&unique("steward"), &ns), hardened]
    {
        let args = ["apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-"];
        let out = kubectl_admin(bed, &args, &rendered.text);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "server-side dry run refused the chart:\n{stdout}\n{}\n--- manifests ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            rendered.text
        );
        assert_eq!(stdout.matches("(server dry run)").count(), rendered.objects.len(), "{stdout}");
        // Nothing was stored.
        let name = rendered.operator_role()["metadata"]["name"].as_str().unwrap();
        assert!(
            Api::<ClusterRole>::all(admin.clone()).get_opt(name).await.unwrap().is_none(),
            "the dry run stored ClusterRole {name}"
        );
    }
}

#[tokio::test]
async fn the_chart_rbac_grants_the_operator_exactly_its_calls() {
    let bed = testbed();
    let admin = bed.kube_admin().await;
    let operator = bed.kube_operator().await;
    let mut created = Created::new(bed);
    let ns = created.namespace(&admin).await;
    let release = unique("rbac");
    let rendered = Rendered::defaults(&release, &ns);
    let lease = rendered.config()["leaderElection"]["resourceName"].as_str().unwrap().to_owned();
    assert_eq!(lease, format!("{release}-spire-steward"));

    let mut needed = cluster_calls();
    needed.push(access("create", "coordination.k8s.io", "leases").ns(&ns));
    for verb in ["get", "update"] {
        needed.push(access(verb, "coordination.k8s.io", "leases").ns(&ns).named(&lease));
    }
    let mut refused = refused_calls();
    for verb in ["get", "update", "patch", "delete"] {
        refused.push(access(verb, "coordination.k8s.io", "leases").ns(&ns).named("another-lease"));
    }
    refused.push(access("delete", "coordination.k8s.io", "leases").ns(&ns).named(&lease));
    refused.push(access("list", "coordination.k8s.io", "leases").ns(&ns));
    refused.push(access("watch", "coordination.k8s.io", "leases").ns(&ns));
    refused.push(access("create", "coordination.k8s.io", "leases").ns("default"));
    let state = format!("{lease}-state");
    for verb in ["get", "list", "watch", "create", "patch"] {
        needed.push(access(verb, "", "configmaps").ns(&ns).named(&state));
        refused.push(access(verb, "", "configmaps").ns(&ns).named("another-configmap"));
    }
    for verb in ["update", "delete"] {
        refused.push(access(verb, "", "configmaps").ns(&ns).named(&state));
    }
    refused.push(access("list", "", "configmaps").ns(&ns));

    // Before the chart's roles are bound, the operator identity can make none of the calls in
    // this test's own namespace (cluster-wide calls may already be granted by other tests that
    // run the operator as this identity).
    for call in needed.iter().filter(|c| c.is_namespaced_in(&ns)) {
        assert!(!call.allowed(&operator).await, "the operator identity is already allowed to {call}");
    }

    // The rendered ClusterRole and leader-election Role, bound to the operator's user.
    let role: ClusterRole = rendered.operator_role_typed();
    let role_name = role.metadata.name.clone().unwrap();
    Api::<ClusterRole>::all(admin.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("creating the ClusterRole");
    created.push("clusterrole", &role_name, None);
    let binding_name = unique("chart-operator");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": { "name": binding_name },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": OPERATOR_USER }],
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(&PostParams::default(), &binding)
        .await
        .expect("creating the ClusterRoleBinding");
    created.push("clusterrolebinding", &binding_name, None);

    for suffix in ["-leader-election", "-state"] {
        let role: Role = serde_json::from_value(rendered.named("Role", suffix).clone()).unwrap();
        let role_name = role.metadata.name.clone().unwrap();
        Api::<Role>::namespaced(admin.clone(), &ns)
            .create(&PostParams::default(), &role)
            .await
            .unwrap_or_else(|e| panic!("creating the Role {role_name}: {e}"));
        created.push("role", &role_name, Some(&ns));
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": { "name": role_name, "namespace": ns },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": OPERATOR_USER }],
        }))
        .unwrap();
        Api::<RoleBinding>::namespaced(admin.clone(), &ns)
            .create(&PostParams::default(), &binding)
            .await
            .unwrap_or_else(|e| panic!("creating the RoleBinding {role_name}: {e}"));
        created.push("rolebinding", &role_name, Some(&ns));
    }

    // The authorizer sees new bindings a moment later.
    let probes = [needed[0].clone(), needed.last().unwrap().clone()];
    let seen = support::eventually(Duration::from_secs(30), || {
        let operator = operator.clone();
        let probes = probes.clone();
        async move {
            for probe in &probes {
                if !probe.allowed(&operator).await {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    assert!(seen.is_some(), "the new bindings never took effect");

    let mut wrong = Vec::new();
    for call in &needed {
        if !call.allowed(&operator).await {
            wrong.push(format!("denied, but the operator needs it: {call}"));
        }
    }
    for call in &refused {
        if call.allowed(&operator).await {
            wrong.push(format!("allowed, but the operator never needs it: {call}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    drop(created);

    // Cleaned up: the ClusterRole and its binding are gone.
    assert!(Api::<ClusterRole>::all(admin.clone()).get_opt(&role_name).await.unwrap().is_none());
    assert!(Api::<ClusterRoleBinding>::all(admin).get_opt(&binding_name).await.unwrap().is_none());
}

#[test]
fn the_values_schema_refuses_typos_and_bad_values_by_path() {
    for (set, want) in [
        ("replicaCont=2", "additional properties 'replicaCont' not allowed"),
        ("config.logEncoding=jsn", "at '/config/logEncoding': value must be one of 'console', 'json'"),
        ("config.gcInterval=banana", "at '/config/gcInterval'"),
        ("config.mode=Dry", "at '/config/mode'"),
        ("config.driftPolicy=Repair", "at '/config/driftPolicy'"),
        ("config.deletionBreaker.maxSharePercent=101", "at '/config/deletionBreaker/maxSharePercent'"),
        ("config.entryIDPrefix=a.b", "at '/config/entryIDPrefix'"),
        ("image.digest=latest", "at '/image/digest'"),
        ("image.pullPolicy=Sometimes", "at '/image/pullPolicy'"),
        ("replicaCount=0", "at '/replicaCount'"),
        ("config.leaderElection.leaseDuration=soon", "at '/config/leaderElection/leaseDuration'"),
        ("metrics.serviceMonitor.interval=often", "at '/metrics/serviceMonitor/interval'"),
    ] {
        let out = helm(&["template", "x", CHART, "--set", set]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{set} was accepted");
        assert!(stderr.contains(want), "{set}: {stderr}");
    }
    // Durations as Go strings or integer nanoseconds, as the operator reads them.
    for set in [
        "config.gcInterval=1h30m",
        "config.gcInterval=30000000000",
        "config.spireCallTimeout=1.5s",
        "config.spireServerAddress=[fd00::1]:8081",
    ] {
        let out = helm(&["template", "x", CHART, "--set", set]).output().unwrap();
        assert!(out.status.success(), "{set}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn hardening_values_render_a_disruption_budget_a_spread_the_extras_and_the_crds() {
    // Defaults: two replicas spread across nodes, one kept through voluntary disruptions.
    let r = Rendered::defaults("spire-steward", "spire-system");
    let pdb = r.one("PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let selector = &r.one("Deployment")["spec"]["selector"]["matchLabels"];
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
    let pod = &r.one("Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["topologySpreadConstraints"],
        json!([{ "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                 "labelSelector": { "matchLabels": selector } }])
    );
    assert!(r.all("CustomResourceDefinition").is_empty() && r.all("ServiceMonitor").is_empty());
    assert!(r.all("PrometheusRule").is_empty());

    // One replica: no budget (it would block every drain), no spread.
    let single = Rendered::new("x", "ns", &["--set", "replicaCount=1"]);
    assert!(single.all("PodDisruptionBudget").is_empty());
    assert!(single.one("Deployment")["spec"]["template"]["spec"].get("topologySpreadConstraints").is_none());

    let h = Rendered::new("platform", "identity", &["--values", HARDENED_VALUES]);
    assert_eq!(h.one("PodDisruptionBudget")["spec"]["maxUnavailable"], "50%");
    assert!(h.one("PodDisruptionBudget")["spec"].get("minAvailable").is_none());
    let c = h.container();
    let args = c["args"].as_array().unwrap();
    assert_eq!(&args[3..], [json!("--log-level"), json!("info")]);
    assert!(c["env"].as_array().unwrap().contains(&json!({ "name": "RUST_BACKTRACE", "value": "1" })));
    assert!(c["volumeMounts"].as_array().unwrap().contains(&json!({ "name": "scratch", "mountPath": "/scratch" })));
    let pod = &h.one("Deployment")["spec"]["template"]["spec"];
    assert!(pod["volumes"].as_array().unwrap().contains(&json!({ "name": "scratch", "emptyDir": {} })));
    assert!(pod.get("topologySpreadConstraints").is_none(), "defaultTopologySpread: false");

    // The CRDs, as crds/ holds them, kept on uninstall; and without keep, not.
    let crds = h.all("CustomResourceDefinition");
    let mut names: Vec<&str> = crds.iter().map(|c| c["metadata"]["name"].as_str().unwrap()).collect();
    names.sort();
    let mut files: Vec<String> = std::fs::read_dir(support::repo_root().join("crds"))
        .unwrap()
        .map(|e| {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            let crd: Value = serde_yaml_ng::from_str(&text).unwrap();
            crd["metadata"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    files.sort();
    assert_eq!(names, files);
    for crd in &crds {
        assert_eq!(crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep", "{crd:#}");
        assert_eq!(crd["metadata"]["labels"]["app.kubernetes.io/instance"], "platform");
        assert!(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].is_object());
    }
    let unkept = Rendered::new("x", "ns", &["--set", "crds.enabled=true", "--set", "crds.keep=false"]);
    assert!(
        unkept
            .all("CustomResourceDefinition")
            .iter()
            .all(|c| c["metadata"]["annotations"].get("helm.sh/resource-policy").is_none())
    );

    // Prometheus Operator objects on request.
    let monitored = Rendered::new(
        "x",
        "ns",
        &[
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.serviceMonitor.interval=30s",
            "--set",
            "metrics.serviceMonitor.labels.release=prom",
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set-json",
            r#"metrics.prometheusRule.groups=[{"name":"mine","rules":[{"alert":"SpireStewardDown","expr":"up == 0"}]}]"#,
        ],
    );
    let monitor = monitored.one("ServiceMonitor");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prom");
    assert_eq!(monitor["spec"]["endpoints"], json!([{ "port": "metrics", "path": "/metrics", "interval": "30s" }]));
    assert_eq!(monitor["spec"]["selector"]["matchLabels"], monitored.one("Service")["spec"]["selector"]);
    // The default alerts first, then the user's groups.
    let groups = &monitored.one("PrometheusRule")["spec"]["groups"];
    assert_eq!(groups[0]["name"], "spire-steward");
    assert_eq!(groups[1]["rules"][0]["alert"], "SpireStewardDown");
    let out = helm(&[
        "template",
        "x",
        CHART,
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.enabled=false",
    ])
    .output()
    .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics.serviceMonitor.enabled needs metrics.enabled"));
}

#[test]
fn class_filtering_values_reach_the_configuration() {
    let r = Rendered::new(
        "x",
        "ns",
        &[
            "--set",
            "config.className=blue",
            "--set",
            "config.filterByClassName=true",
            "--set-json",
            r#"config.clusterSPIFFEIDLabelSelector={"matchLabels":{"team":"payments"}}"#,
        ],
    );
    let config = r.operator_config_checked();
    assert_eq!(config.cluster_spiffe_id_selector.as_deref(), Some("team=payments,spire.spiffe.io/class-name=blue"));
    let refused = helm(&["template", "x", CHART, "--set", "config.clusterSPIFFEIDLabelSelector.matchLabel.a=b"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("additional properties 'matchLabel' not allowed"));
}

#[test]
fn helm_package_names_the_archive_by_the_crate_version() {
    let out_dir = support::repo_root().join("target").join(unique("chart-package"));
    run(helm(&["package", CHART, "--destination", out_dir.to_str().unwrap()]), "helm package");
    let archive = out_dir.join(format!("spire-steward-{}.tgz", env!("CARGO_PKG_VERSION")));
    assert!(archive.is_file(), "{} missing", archive.display());
    std::fs::remove_dir_all(&out_dir).unwrap();
}

/// Sidecar mode: no Deployment of its own; the roles bound to the spire-server ServiceAccount;
/// and a values fragment for spiffe's hardened SPIRE chart whose container, put in a
/// spire-server pod as that chart's StatefulSet does (`extraContainers`, `extraVolumes`, the
/// socket in the pod's `spire-server-socket` emptyDir), passes Pod Security `restricted` on the
/// testbed's API server. The same pod with a hostPath socket is refused there.
#[tokio::test]
async fn sidecar_mode_renders_a_spire_server_sidecar_that_passes_pod_security_restricted() {
    let bed = testbed();
    let admin = bed.kube_admin().await;
    let mut created = Created::new(bed);
    let ns = created.namespace(&admin).await;
    let label = json!({ "metadata": { "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    } } });
    Api::<Namespace>::all(admin.clone()).patch(&ns, &PatchParams::default(), &Patch::Merge(&label)).await.unwrap();

    let r = Rendered::new("steward", &ns, &["--set", "sidecar.enabled=true"]);
    // The pod mounts this release's ConfigMap: the release must be in the pod's namespace.
    let elsewhere = helm(&[
        "template",
        "x",
        CHART,
        "-n",
        &ns,
        "--set",
        "sidecar.enabled=true",
        "--set",
        "sidecar.serviceAccount.namespace=other",
    ])
    .output()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&elsewhere.stderr)
            .contains("sidecar.serviceAccount.namespace must be the release namespace")
    );
    for kind in ["Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"] {
        assert!(r.all(kind).is_empty(), "sidecar mode renders no {kind}");
    }
    let binding = r.one("ClusterRoleBinding");
    assert_eq!(binding["subjects"], json!([{ "kind": "ServiceAccount", "name": "spire-server", "namespace": ns }]));
    let config = r.operator_config_checked();
    assert_eq!(config.spire_server_socket_path, Path::new("/tmp/spire-server/private/api.sock"));
    assert_eq!(config.spire_tcp, None, "beside the server, the socket");
    assert_eq!(config.health_address, Some("0.0.0.0:8083".parse().unwrap()));
    assert_eq!(config.metrics_address, Some("0.0.0.0:8082".parse().unwrap()));

    let sidecar = r.named("ConfigMap", "-sidecar");
    let fragment: Value =
        serde_yaml_ng::from_str(sidecar["data"]["spire-server-values.yaml"].as_str().unwrap()).unwrap();
    let server = &fragment["spire-server"];
    assert_eq!(server["controllerManager"]["enabled"], false);
    let containers = server["extraContainers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    assert!(containers[0]["volumeMounts"].as_array().unwrap().contains(
        &json!({ "name": "spire-server-socket", "mountPath": "/tmp/spire-server/private", "readOnly": true })
    ));
    let volumes = server["extraVolumes"].as_array().unwrap();
    assert_eq!(volumes[0]["configMap"]["name"], "steward-spire-steward");

    // The spire-server pod as the hardened chart builds it, with the fragment applied.
    let pod = |socket: Value| -> Pod {
        let mut socket_volume = socket;
        socket_volume["name"] = json!("spire-server-socket");
        let mut volumes = vec![socket_volume];
        volumes.extend(server["extraVolumes"].as_array().unwrap().iter().cloned());
        let mut containers = vec![json!({
            "name": "spire-server",
            "image": "ghcr.io/spiffe/spire-server:1.15.3",
            "args": ["-config", "/run/spire/config/server.conf"],
            "securityContext": {
                "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                "capabilities": { "drop": ["ALL"] },
                "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" },
            },
            "volumeMounts": [{ "name": "spire-server-socket", "mountPath": "/tmp/spire-server/private" }],
        })];
        containers.extend(server["extraContainers"].as_array().unwrap().iter().cloned());
        serde_json::from_value(json!({
            "metadata": { "name": "spire-server-0", "namespace": ns },
            "spec": {
                "serviceAccountName": "spire-server",
                "securityContext": { "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000 },
                "containers": containers,
                "volumes": volumes,
            },
        }))
        .unwrap()
    };
    let dry_run = PostParams { dry_run: true, ..Default::default() };
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    let shared = pod(json!({ "emptyDir": {} }));
    pods.create(&dry_run, &shared).await.expect("the spire-server pod with the sidecar passes restricted");
    let host = pod(json!({ "hostPath": { "path": "/run/spire/server-sockets", "type": "Directory" } }));
    let refused = pods.create(&dry_run, &host).await.expect_err("a hostPath socket is refused under restricted");
    assert!(refused.to_string().contains("hostPath"), "{refused}");
}

/// TCP mode (the default): the Deployment's pod mounts the agent's Workload API through the
/// SPIFFE CSI driver instead of a hostPath socket, and passes Pod Security `restricted` on the
/// testbed's API server; the hostPath pod (`config.spireServerAddress=""`) is refused there.
#[tokio::test]
async fn tcp_mode_pods_pass_pod_security_restricted_and_hostpath_ones_do_not() {
    let bed = testbed();
    let admin = bed.kube_admin().await;
    let mut created = Created::new(bed);
    let ns = created.namespace(&admin).await;
    let label = json!({ "metadata": { "labels": { "pod-security.kubernetes.io/enforce": "restricted" } } });
    Api::<Namespace>::all(admin.clone()).patch(&ns, &PatchParams::default(), &Patch::Merge(&label)).await.unwrap();
    let pod_of = |r: &Rendered| -> Pod {
        let template = &r.one("Deployment")["spec"]["template"];
        serde_json::from_value(json!({
            "metadata": { "name": "operator", "namespace": ns, "labels": template["metadata"]["labels"] },
            "spec": template["spec"],
        }))
        .unwrap()
    };
    let tcp = Rendered::new("steward", &ns, &["--set", "config.spireServerAddress=spire-server.spire-server:8081"]);
    let config = tcp.operator_config_checked();
    let transport = config.spire_tcp.expect("TCP mode");
    assert_eq!(transport.address, "spire-server.spire-server:8081");
    assert_eq!(transport.agent_socket, Path::new("/spiffe-workload-api/spire-agent.sock"));
    assert_eq!(transport.server_id, "spiffe://example.org/spire/server");
    let volumes = &tcp.one("Deployment")["spec"]["template"]["spec"]["volumes"];
    assert!(
        volumes.as_array().unwrap().contains(
            &json!({ "name": "spiffe-workload-api", "csi": { "driver": "csi.spiffe.io", "readOnly": true } })
        )
    );
    let dry_run = PostParams { dry_run: true, ..Default::default() };
    let pods: Api<Pod> = Api::namespaced(admin.clone(), &ns);
    pods.create(&dry_run, &pod_of(&tcp)).await.expect("the TCP-mode pod passes restricted");
    let default = Rendered::defaults("steward", &ns);
    pods.create(&dry_run, &pod_of(&default)).await.expect("the default install's pod passes restricted");
    let socket = Rendered::new("steward", &ns, &["--set", "config.spireServerAddress="]);
    let refused = pods.create(&dry_run, &pod_of(&socket)).await.expect_err("the hostPath pod is refused");
    assert!(refused.to_string().contains("hostPath"), "{refused}");
}
