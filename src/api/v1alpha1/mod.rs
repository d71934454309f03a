//! Version `v1alpha1` of the `spire-steward.io` API group.

// Repeated `printcolumn(...)` and `validation = ...` arguments are how kube-derive takes lists.
#![allow(clippy::duplicated_attributes)]

mod cluster_federated_trust_domain;
mod cluster_spiffe_id;
mod cluster_static_entry;
mod common;
mod identity_exception;
mod identity_policy;
mod spiffe_id;
mod ttl_status;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use cluster_federated_trust_domain::{
    BundleEndpointProfile, BundleEndpointProfileType, ClusterFederatedTrustDomain, ClusterFederatedTrustDomainSpec,
    ClusterFederatedTrustDomainStatus,
};
pub use cluster_spiffe_id::{ClusterSPIFFEID, ClusterSPIFFEIDSpec, ClusterSPIFFEIDStats, ClusterSPIFFEIDStatus};
pub use cluster_static_entry::{ClusterStaticEntry, ClusterStaticEntrySpec, ClusterStaticEntryStatus};
pub use common::{CommonStatus, DriftPolicy, Owner};
pub use identity_exception::{
    ExceptionRelaxations, ExceptionTarget, IdentityException, IdentityExceptionSpec, IdentityExceptionStatus,
};
pub use identity_policy::{
    Enforcement, IdentityKind, IdentityPolicy, IdentityPolicySpec, IdentityPolicyStatus, JwtBounds, Permission,
    PolicyMatch, PrivilegeRules, SpiffeIdRules, TtlAction, TtlPolicy, X509Bounds,
};
pub use spiffe_id::{SPIFFEID, SPIFFEIDSpec};
pub use ttl_status::{TtlReport, TtlStatus};

/// The API group of every spire-steward resource.
pub const GROUP: &str = "spire-steward.io";
/// The API version this module describes.
pub const VERSION: &str = "v1alpha1";
/// The category every spire-steward resource belongs to (`kubectl get spire-steward`).
pub const CATEGORY: &str = "spire-steward";

/// Every CustomResourceDefinition of this version, in a stable order, its field descriptions
/// unwrapped (see [`unwrap_description`]).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        ClusterSPIFFEID::crd(),
        SPIFFEID::crd(),
        ClusterStaticEntry::crd(),
        ClusterFederatedTrustDomain::crd(),
        IdentityPolicy::crd(),
        IdentityException::crd(),
    ]
    .into_iter()
    .map(|crd| {
        let mut value = serde_json::to_value(crd).expect("a CRD serialises");
        unwrap_descriptions(&mut value);
        serde_json::from_value(value).expect("a CRD reads back")
    })
    .collect()
}

fn unwrap_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    serde_json::Value::String(text) if key == "description" => *text = unwrap_description(text),
                    _ => unwrap_descriptions(item),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// A doc comment as `kubectl explain` should show it: the line breaks of the source joined
/// into spaces within a paragraph, while paragraphs (a blank line) and list items (a line
/// starting with `- `, `* ` or `1. `) keep their own lines.
pub fn unwrap_description(text: &str) -> String {
    let is_item = |line: &str| {
        let line = line.trim_start();
        line.starts_with("- ")
            || line.starts_with("* ")
            || line.split_once(". ").is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    text.split("\n\n")
        .map(|paragraph| {
            let mut out = String::new();
            for line in paragraph.lines() {
                if out.is_empty() {
                    out.push_str(line.trim_end());
                } else if is_item(line) {
                    out.push('\n');
                    out.push_str(line.trim_end());
                } else {
                    out.push(' ');
                    out.push_str(line.trim());
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_paragraphs_and_list_items_and_join_the_rest() {
        assert_eq!(unwrap_description("One sentence\nwrapped in the source."), "One sentence wrapped in the source.");
        assert_eq!(unwrap_description("First.\n\nSecond\nparagraph."), "First.\n\nSecond paragraph.");
        assert_eq!(
            unwrap_description("Values:\n- `A`: the first\n  wrapped.\n- `B`\n1. one"),
            "Values:\n- `A`: the first wrapped.\n- `B`\n1. one"
        );
    }

    #[test]
    fn no_description_breaks_a_sentence() {
        for crd in crds() {
            let text = serde_json::to_string(&crd).unwrap();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut broken = Vec::new();
            find_breaks(&value, &mut broken);
            assert!(broken.is_empty(), "{}: {broken:?}", crd.metadata.name.unwrap_or_default());
        }
    }

    /// A break inside a paragraph: a line that follows a non-empty line and is not an item.
    fn has_inner_break(text: &str) -> bool {
        text.split("\n\n").any(|p| {
            p.split('\n').skip(1).any(|line| {
                let line = line.trim_start();
                !(line.starts_with("- ") || line.starts_with("* ") || line.starts_with(|c: char| c.is_ascii_digit()))
            })
        })
    }

    fn find_breaks(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    if let (true, Some(text)) = (key == "description", item.as_str()) {
                        if has_inner_break(text) {
                            out.push(text.to_owned());
                        }
                    } else {
                        find_breaks(item, out);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| find_breaks(i, out)),
            _ => {}
        }
    }
}
