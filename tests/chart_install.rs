//! The chart installed for real with `helm install` on the testbed's API server, into
//! namespaces that enforce Pod Security `restricted`: every object it renders is created, and the
//! testbed's Deployment and ReplicaSet controllers create the operator's pods, which Pod Security
//! admits in TCP mode (the default) and refuses with a hostPath socket. No kubelet runs here, so
//! the pods stay Pending: admission is what is proven, not the pods running.

mod support;

use std::{process::Command, time::Duration};

use k8s_openapi::api::{
    apps::v1::ReplicaSet,
    core::v1::{Namespace, Pod},
};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use support::{eventually, helm, testbed, unique};

const CHART: &str = "charts/spire-steward";

/// A namespace enforcing `restricted`, deleted with what is in it when dropped.
struct Restricted {
    name: String,
    client: kube::Client,
    releases: Vec<String>,
}

impl Restricted {
    async fn new(client: &kube::Client) -> Self {
        let name = unique("install");
        let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": name, "labels": {
            "spire-steward-test": "chart-install",
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        } } }))
        .unwrap();
        Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.unwrap();
        Self { name, client: client.clone(), releases: Vec::new() }
    }

    /// `helm install --wait=false` of a release named after the namespace, with `values`.
    fn install(&mut self, values: &[&str]) -> String {
        let release = format!("s{}", &self.name[self.name.len() - 8..]);
        let kubeconfig = testbed().var("KUBECONFIG_ADMIN");
        let mut args = vec!["install", &release, CHART, "--namespace", &self.name, "--kubeconfig", kubeconfig];
        args.extend_from_slice(values);
        let out = helm(&args).output().unwrap();
        assert!(
            out.status.success(),
            "helm {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.releases.push(release.clone());
        release
    }

    async fn pods(&self, release: &str) -> Vec<Pod> {
        let selector = format!("app.kubernetes.io/instance={release}");
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.name);
        pods.list(&ListParams::default().labels(&selector)).await.unwrap().items
    }

    /// The message of a ReplicaSet's `ReplicaFailure` condition, once there is one.
    async fn replica_failure(&self, release: &str) -> Option<String> {
        let selector = format!("app.kubernetes.io/instance={release}");
        let sets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &self.name);
        let sets = sets.list(&ListParams::default().labels(&selector)).await.ok()?.items;
        sets.iter().flat_map(|s| s.status.iter().flat_map(|st| st.conditions.iter().flatten())).find_map(|c| {
            (c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True"))
                .then(|| c.message.clone().unwrap_or_default())
        })
    }
}

impl Drop for Restricted {
    fn drop(&mut self) {
        let kubeconfig = testbed().var("KUBECONFIG_ADMIN").to_owned();
        for release in &self.releases {
            let _ = helm(&["uninstall", release, "--namespace", &self.name, "--kubeconfig", &kubeconfig]).output();
        }
        let _ = Command::new(testbed().var("KUBECTL_BIN"))
            .args(["--kubeconfig", &kubeconfig, "delete", "namespace", &self.name, "--wait=false"])
            .output();
    }
}

#[tokio::test]
async fn the_default_install_passes_pod_security_restricted_and_a_hostpath_one_does_not() {
    let client = testbed().kube_admin().await;
    let mut tcp = Restricted::new(&client).await;
    let release = tcp.install(&[]);
    // Two replicas by default: both pods admitted.
    let admitted =
        eventually(Duration::from_secs(60), || async { (tcp.pods(&release).await.len() == 2).then_some(()) }).await;
    let failure = tcp.replica_failure(&release).await;
    assert!(admitted.is_some(), "the default install's pods were not created: {failure:?}");
    let pod = &tcp.pods(&release).await[0];
    let volumes = pod.spec.as_ref().unwrap().volumes.as_ref().unwrap();
    assert!(volumes.iter().any(|v| v.csi.as_ref().is_some_and(|c| c.driver == "csi.spiffe.io")), "{volumes:?}");
    assert!(volumes.iter().all(|v| v.host_path.is_none()), "{volumes:?}");

    let mut host = Restricted::new(&client).await;
    let release = host.install(&["--set", "config.spireServerAddress="]);
    let refused = eventually(Duration::from_secs(60), || async { host.replica_failure(&release).await }).await;
    let message = refused.expect("a hostPath install's pods are refused");
    assert!(message.contains("violates PodSecurity \"restricted"), "{message}");
    assert!(message.contains("hostPath"), "{message}");
    assert!(host.pods(&release).await.is_empty());
}

/// Sidecar mode installs the operator's RBAC and the values fragment for the SPIRE server's chart
/// for real; the spire-server pod that fragment describes is tested for admission in tests/chart.rs.
#[tokio::test]
async fn sidecar_mode_installs_into_a_restricted_namespace() {
    let client = testbed().kube_admin().await;
    let mut ns = Restricted::new(&client).await;
    let release = ns.install(&["--set", "sidecar.enabled=true"]);
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let fragment = maps.get(&format!("{release}-spire-steward-sidecar")).await.unwrap();
    assert!(fragment.data.unwrap_or_default().values().any(|v| v.contains("extraContainers")));
    assert!(ns.pods(&release).await.is_empty(), "sidecar mode runs no pod of its own");
    // Uninstalling leaves nothing of the release behind.
    let kubeconfig = testbed().var("KUBECONFIG_ADMIN");
    let out = helm(&["uninstall", &release, "--namespace", &ns.name, "--kubeconfig", kubeconfig]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ns.releases.clear();
    let gone = eventually(Duration::from_secs(30), || async {
        maps.get_opt(&format!("{release}-spire-steward-sidecar")).await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(gone.is_some());
}
