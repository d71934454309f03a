//! The platform owner's commands: `version` (also of the running operator), `validate` (offline,
//! every problem named by file, document and field) and `completion`.

mod support;

use std::process::Command;

use serde_json::Value;
use support::{
    eventually,
    operator::{Operator, World, free_port},
    repo_root, testbed,
};

fn steward(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spire-steward")).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn version_names_this_binary_and_the_running_operator() {
    let (code, out, _) = steward(&["version", "-o", "json"]);
    assert_eq!(code, 0);
    let client: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(client["client"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(client.get("server").is_none());
    let (_, yaml, _) = steward(&["version", "-o", "yaml"]);
    assert!(yaml.contains(&format!("version: {}", env!("CARGO_PKG_VERSION"))), "{yaml}");

    let bed = testbed();
    let world = World::new(bed).await;
    let port = free_port();
    let operator =
        Operator::start(bed, &world, &bed.spire_socket(), &format!("metrics: {{bindAddress: '127.0.0.1:{port}'}}\n"));
    let url = format!("http://127.0.0.1:{port}");
    let answered = eventually(std::time::Duration::from_secs(30), || async {
        let (code, out, _) = steward(&["version", "--server", &url]);
        (code == 0).then_some(out)
    })
    .await;
    let table = answered.unwrap_or_else(|| panic!("no server version\n{}", operator.log_text()));
    let version = env!("CARGO_PKG_VERSION");
    assert!(table.contains(&format!("client: spire-steward {version}")), "{table}");
    assert!(table.contains(&format!("server: spire-steward {version}, revision ")), "{table}");
    let (code, _, err) = steward(&["version", "--server", "https://127.0.0.1:1"]);
    assert_eq!(code, 1);
    assert!(err.contains("only http://host:port"), "{err}");
    drop(operator);
    world.clean_up().await;
}

#[test]
fn validate_names_every_problem_and_passes_good_manifests() {
    let dir = repo_root().join("target/cli-tests").join(format!("validate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("good")).unwrap();
    std::fs::create_dir_all(dir.join("bad")).unwrap();
    let good = "apiVersion: spire-steward.io/v1alpha1\nkind: ClusterSPIFFEID\nmetadata: {name: web}\n\
        spec: {spiffeIDTemplate: 'spiffe://example.org/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}'}\n\
        ---\napiVersion: spire.spiffe.io/v1alpha1\nkind: ConfigMap\nmetadata: {name: x}\n---\n\
        apiVersion: spire-steward.io/v1alpha1\nkind: ClusterStaticEntry\nmetadata: {name: db}\n\
        spec: {spiffeID: 'spiffe://example.org/db', parentID: 'spiffe://example.org/node', selectors: ['unix:uid:0']}\n\
        ---\napiVersion: spire-steward.io/v1alpha1\nkind: ClusterFederatedTrustDomain\nmetadata: {name: other}\n\
        spec: {trustDomain: other.org, bundleEndpointURL: 'https://127.0.0.1:1', bundleEndpointProfile: {type: https_web}}\n\
        ---\napiVersion: v1\nkind: Service\nmetadata: {name: svc}\n";
    std::fs::write(dir.join("good/all.yaml"), good).unwrap();
    let (code, out, err) = steward(&["validate", "-f", dir.join("good").to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 resources checked, 0 problems"), "{out}");
    assert!(err.contains("left out Service of v1"), "{err}");

    // A template that does not parse, an ID that is not a SPIFFE ID, a field of the wrong type:
    // each named, in two files.
    let bad_template = good.replace("{{ .PodSpec.ServiceAccountName }}", "{{ .PodSpec.ServiceAccountName ");
    std::fs::write(dir.join("bad/a.yaml"), bad_template.replace("spiffe://example.org/db", "https://example.org/db"))
        .unwrap();
    std::fs::write(
        dir.join("bad/b.yml"),
        "apiVersion: spire-steward.io/v1alpha1\nkind: ClusterStaticEntry\nmetadata: {name: typed}\n\
         spec: {spiffeID: 'spiffe://example.org/t', parentID: 'spiffe://example.org/n', selectors: 'unix:uid:0'}\n",
    )
    .unwrap();
    let (code, out, _) = steward(&["validate", "-f", dir.join("bad").to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let a = dir.join("bad/a.yaml").display().to_string();
    let b = dir.join("bad/b.yml").display().to_string();
    assert!(out.contains(&format!("{a}: ClusterSPIFFEID web: ")), "{out}");
    assert!(out.contains(&format!("{a}: ClusterStaticEntry db: ")), "{out}");
    assert!(out.contains(&format!("{b}: document 1: ClusterStaticEntry typed: field spec.selectors")), "{out}");
    assert!(out.contains("3 problems"), "{out}");
    let (_, json, _) = steward(&["validate", "-f", dir.join("bad").to_str().unwrap(), "-o", "json"]);
    let found: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(found["problems"].as_array().unwrap().len(), 3, "{found}");
    let (code, _, err) = steward(&["validate", "-f", dir.join("nowhere").to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn completion_scripts_know_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = steward(&["completion", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for subcommand in ["run", "plan", "report", "validate", "version", "completion", "crds"] {
            assert!(out.contains(subcommand), "{shell} completion lacks {subcommand}");
        }
    }
    let (code, _, err) = steward(&["completion", "tcsh"]);
    assert_ne!(code, 0);
    assert!(err.contains("tcsh"), "{err}");
}

#[tokio::test]
async fn check_passes_where_the_operator_can_run_and_names_what_is_missing() {
    let bed = testbed();
    let world = World::new(bed).await;
    let kubeconfig = bed.var("KUBECONFIG_OPERATOR");
    let config = Operator::write_config(bed, &world, &bed.spire_socket(), "", "check");
    let out = Command::new(env!("CARGO_BIN_EXE_spire-steward"))
        .args(["check", "--config", config.to_str().unwrap()])
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "ok   api server: answers",
        "ok   crd clusterspiffeids.spire-steward.io: v1alpha1 served",
        "ok   rbac: all",
        "ok   spire: ",
    ] {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }

    // Another Lease namespace, where the operator may not keep its state, and no SPIRE socket.
    let elsewhere = "leaderElection: {resourceName: elsewhere, resourceNamespace: kube-system}\n";
    let config =
        Operator::write_config(bed, &world, std::path::Path::new("/nonexistent/api.sock"), elsewhere, "check-bad");
    let out = Command::new(env!("CARGO_BIN_EXE_spire-steward"))
        .args(["check", "--config", config.to_str().unwrap(), "-o", "json"])
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let checks: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed: Vec<String> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| format!("{}: {}", c["name"].as_str().unwrap(), c["detail"].as_str().unwrap()))
        .collect();
    assert!(failed.iter().any(|f| f == "rbac: denied: patch configmaps elsewhere-state in kube-system"), "{failed:?}");
    assert!(failed.iter().any(|f| f.starts_with("spire: /nonexistent/api.sock: ")), "{failed:?}");
    world.clean_up().await;
}
