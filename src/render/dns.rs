//! DNS names of pod entries: the rendered templates, then the names of the Services whose
//! EndpointSlices point at the pod.

use std::collections::BTreeSet;

use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label EndpointSlices carry with the name of their Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The names of every Service whose EndpointSlices (ready or not) target the pod `pod_uid`:
/// `svc`, `svc.ns`, `svc.ns.svc` and, when the cluster domain is known, `svc.ns.svc.<domain>`.
/// Sorted, without duplicates.
pub fn service_dns_names<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    pod_uid: &str,
    cluster_domain: &str,
) -> Vec<String> {
    let mut names = BTreeSet::new();
    for slice in slices {
        let targets_pod = slice.endpoints.iter().flatten().any(|endpoint| {
            endpoint
                .target_ref
                .as_ref()
                .is_some_and(|r| r.kind.as_deref() == Some("Pod") && r.uid.as_deref() == Some(pod_uid))
        });
        let service = slice.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL));
        let (Some(service), Some(namespace), true) = (service, slice.metadata.namespace.as_ref(), targets_pod) else {
            continue;
        };
        names.insert(service.clone());
        names.insert(format!("{service}.{namespace}"));
        names.insert(format!("{service}.{namespace}.svc"));
        if !cluster_domain.is_empty() {
            names.insert(format!("{service}.{namespace}.svc.{cluster_domain}"));
        }
    }
    names.into_iter().collect()
}

/// Joins template-rendered names (in order, first occurrence kept) with derived names not
/// already present.
pub fn merge_dns_names(
    rendered: impl IntoIterator<Item = String>,
    derived: impl IntoIterator<Item = String>,
) -> Vec<String> {
    let mut seen = BTreeSet::new();
    rendered.into_iter().chain(derived).filter(|name| seen.insert(name.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::{
        api::{core::v1::ObjectReference, discovery::v1::Endpoint},
        apimachinery::pkg::apis::meta::v1::ObjectMeta,
    };

    fn slice(service: &str, namespace: &str, pods: &[(&str, &str)]) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                namespace: Some(namespace.into()),
                labels: Some([(SERVICE_NAME_LABEL.to_owned(), service.to_owned())].into()),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: Some(
                pods.iter()
                    .map(|(kind, uid)| Endpoint {
                        addresses: vec!["10.0.0.1".into()],
                        target_ref: Some(ObjectReference {
                            kind: Some((*kind).into()),
                            uid: Some((*uid).into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ports: None,
        }
    }

    #[test]
    fn services_targeting_the_pod_give_four_names_each() {
        let slices = [slice("web", "shop", &[("Pod", "p1")]), slice("api", "shop", &[("Pod", "p1"), ("Pod", "p2")])];
        let names = service_dns_names(&slices, "p1", "cluster.local");
        assert_eq!(
            names,
            [
                "api",
                "api.shop",
                "api.shop.svc",
                "api.shop.svc.cluster.local",
                "web",
                "web.shop",
                "web.shop.svc",
                "web.shop.svc.cluster.local"
            ]
        );
    }

    #[test]
    fn other_pods_nodes_and_unknown_domains_are_handled() {
        let slices = [slice("web", "shop", &[("Pod", "p2")]), slice("node", "shop", &[("Node", "p1")])];
        assert!(service_dns_names(&slices, "p1", "cluster.local").is_empty());
        let mine = [slice("web", "shop", &[("Pod", "p1")]), slice("web", "shop", &[("Pod", "p1")])];
        assert_eq!(
            service_dns_names(&mine, "p1", ""),
            ["web", "web.shop", "web.shop.svc"],
            "slices of one service merge"
        );
    }

    #[test]
    fn merge_keeps_template_order_and_drops_repeats() {
        let merged =
            merge_dns_names(["b".to_owned(), "a".to_owned(), "b".to_owned()], ["a".to_owned(), "c".to_owned()]);
        assert_eq!(merged, ["b", "a", "c"]);
    }
}
