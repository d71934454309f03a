//! The caches as the pure pass reads them.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use k8s_openapi::api::{core::v1::Node, discovery::v1::EndpointSlice};
use kube::runtime::reflector::ObjectRef;

use super::stores::Stores;
use crate::{pass::Inputs, pod_view::PodView};

/// The caches, as the pure pass reads them.
pub struct StoreInputs<'a> {
    stores: &'a Stores,
    pods: &'a HashMap<String, ObjectRef<PodView>>,
    /// EndpointSlices by namespace, gathered once per pass when an identity wants them.
    slices: HashMap<String, Vec<Arc<EndpointSlice>>>,
}

impl<'a> StoreInputs<'a> {
    pub fn new(stores: &'a Stores, pods: &'a HashMap<String, ObjectRef<PodView>>, want_slices: bool) -> Self {
        let mut slices: HashMap<String, Vec<Arc<EndpointSlice>>> = HashMap::new();
        if want_slices {
            for slice in stores.endpoint_slices.state() {
                slices.entry(slice.metadata.namespace.clone().unwrap_or_default()).or_default().push(slice);
            }
        }
        Self { stores, pods, slices }
    }
}

impl Inputs for StoreInputs<'_> {
    fn pod(&self, uid: &str) -> Option<Arc<PodView>> {
        self.pods.get(uid).and_then(|r| self.stores.pods.get(r))
    }

    fn node(&self, name: &str) -> Option<Arc<Node>> {
        self.stores.nodes.get(&ObjectRef::new(name))
    }

    fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.stores.namespaces.get(&ObjectRef::new(name)).map(|n| n.metadata.labels.clone().unwrap_or_default())
    }

    fn slices_in(&self, namespace: &str) -> Vec<Arc<EndpointSlice>> {
        self.slices.get(namespace).cloned().unwrap_or_default()
    }
}
