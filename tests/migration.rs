//! The migration from spire-controller-manager, as the README's guide tells it, against a real
//! spire-controller-manager v0.7.0 (built from the Go module proxy by hack/tools/build-scm.sh):
//! its entries are adopted in place by spire-steward, with the same entry IDs and no delete or
//! re-create, from manifests ported by apiVersion alone.

mod support;

use std::{path::PathBuf, process::Command, time::Duration};

use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use spire_steward::spiffe::Entry;
use support::{
    audit::AuditLog,
    eventually,
    operator::{Operator, World, entries},
    repo_root, testbed,
};

const WAIT: Duration = Duration::from_secs(60);

/// spire-controller-manager's build directory: the binary and its CRDs.
fn scm() -> PathBuf {
    let out = Command::new(repo_root().join("hack/tools/build-scm.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("running hack/tools/build-scm.sh");
    assert!(out.status.success(), "hack/tools/build-scm.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Applies spire-controller-manager's CRDs (group spire.spiffe.io) to the testbed.
fn install_scm_crds(dir: &std::path::Path) {
    let bed = testbed();
    let out = Command::new(bed.var("KUBECTL_BIN"))
        .args(["--kubeconfig", bed.var("KUBECONFIG"), "apply", "--server-side", "--force-conflicts", "-f"])
        .arg(dir.join("crds"))
        .output()
        .unwrap();
    assert!(out.status.success(), "installing its CRDs: {}", String::from_utf8_lossy(&out.stderr));
}

/// A spire.spiffe.io (spire-controller-manager) or spire-steward.io object, applied.
async fn apply(world: &World, group: &str, name: &str, spec: &Value) {
    let gvk = kube::core::GroupVersionKind::gvk(group, "v1alpha1", "ClusterSPIFFEID");
    let api: kube::Api<DynamicObject> =
        kube::Api::all_with(world.client.clone(), &kube::core::ApiResource::from_gvk(&gvk));
    let body = json!({
        "apiVersion": format!("{group}/v1alpha1"),
        "kind": "ClusterSPIFFEID",
        "metadata": { "name": name },
        "spec": spec,
    });
    // The CRD may take a moment to be served after it is created.
    let applied = eventually(Duration::from_secs(20), || async {
        api.patch(name, &PatchParams::apply("spire-steward-tests").force(), &Patch::Apply(&body)).await.ok()
    })
    .await;
    assert!(applied.is_some(), "applying the {group} ClusterSPIFFEID");
}

fn by_id(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    entries
}

#[tokio::test]
async fn entries_of_spire_controller_manager_are_adopted_in_place() {
    let bed = testbed();
    let dir = scm();
    install_scm_crds(&dir);
    let mut world = World::new(bed).await;
    world.node("node").await;
    world.pod("p-1", &[], Some("node")).await;
    world.pod("p-2", &[], Some("node")).await;
    let name = world.identity_name("legacy");
    // The manifest as it was written for spire-controller-manager.
    let spec = json!({
        "className": world.class,
        "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/pod/{{ .PodMeta.Name }}",
        "namespaceSelector": world.namespace_selector(),
        "dnsNameTemplates": ["{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}.svc"],
    });
    apply(&world, "spire.spiffe.io", &name, &spec).await;

    // spire-controller-manager runs with its own prefix and writes the pods' entries.
    let old_prefix = format!("scm_{}", world.prefix);
    let config = repo_root().join(format!("target/operator-tests/{}-scm-peer.yaml", world.id));
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "apiVersion: spire.spiffe.io/v1alpha1\nkind: ControllerManagerConfig\n\
             metrics:\n  bindAddress: \"0\"\nhealth:\n  healthProbeBindAddress: \"\"\n\
             entryIDPrefix: {old_prefix}\nclusterName: test\ntrustDomain: {td}\n\
             spireServerSocketPath: {socket}\nclassName: {class}\ngcInterval: 1000000000\n\
             reconcile:\n  clusterSPIFFEIDs: true\n",
            td = bed.trust_domain(),
            socket = bed.spire_socket().display(),
            class = world.class,
        ),
    )
    .unwrap();
    let mut peer = Command::new(dir.join("spire-controller-manager"));
    peer.arg("--config").arg(&config).env("ENABLE_WEBHOOKS", "false").env("KUBECONFIG", bed.var("KUBECONFIG"));
    let mut peer = Operator::spawn(peer, &world, "scm-peer");
    let spire = bed.spire();
    let written = eventually(WAIT, || async {
        let all = entries(&spire, &old_prefix).await;
        (all.len() == 2).then_some(all)
    })
    .await
    .unwrap_or_else(|| panic!("spire-controller-manager wrote no entries\nlog:\n{}", peer.log_text()));
    let written = by_id(written);
    assert!(written.iter().all(|e| e.id.as_ref().unwrap().as_str().starts_with(&format!("{old_prefix}."))));
    peer.stop();

    // The migration: the manifest ported by apiVersion, spire-steward adopting the old prefix.
    apply(&world, "spire-steward.io", &name, &spec).await;
    let audit = AuditLog::new(&world);
    let extra = format!("adoptEntryIDPrefixes: [{old_prefix}]\n{}", audit.config());
    let operator = Operator::start(bed, &world, &bed.spire_socket(), &extra);
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let adopted = by_id(entries(&spire, &old_prefix).await);
    assert_eq!(adopted, written, "the same entries, unchanged (IDs, fields and revision numbers)");
    assert!(entries(&spire, &world.prefix).await.is_empty(), "nothing created under the new prefix");
    let writes = audit.records();
    assert!(writes.is_empty(), "no create, update or delete: {writes:#?}");
    let status = world.status("ClusterSPIFFEID", &name).await;
    assert_eq!(status["stats"]["entriesToSet"], 2, "{status:#}");

    // Adopted for real: the entries are spire-steward's to delete now.
    let now_gone = kube::api::DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    world.pods().delete("p-2", &now_gone).await.unwrap();
    let left = eventually(WAIT, || async {
        let all = entries(&spire, &old_prefix).await;
        (all.len() == 1).then_some(all)
    })
    .await;
    assert!(left.is_some(), "the adopted entry of a deleted pod stayed\nlog:\n{}", operator.log_text());
    let deleted = audit.matching(|r| r["action"] == "delete");
    assert_eq!(deleted.len(), 1, "{deleted:#?}");
    let id = deleted[0]["entryID"].as_str().unwrap();
    assert!(written.iter().any(|e| e.id.as_ref().unwrap().as_str() == id), "{id} is one of the adopted entries");
    assert_eq!((deleted[0]["outcome"].as_str(), deleted[0]["reason"].as_str()), (Some("success"), Some("pod-deleted")));
    world.clean_up().await;
}
