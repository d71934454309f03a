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
    match api_for(client, kind).create(&params, &object(kind, spec)).await {
        Ok(_) => None,
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            Some(status.message)
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}
