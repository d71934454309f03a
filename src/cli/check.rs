//! `spire-steward check`: whether this configuration can run here, one line per check, as
//! `cmctl check api` does. The API server answers; the CRDs are installed and serve this
//! binary's version (and carry its schema); every call the operator makes is allowed, asked by
//! SelfSubjectAccessReview as the identity the kubeconfig names; SPIRE answers and takes the
//! operator as an admin. The configuration itself was valid, or the command would not have got
//! this far.

use k8s_openapi::{
    api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{Api, api::PostParams};
use serde::Serialize;

use crate::{
    api::v1alpha1::{self, GROUP, VERSION},
    config::Config,
    spire::SpireClient,
};

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<4} {}: {}", if self.ok { "ok" } else { "FAIL" }, self.name, self.detail)
    }
}

/// One call the operator makes: a verb on a resource, in a namespace or cluster-wide, by name
/// or on all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() { String::new() } else { format!(".{}", self.group) };
        let sub = self.subresource.map(|s| format!("/{s}")).unwrap_or_default();
        let name = self.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
        let at = self.namespace.as_deref().map_or("cluster-wide".to_owned(), |ns| format!("in {ns}"));
        write!(f, "{} {}{group}{sub}{name} {at}", self.verb, self.resource)
    }
}

fn call(verb: &'static str, group: &'static str, resource: &'static str) -> Call {
    Call { verb, group, resource, subresource: None, namespace: None, name: None }
}

/// The custom resources' plural names.
const CUSTOM_RESOURCES: [&str; 6] = [
    "clusterspiffeids",
    "spiffeids",
    "clusterstaticentries",
    "clusterfederatedtrustdomains",
    "identitypolicies",
    "identityexceptions",
];

/// Every call the operator makes with `config`: the watches, the status and finalizer writes,
/// Events, the Lease, the state ConfigMap and, when switched on, the OpenReports objects.
pub fn calls(config: &Config) -> Vec<Call> {
    let mut calls = Vec::new();
    for verb in ["get", "list", "watch"] {
        for resource in ["pods", "nodes", "namespaces"] {
            calls.push(call(verb, "", resource));
        }
        calls.push(call(verb, "discovery.k8s.io", "endpointslices"));
        for resource in CUSTOM_RESOURCES {
            calls.push(call(verb, GROUP, resource));
        }
    }
    for resource in CUSTOM_RESOURCES {
        calls.push(Call { subresource: Some("status"), ..call("patch", GROUP, resource) });
    }
    calls.push(call("patch", GROUP, "clusterfederatedtrustdomains"));
    let namespace = crate::lease::namespace_of(&config.leader_election);
    // Events about cluster-scoped objects go to "default", about a SPIFFEID to its namespace.
    for verb in ["create", "patch"] {
        calls.push(call(verb, "events.k8s.io", "events"));
    }
    if config.leader_election.enabled {
        let lease = Some(config.leader_election.lease_name.clone());
        calls.push(Call { namespace: Some(namespace.clone()), ..call("create", "coordination.k8s.io", "leases") });
        for verb in ["get", "update"] {
            let lease = Call {
                namespace: Some(namespace.clone()),
                name: lease.clone(),
                ..call(verb, "coordination.k8s.io", "leases")
            };
            calls.push(lease);
        }
    }
    let state = Some(format!("{}-state", config.leader_election.lease_name));
    // Created by a server-side apply to its name, so create is asked by name too.
    for verb in ["get", "list", "watch", "patch", "create"] {
        calls.push(Call { namespace: Some(namespace.clone()), name: state.clone(), ..call(verb, "", "configmaps") });
    }
    if config.open_reports.enabled {
        for verb in ["list", "create", "patch", "delete"] {
            calls.push(call(verb, "openreports.io", "reports"));
            calls.push(call(verb, "openreports.io", "clusterreports"));
        }
    }
    calls
}

/// Runs every check.
pub async fn run(client: &kube::Client, config: &Config) -> Vec<Check> {
    let mut checks = vec![Check { name: "configuration".into(), ok: true, detail: "valid".into() }];
    if config.leader_election.lease_namespace.is_none() {
        let namespace = crate::lease::namespace_of(&config.leader_election);
        checks.push(Check {
            name: "lease namespace".into(),
            ok: true,
            detail: format!(
                "leaderElection.resourceNamespace is not set: the Lease and state ConfigMap are checked in {namespace:?}, \
                 where the operator runs (POD_NAMESPACE) decides in the cluster"
            ),
        });
    }
    match client.apiserver_version().await {
        Ok(v) => {
            checks.push(Check { name: "api server".into(), ok: true, detail: format!("answers, {}", v.git_version) })
        }
        Err(e) => {
            checks.push(Check { name: "api server".into(), ok: false, detail: e.to_string() });
            checks.push(spire(config).await);
            return checks;
        }
    }
    checks.extend(crds(client).await);
    checks.extend(access(client, config).await);
    checks.push(spire(config).await);
    checks
}

/// Each CRD: served at this version (by API discovery, which every identity may read), and its
/// schema compared with this binary's where the identity may read CRDs (the operator's own may
/// not, and need not).
async fn crds(client: &kube::Client) -> Vec<Check> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let served: Option<Vec<String>> = client
        .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
        .await
        .ok()
        .map(|list| list.resources.into_iter().map(|r| r.name).collect());
    let mut checks = Vec::new();
    for wanted in v1alpha1::crds() {
        let name = wanted.metadata.name.clone().unwrap_or_default();
        let check = |ok, detail: String| Check { name: format!("crd {name}"), ok, detail };
        let plural = &wanted.spec.names.plural;
        if !served.as_ref().is_some_and(|s| s.contains(plural)) {
            checks.push(check(false, format!("{GROUP}/{VERSION} {plural} is not served (kubectl apply -f crds/)")));
            continue;
        }
        checks.push(match api.get_opt(&name).await {
            Ok(None) => check(false, "not installed (kubectl apply -f crds/)".into()),
            Err(kube::Error::Api(e)) if e.code == 403 => {
                check(true, format!("{VERSION} served (schema not compared: this identity may not read CRDs)"))
            }
            Err(e) => check(false, e.to_string()),
            Ok(Some(installed)) => {
                let version = installed.spec.versions.iter().find(|v| v.name == VERSION);
                match version {
                    Some(v) if v.served => {
                        let schema = |crd: &CustomResourceDefinition| {
                            crd.spec.versions.iter().find(|v| v.name == VERSION).and_then(|v| {
                                serde_json::to_value(v.schema.as_ref()?.open_api_v3_schema.as_ref()?).ok()
                            })
                        };
                        if schema(&installed) == schema(&wanted) {
                            check(true, format!("{VERSION} served, schema as this binary's"))
                        } else {
                            check(
                                false,
                                format!(
                                    "{VERSION} served, but its schema is not this binary's: apply crds/ of this version"
                                ),
                            )
                        }
                    }
                    _ => check(false, format!("{VERSION} is not served")),
                }
            }
        });
    }
    checks
}

async fn access(client: &kube::Client, config: &Config) -> Vec<Check> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut denied = Vec::new();
    let calls = calls(config);
    for c in &calls {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(c.verb.into()),
                    group: Some(c.group.into()),
                    resource: Some(c.resource.into()),
                    subresource: c.subresource.map(Into::into),
                    namespace: c.namespace.clone(),
                    name: c.name.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &review).await {
            Ok(answer) if answer.status.as_ref().is_some_and(|s| s.allowed) => {}
            Ok(_) => denied.push(c.to_string()),
            Err(e) => denied.push(format!("{c} (not asked: {e})")),
        }
    }
    if denied.is_empty() {
        vec![Check {
            name: "rbac".into(),
            ok: true,
            detail: format!("all {} calls the operator makes are allowed", calls.len()),
        }]
    } else {
        denied.into_iter().map(|d| Check { name: "rbac".into(), ok: false, detail: format!("denied: {d}") }).collect()
    }
}

/// Static manifest mode needs no Kubernetes API: the configuration and SPIRE only.
pub async fn run_static(config: &Config) -> Vec<Check> {
    vec![
        Check {
            name: "configuration".into(),
            ok: true,
            detail: "valid (static manifest mode: no Kubernetes API)".into(),
        },
        spire(config).await,
    ]
}

async fn spire(config: &Config) -> Check {
    let spire = SpireClient::new(config.spire_client());
    let server = config.spire_server();
    let check = |ok, detail: String| Check { name: "spire".into(), ok, detail: format!("{server}: {detail}") };
    if let Err(e) = spire.wait_for_svid(std::time::Duration::from_secs(30)).await {
        return check(false, e.to_string());
    }
    if let Err(e) = spire.get_bundle().await {
        return check(false, e.to_string());
    }
    match spire.list_entries_lenient(&Default::default(), 1).await {
        Ok(_) => check(true, "answers and takes the operator as an admin".into()),
        Err(e) => check(false, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "trustDomain: example.org\nclusterName: c\nleaderElection: {{resourceName: l, resourceNamespace: ns{extra}}}\n"
        );
        serde_yaml_ng::from_str::<crate::config::File>(&text).unwrap().validate().unwrap()
    }

    #[test]
    fn the_calls_follow_the_configuration() {
        let plain: Vec<String> = calls(&config("")).iter().map(ToString::to_string).collect();
        assert!(plain.contains(&"watch pods cluster-wide".to_owned()), "{plain:?}");
        assert!(plain.contains(&"create events.events.k8s.io cluster-wide".to_owned()), "{plain:?}");
        assert!(plain.contains(&"patch clusterspiffeids.spire-steward.io/status cluster-wide".to_owned()));
        assert!(plain.contains(&"patch configmaps l-state in ns".to_owned()), "{plain:?}");
        assert!(!plain.iter().any(|c| c.contains("leases")), "no election, no Lease");
        let elected: Vec<String> = calls(&config(", leaderElect: true")).iter().map(ToString::to_string).collect();
        assert!(elected.contains(&"update leases.coordination.k8s.io l in ns".to_owned()), "{elected:?}");
    }
}
