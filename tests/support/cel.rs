//! Objects the CEL tests send to the API server, and the refusal it answers with.

use kube::{
    Client,
    api::{Api, DynamicObject, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};

use super::unique;

pub fn api_for(client: &Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("spire-steward.io", "v1alpha1", kind);
    Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk))
}

pub fn object(kind: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "spire-steward.io/v1alpha1",
        "kind": kind,
        "metadata": { "name": unique("cel") },
        "spec": spec,
    }))
    .unwrap()
}

/// Creates `obj` as a dry run and returns the API server's refusal message, if any.
pub async fn refusal(client: &Client, kind: &str, spec: Value) -> Option<String> {
    let params = PostParams { dry_run: true, ..Default::default() };
    match api_for(client, kind).create(&params, &object(kind, spec.clone())).await {
        Ok(_) => None,
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            offline_agrees(kind, &spec, &status.message);
            Some(status.message)
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// `spire-steward validate` refuses, offline, what the API server refused.
fn offline_agrees(kind: &str, spec: &Value, message: &str) {
    let dir = std::env::temp_dir().join(unique("parity"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("m.yaml");
    let name = if kind == "SPIFFEID" { json!({"name": "x", "namespace": "ns"}) } else { json!({"name": "x"}) };
    let doc = json!({"apiVersion": "spire-steward.io/v1alpha1", "kind": kind, "metadata": name, "spec": spec});
    std::fs::write(&file, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spire-steward"))
        .args(["validate", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success(), "validate accepts the {kind} the API server refuses: {message}");
}
