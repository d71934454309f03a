//! Reflector caches of everything rendering needs, fed by watches that also queue changes.
//!
//! Cached pods and nodes keep only what templates and selection read: managed fields, most of
//! the status and annotations of last-applied configuration are dropped as objects arrive.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::{
    core::v1::{Namespace, Node, Pod},
    discovery::v1::EndpointSlice,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{WatchStreamExt, reflector, reflector::Store, watcher},
};
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;

use super::change::{Change, ChangeQueue};
use crate::api::v1alpha1::{ClusterFederatedTrustDomain, ClusterSPIFFEID, ClusterStaticEntry};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Read-only views of the caches.
#[derive(Clone)]
pub struct Stores {
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
    pub namespaces: Store<Namespace>,
    pub endpoint_slices: Store<EndpointSlice>,
    pub identities: Store<ClusterSPIFFEID>,
    pub static_entries: Store<ClusterStaticEntry>,
    pub federations: Store<ClusterFederatedTrustDomain>,
}

impl Stores {
    /// Waits until every cache holds its first full listing.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.pods.wait_until_ready().await?;
        self.nodes.wait_until_ready().await?;
        self.namespaces.wait_until_ready().await?;
        self.endpoint_slices.wait_until_ready().await?;
        self.identities.wait_until_ready().await?;
        self.static_entries.wait_until_ready().await?;
        self.federations.wait_until_ready().await
    }
}

fn strip_metadata<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// Drops what neither templates nor selection read: the status, and the parts of the spec that
/// templates cannot reach (volumes, scheduling constraints, container environments, ports,
/// probes and resources). A pod's cached form is a fraction of what the API server sends.
fn strip_pod(pod: &mut Pod) {
    pod.status = None;
    let Some(spec) = pod.spec.as_mut() else { return };
    spec.volumes = None;
    spec.ephemeral_containers = None;
    spec.image_pull_secrets = None;
    spec.affinity = None;
    spec.tolerations = None;
    spec.host_aliases = None;
    spec.dns_config = None;
    spec.readiness_gates = None;
    spec.overhead = None;
    spec.topology_spread_constraints = None;
    spec.os = None;
    spec.scheduling_gates = None;
    spec.resource_claims = None;
    spec.resources = None;
    for container in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        container.env = None;
        container.env_from = None;
        container.ports = None;
        container.resources = None;
        container.resize_policy = None;
        container.volume_mounts = None;
        container.volume_devices = None;
        container.liveness_probe = None;
        container.readiness_probe = None;
        container.startup_probe = None;
        container.lifecycle = None;
    }
}

/// Starts a watch that fills a cache and reports each touched object to `on_change`.
fn watch<K>(
    tasks: &mut JoinSet<()>,
    api: Api<K>,
    queue: Arc<ChangeQueue>,
    modify: impl FnMut(&mut K) + Send + 'static,
    on_change: impl Fn(&K, &ChangeQueue) + Send + 'static,
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(modify)
        .reflect(writer)
        .touched_objects();
    tasks.spawn(drive(stream, queue, on_change));
    reader
}

async fn drive<K>(
    stream: impl Stream<Item = Result<K, watcher::Error>> + Send,
    queue: Arc<ChangeQueue>,
    on_change: impl Fn(&K, &ChangeQueue) + Send,
) where
    K: Resource,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(object) => on_change(&object, &queue),
            Err(e) => tracing::warn!(error = %e, "watch failed; retrying with backoff"),
        }
    }
}

/// Starts every watch. The returned tasks run until the process stops.
pub fn start(client: &Client, queue: Arc<ChangeQueue>, tasks: &mut JoinSet<()>) -> Stores {
    let pods = watch(
        tasks,
        Api::<Pod>::all(client.clone()),
        queue.clone(),
        |pod: &mut Pod| {
            strip_metadata(pod);
            strip_pod(pod);
        },
        |pod, queue| {
            queue.push(Change::Pod {
                uid: pod.uid().unwrap_or_default(),
                namespace: pod.namespace().unwrap_or_default(),
                name: pod.name_any(),
            })
        },
    );
    let nodes = watch(
        tasks,
        Api::<Node>::all(client.clone()),
        queue.clone(),
        |node: &mut Node| {
            strip_metadata(node);
            node.status = None;
        },
        |node, queue| queue.push(Change::Node(node.name_any())),
    );
    let namespaces = watch(
        tasks,
        Api::<Namespace>::all(client.clone()),
        queue.clone(),
        |ns: &mut Namespace| strip_metadata(ns),
        |ns, queue| queue.push(Change::Namespace(ns.name_any())),
    );
    let endpoint_slices = watch(
        tasks,
        Api::<EndpointSlice>::all(client.clone()),
        queue.clone(),
        |slice: &mut EndpointSlice| strip_metadata(slice),
        |slice, queue| {
            let pods: Vec<String> = slice
                .endpoints
                .iter()
                .flatten()
                .filter_map(|e| e.target_ref.as_ref())
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .filter_map(|r| r.uid.clone())
                .collect();
            if !pods.is_empty() {
                queue.push(Change::Endpoints(pods));
            }
        },
    );
    let identities = watch(
        tasks,
        Api::<ClusterSPIFFEID>::all(client.clone()),
        queue.clone(),
        |o: &mut ClusterSPIFFEID| strip_metadata(o),
        |o, queue| queue.push(Change::Identity(o.uid().unwrap_or_default())),
    );
    let static_entries = watch(
        tasks,
        Api::<ClusterStaticEntry>::all(client.clone()),
        queue.clone(),
        |o: &mut ClusterStaticEntry| strip_metadata(o),
        |_, queue| queue.push(Change::StaticEntries),
    );
    let federations = watch(
        tasks,
        Api::<ClusterFederatedTrustDomain>::all(client.clone()),
        queue,
        |o: &mut ClusterFederatedTrustDomain| strip_metadata(o),
        |_, queue| queue.push(Change::Federation),
    );
    Stores { pods, nodes, namespaces, endpoint_slices, identities, static_entries, federations }
}
