//! A spire-controller-manager configuration file (`apiVersion: spire.spiffe.io/v1alpha1`,
//! `kind: ControllerManagerConfig`, as of v0.7.0), read as it is so that a migration can reuse
//! its ConfigMap.
//!
//! Every key the two share is taken with spire-controller-manager's meaning: its defaults
//! (`gcInterval` 10s, a value of 0 or less falling back to it), and its `reconcile` block, in
//! which a key left out is off once the block is present. Keys that change nothing here (the
//! webhook, controller-runtime tuning, the render cache) are accepted and named in the returned
//! list of ignored keys. Keys whose behaviour spire-steward does not have are refused by name;
//! so is any key spire-controller-manager does not know either.

use serde::Deserialize;

use super::{DurationValue, File, HealthFile, LeaderElectionFile, MetricsFile, ReconcileFile};

/// The `apiVersion` and `kind` of a spire-controller-manager configuration file.
pub const API_VERSION: &str = "spire.spiffe.io/v1alpha1";
pub const KIND: &str = "ControllerManagerConfig";

/// spire-controller-manager's `gcInterval` default and fallback.
const SCM_GC_INTERVAL_NANOS: u64 = 10_000_000_000;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScmFile {
    api_version: Option<String>,
    kind: Option<String>,
    /// The hardened chart's ConfigMap template writes one; it means nothing here.
    metadata: Option<serde_yaml_ng::Value>,
    trust_domain: Option<String>,
    cluster_name: Option<String>,
    cluster_domain: Option<String>,
    ignore_namespaces: Option<Vec<String>>,
    #[serde(rename = "validatingWebhookConfigurationName")]
    validating_webhook_configuration_name: Option<String>,
    gc_interval: Option<i64>,
    spire_server_socket_path: Option<String>,
    log_level: Option<String>,
    log_encoding: Option<String>,
    grpc: Option<serde_yaml_ng::Value>,
    class_name: Option<String>,
    watch_classless: Option<bool>,
    #[serde(rename = "parentIDTemplate")]
    parent_id_template: Option<String>,
    reconcile: Option<ScmReconcile>,
    #[serde(rename = "entryIDPrefix")]
    entry_id_prefix: Option<String>,
    #[serde(rename = "entryIDPrefixCleanup")]
    entry_id_prefix_cleanup: Option<String>,
    static_manifest_path: Option<String>,
    expand_env_static_manifests: Option<bool>,
    enable_entry_render_cache: Option<bool>,
    entry_render_cache_size: Option<i64>,
    /// In v0.7.0 a plain map of labels.
    #[serde(rename = "clusterSPIFFEIDLabelSelector")]
    cluster_spiffe_id_label_selector: Option<std::collections::BTreeMap<String, String>>,
    filter_by_class_name: Option<bool>,
    leader_election: Option<ScmLeaderElection>,
    sync_period: Option<serde_yaml_ng::Value>,
    cache_namespace: Option<String>,
    cache_namespaces: Option<serde_yaml_ng::Value>,
    metrics: Option<ScmMetrics>,
    health: Option<ScmHealth>,
    controller: Option<serde_yaml_ng::Value>,
    webhook: Option<serde_yaml_ng::Value>,
    graceful_shut_down: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScmReconcile {
    #[serde(rename = "clusterSPIFFEIDs")]
    cluster_spiffe_ids: Option<bool>,
    cluster_federated_trust_domains: Option<bool>,
    cluster_static_entries: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScmLeaderElection {
    leader_elect: Option<bool>,
    resource_lock: Option<String>,
    resource_name: Option<String>,
    resource_namespace: Option<String>,
    lease_duration: Option<DurationValue>,
    renew_deadline: Option<DurationValue>,
    retry_period: Option<DurationValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScmMetrics {
    bind_address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScmHealth {
    health_probe_bind_address: Option<String>,
    readiness_endpoint_name: Option<String>,
    liveness_endpoint_name: Option<String>,
}

/// Whether a parsed YAML document is a spire-controller-manager configuration file.
pub fn is_scm(document: &serde_yaml_ng::Value) -> bool {
    document.get("apiVersion").and_then(|v| v.as_str()) == Some(API_VERSION)
        && document.get("kind").and_then(|v| v.as_str()) == Some(KIND)
}

/// Why a spire-controller-manager key is refused.
fn refuse(key: &str, why: &str) -> String {
    format!("{key}: {why} (spire-controller-manager key not supported by spire-steward)")
}

/// Reads a spire-controller-manager configuration document into spire-steward's form, with the
/// keys it accepted and ignores.
pub fn translate(document: serde_yaml_ng::Value) -> Result<(File, Vec<&'static str>), String> {
    let scm: ScmFile = serde_yaml_ng::from_value(document).map_err(|e| e.to_string())?;
    let mut ignored = Vec::new();
    let mut ignore = |set: bool, key: &'static str| {
        if set {
            ignored.push(key);
        }
    };
    // What has no behaviour here: refused by name.
    if scm.entry_id_prefix_cleanup.is_some() {
        return Err(refuse(
            "entryIDPrefixCleanup",
            "list the old prefix in adoptEntryIDPrefixes to take its entries over",
        ));
    }
    if scm.cache_namespace.is_some() || scm.cache_namespaces.is_some() {
        return Err(refuse(
            "cacheNamespaces",
            "restricting the caches to namespaces is not available; use ignoreNamespaces",
        ));
    }
    // What changes nothing here: accepted, and named.
    ignore(scm.validating_webhook_configuration_name.is_some(), "validatingWebhookConfigurationName");
    ignore(scm.grpc.is_some(), "grpc");
    ignore(scm.enable_entry_render_cache.is_some() || scm.entry_render_cache_size.is_some(), "enableEntryRenderCache");
    ignore(scm.sync_period.is_some(), "syncPeriod");
    ignore(scm.controller.is_some(), "controller");
    ignore(scm.webhook.is_some(), "webhook");
    ignore(scm.graceful_shut_down.is_some(), "gracefulShutDown");

    let leader_election = match scm.leader_election {
        Some(le) => {
            if let Some(lock) = le.resource_lock.as_deref().filter(|l| *l != "leases") {
                return Err(refuse("leaderElection.resourceLock", &format!("{lock:?}: only \"leases\" is supported")));
            }
            Some(LeaderElectionFile {
                leader_elect: le.leader_elect,
                resource_name: le.resource_name,
                resource_namespace: le.resource_namespace,
                lease_duration: le.lease_duration,
                renew_deadline: le.renew_deadline,
                retry_period: le.retry_period,
            })
        }
        None => None,
    };
    let health = match scm.health {
        Some(h) => {
            for (key, value, fixed) in [
                ("health.readinessEndpointName", h.readiness_endpoint_name.as_deref(), "readyz"),
                ("health.livenessEndpointName", h.liveness_endpoint_name.as_deref(), "healthz"),
            ] {
                if let Some(v) = value.filter(|v| v.trim_start_matches('/') != fixed) {
                    return Err(refuse(key, &format!("{v:?}: the endpoint is /{fixed}")));
                }
            }
            Some(HealthFile { health_probe_bind_address: h.health_probe_bind_address })
        }
        None => None,
    };
    // spire-controller-manager's reconcile block: once present, a key left out is off.
    let reconcile = scm.reconcile.map(|r| ReconcileFile {
        cluster_spiffe_ids: Some(r.cluster_spiffe_ids.unwrap_or(false)),
        cluster_static_entries: Some(r.cluster_static_entries.unwrap_or(false)),
        cluster_federated_trust_domains: Some(r.cluster_federated_trust_domains.unwrap_or(false)),
    });
    let gc_interval = match scm.gc_interval {
        Some(n) if n > 0 => n as u64,
        _ => SCM_GC_INTERVAL_NANOS,
    };
    let file = File {
        trust_domain: scm.trust_domain,
        cluster_name: scm.cluster_name,
        cluster_domain: scm.cluster_domain,
        ignore_namespaces: scm.ignore_namespaces,
        class_name: scm.class_name,
        watch_classless: scm.watch_classless,
        parent_id_template: scm.parent_id_template,
        entry_id_prefix: scm.entry_id_prefix,
        spire_server_socket_path: scm.spire_server_socket_path.map(Into::into),
        reconcile,
        gc_interval: Some(DurationValue::Nanos(gc_interval)),
        cluster_spiffe_id_label_selector: scm
            .cluster_spiffe_id_label_selector
            .map(|labels| super::LabelSelectorFile { match_labels: Some(labels), match_expressions: None }),
        filter_by_class_name: scm.filter_by_class_name,
        static_manifest_path: scm.static_manifest_path.map(Into::into),
        expand_env_static_manifests: scm.expand_env_static_manifests,
        leader_election,
        metrics: scm.metrics.map(|m| MetricsFile { bind_address: m.bind_address }),
        health,
        log_level: scm.log_level,
        log_encoding: scm.log_encoding,
        ..File::default()
    };
    let _ = (scm.api_version, scm.kind, scm.metadata);
    Ok((file, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<(File, Vec<&'static str>), String> {
        translate(serde_yaml_ng::from_str(yaml).unwrap())
    }

    /// The ConfigMap spiffe's hardened SPIRE chart renders for spire-controller-manager 0.7.0.
    const HARDENED_CHART: &str = "apiVersion: spire.spiffe.io/v1alpha1
kind: ControllerManagerConfig
metadata:
  name: spire-controller-manager
metrics:
  bindAddress: 0.0.0.0:8082
health:
  healthProbeBindAddress: 0.0.0.0:8083
leaderElection:
  leaderElect: true
  resourceName: spire-controller-manager-leader-election
  resourceNamespace: spire-server
validatingWebhookConfigurationName: spire-server-spire-controller-manager-webhook
entryIDPrefix: spire
clusterName: example-cluster
trustDomain: example.org
ignoreNamespaces:
  - kube-system
  - kube-public
  - local-path-storage
spireServerSocketPath: /tmp/spire-server/private/api.sock
className: spire-server-spire
watchClassless: false
filterByClassName: true
clusterSPIFFEIDLabelSelector:
  team: payments
  spire.spiffe.io/class-name: other
parentIDTemplate: spiffe://{{ .TrustDomain }}/spire/agent/k8s_psat/{{ .ClusterName }}/{{ .NodeMeta.UID }}
gcInterval: 10000000000
reconcile:
  clusterSPIFFEIDs: true
  clusterFederatedTrustDomains: true
  clusterStaticEntries: true
";

    #[test]
    fn the_hardened_charts_file_is_read_as_it_is() {
        let (file, ignored) = read(HARDENED_CHART).unwrap();
        assert_eq!(ignored, ["validatingWebhookConfigurationName"]);
        let config = file.validate().unwrap();
        assert_eq!(config.trust_domain.as_str(), "example.org");
        assert_eq!(config.entry_id_prefix, "spire");
        assert_eq!(config.class_name.as_deref(), Some("spire-server-spire"));
        assert_eq!(config.gc_interval, std::time::Duration::from_secs(10));
        assert!(config.leader_election.enabled);
        assert_eq!(config.leader_election.lease_name, "spire-controller-manager-leader-election");
        assert_eq!(config.spire_server_socket_path, std::path::Path::new("/tmp/spire-server/private/api.sock"));
        // A plain map of labels, as v0.7.0 has it; filterByClassName overrides the class label.
        assert_eq!(
            config.cluster_spiffe_id_selector.as_deref(),
            Some("team=payments,spire.spiffe.io/class-name=spire-server-spire")
        );
        assert_eq!(config.ignore_namespaces.len(), 3);
    }

    #[test]
    fn shared_keys_keep_spire_controller_managers_meaning() {
        let base = "apiVersion: spire.spiffe.io/v1alpha1\nkind: ControllerManagerConfig\ntrustDomain: example.org\nclusterName: c\n";
        // A reconcile block leaves out what it does not name: off.
        let (file, _) = read(&format!("{base}reconcile: {{clusterStaticEntries: true}}\n")).unwrap();
        let config = file.validate().unwrap();
        assert!(config.reconcile.cluster_static_entries);
        assert!(!config.reconcile.cluster_spiffe_ids && !config.reconcile.cluster_federated_trust_domains);
        // gcInterval: 10s by default, and for 0 or less.
        for extra in ["", "gcInterval: 0\n", "gcInterval: -5\n"] {
            let config = read(&format!("{base}{extra}")).unwrap().0.validate().unwrap();
            assert_eq!(config.gc_interval, std::time::Duration::from_secs(10), "{extra:?}");
        }
    }

    #[test]
    fn keys_without_behaviour_here_are_refused_by_name() {
        let base = "apiVersion: spire.spiffe.io/v1alpha1\nkind: ControllerManagerConfig\ntrustDomain: example.org\nclusterName: c\n";
        for (extra, want) in [
            ("entryIDPrefixCleanup: old\n", "entryIDPrefixCleanup:"),
            ("cacheNamespaces: {a: {}}\n", "cacheNamespaces:"),
            ("leaderElection: {resourceLock: configmaps}\n", "leaderElection.resourceLock: \"configmaps\""),
            ("health: {readinessEndpointName: ready}\n", "health.readinessEndpointName: \"ready\""),
            ("typo: 1\n", "unknown field `typo`"),
        ] {
            let err = read(&format!("{base}{extra}")).unwrap_err();
            assert!(err.contains(want), "{extra:?}: {err}");
        }
        let (_, ignored) = read(&format!("{base}webhook: {{port: 9443}}\ncontroller: {{}}\nsyncPeriod: 1h\n")).unwrap();
        assert_eq!(ignored, ["syncPeriod", "controller", "webhook"]);
    }
}
