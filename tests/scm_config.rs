//! A spire-controller-manager v0.7.0 configuration file, as its ConfigMap holds it, runs
//! spire-steward unchanged: shared keys keep their meaning, `filterByClassName` watches only the
//! ClusterSPIFFEIDs labelled with the class, and keys that change nothing are named in the log.

mod support;

use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::{
    operator::{Operator, World, dynamic, entries},
    testbed,
};

#[tokio::test]
async fn a_spire_controller_manager_config_file_runs_as_it_is() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    world.pod("p-1", &[], Some("node")).await;
    let (labelled, unlabelled) = (world.identity_name("labelled"), world.identity_name("unlabelled"));
    for (name, labels, path) in [
        (&labelled, json!({ "spire.spiffe.io/class-name": world.class }), "labelled"),
        (&unlabelled, json!({}), "unlabelled"),
    ] {
        let mut spec = world.pod_identity_spec();
        spec["spiffeIDTemplate"] = json!(format!("spiffe://{{{{ .TrustDomain }}}}/{path}/{{{{ .PodMeta.Name }}}}"));
        let body = json!({
            "apiVersion": "spire-steward.io/v1alpha1",
            "kind": "ClusterSPIFFEID",
            "metadata": { "name": name, "labels": labels },
            "spec": spec,
        });
        dynamic(&world.client, "ClusterSPIFFEID")
            .patch(name, &PatchParams::apply("spire-steward-tests").force(), &Patch::Apply(&body))
            .await
            .unwrap();
    }
    let config = support::repo_root().join(format!("target/operator-tests/{}-scm.yaml", world.id));
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "apiVersion: spire.spiffe.io/v1alpha1\nkind: ControllerManagerConfig\n\
             metrics:\n  bindAddress: \"0\"\nhealth:\n  healthProbeBindAddress: \"0\"\n\
             leaderElection:\n  leaderElect: false\n  resourceName: {lease}\n  resourceNamespace: {ns}\n\
             validatingWebhookConfigurationName: spire-controller-manager-webhook\n\
             entryIDPrefix: {prefix}\nclusterName: test\ntrustDomain: {td}\n\
             ignoreNamespaces:\n  - kube-system\n\
             spireServerSocketPath: {socket}\nclassName: {class}\nwatchClassless: false\nfilterByClassName: true\n\
             gcInterval: 2000000000\nlogLevel: debug\n\
             reconcile:\n  clusterSPIFFEIDs: true\n  clusterFederatedTrustDomains: true\n  clusterStaticEntries: true\n",
            lease = world.lease(),
            ns = world.namespace,
            prefix = world.prefix,
            td = bed.trust_domain(),
            socket = bed.spire_socket().display(),
            class = world.class,
        ),
    )
    .unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_spire-steward"));
    command.args(["run", "--config", config.to_str().unwrap()]).env("KUBECONFIG", bed.var("KUBECONFIG_OPERATOR"));
    let operator = Operator::spawn(command, &world, "scm");

    world.wait_ready(&operator, "ClusterSPIFFEID", &labelled, ("True", "Synced")).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let stored = entries(&bed.spire(), &world.prefix).await;
    let ids: Vec<&str> = stored.iter().map(|e| e.spiffe_id.path()).collect();
    assert_eq!(ids, ["/labelled/p-1"], "only the labelled identity is watched\nlog:\n{}", operator.log_text());
    assert!(world.status("ClusterSPIFFEID", &unlabelled).await.is_null(), "the unlabelled one is never seen");
    let log = operator.log_text();
    assert!(
        log.contains("read a spire-controller-manager configuration file")
            && log.contains("validatingWebhookConfigurationName"),
        "{log}"
    );
    world.clean_up().await;
}
