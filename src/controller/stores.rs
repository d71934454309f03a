//! Reflector caches of everything rendering needs, fed by watches that also queue changes.
//!
//! Cached objects keep only what templates and selection read: pods are cached as a
//! [`PodView`], and other objects lose their managed fields and last-applied annotations (nodes
//! their status too) as they arrive.

use std::sync::Arc;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::{
    core::v1::{ConfigMap, Namespace, Node, Pod},
    discovery::v1::EndpointSlice,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{WatchStreamExt, reflector, reflector::Store, watcher},
};
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;

use super::{
    change::{Change, ChangeQueue, Watched},
    guard::{Guarded, Unreadable},
};
use crate::{
    api::v1alpha1::{
        ClusterFederatedTrustDomain, ClusterSPIFFEID, ClusterStaticEntry, IdentityException, IdentityPolicy, SPIFFEID,
    },
    pod_view::PodView,
};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Read-only views of the caches. The operator's own resources are cached behind a
/// [`Guarded`], so that one object that does not parse (a status another client wrote
/// in a form the types refuse, say) is reported instead of stalling its watch.
#[derive(Clone)]
pub struct Stores {
    pub pods: Store<PodView>,
    pub nodes: Store<Node>,
    pub namespaces: Store<Namespace>,
    pub endpoint_slices: Store<EndpointSlice>,
    identities: Store<Guarded<ClusterSPIFFEID>>,
    tenant_identities: Store<Guarded<SPIFFEID>>,
    static_entries: Store<Guarded<ClusterStaticEntry>>,
    federations: Store<Guarded<ClusterFederatedTrustDomain>>,
    policies: Store<Guarded<IdentityPolicy>>,
    exceptions: Store<Guarded<IdentityException>>,
    /// The instance's state ConfigMap, the one object of its watch.
    pub state: Store<ConfigMap>,
}

/// The cached objects of one kind: those that parse, and those that do not.
pub struct Readable<K> {
    pub objects: Vec<Arc<K>>,
    pub unreadable: Vec<Unreadable>,
}

impl<K> Readable<K> {
    /// The objects that do not parse and that this instance handles by their `spec.className`
    /// (one whose class cannot be read is judged as a classless object).
    pub fn unreadable_handled<'a>(&'a self, config: &'a crate::config::Config) -> impl Iterator<Item = &'a Unreadable> {
        self.unreadable.iter().filter(|u| {
            crate::selection::handles_class(
                u.class_name.as_deref(),
                config.class_name.as_deref(),
                config.watch_classless,
            )
        })
    }
}

fn readable<K: Resource<DynamicType = ()> + Clone>(store: &Store<Guarded<K>>) -> Readable<K> {
    let mut out = Readable { objects: Vec::new(), unreadable: Vec::new() };
    for guard in store.state() {
        match &guard.0 {
            Ok(object) => out.objects.push(Arc::new(object.clone())),
            Err(invalid) => out.unreadable.push(invalid.clone()),
        }
    }
    out
}

impl Stores {
    pub fn identities(&self) -> Readable<ClusterSPIFFEID> {
        readable(&self.identities)
    }

    pub fn tenant_identities(&self) -> Readable<SPIFFEID> {
        readable(&self.tenant_identities)
    }

    pub fn static_entries(&self) -> Readable<ClusterStaticEntry> {
        readable(&self.static_entries)
    }

    pub fn federations(&self) -> Readable<ClusterFederatedTrustDomain> {
        readable(&self.federations)
    }

    pub fn policies(&self) -> Readable<IdentityPolicy> {
        readable(&self.policies)
    }

    pub fn exceptions(&self) -> Readable<IdentityException> {
        readable(&self.exceptions)
    }

    /// Waits until every cache holds its first full listing.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.pods.wait_until_ready().await?;
        self.nodes.wait_until_ready().await?;
        self.namespaces.wait_until_ready().await?;
        self.endpoint_slices.wait_until_ready().await?;
        self.identities.wait_until_ready().await?;
        self.tenant_identities.wait_until_ready().await?;
        self.static_entries.wait_until_ready().await?;
        self.policies.wait_until_ready().await?;
        self.exceptions.wait_until_ready().await?;
        self.state.wait_until_ready().await?;
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

/// Starts a watch that fills a cache with the objects `keep` makes of what the API server sends.
/// Each object applied or deleted is reported to `on_change`; each completed (re-)listing to
/// `on_relist`, once the new listing has replaced the cache, since a re-list after a watch
/// expired or the API server came back sends no event for objects that went meanwhile.
fn watch<K, V>(
    tasks: &mut JoinSet<()>,
    api: Api<K>,
    queue: Arc<ChangeQueue>,
    keep: impl FnMut(K) -> V + Send + 'static,
    on_change: impl Fn(&V, &ChangeQueue) + Send + 'static,
    relisted: Change,
) -> Store<V>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    V: Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    V::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    watch_with(tasks, api, watcher::Config::default(), queue, keep, on_change, relisted, Filter::Every)
}

/// [`watch`], with the watch's own configuration (a field or label selector, say), passing on
/// only the events `filter` lets through.
#[allow(clippy::too_many_arguments)]
fn watch_with<K, V>(
    tasks: &mut JoinSet<()>,
    api: Api<K>,
    config: watcher::Config,
    queue: Arc<ChangeQueue>,
    mut keep: impl FnMut(K) -> V + Send + 'static,
    on_change: impl Fn(&V, &ChangeQueue) + Send + 'static,
    relisted: Change,
    filter: Filter<V>,
) -> Store<V>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    V: Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    V::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config.any_semantic())
        .default_backoff()
        .map_ok(move |event| match event {
            watcher::Event::Apply(o) => watcher::Event::Apply(keep(o)),
            watcher::Event::Delete(o) => watcher::Event::Delete(keep(o)),
            watcher::Event::Init => watcher::Event::Init,
            watcher::Event::InitApply(o) => watcher::Event::InitApply(keep(o)),
            watcher::Event::InitDone => watcher::Event::InitDone,
        })
        .reflect(writer);
    tasks.spawn(drive(stream, queue, on_change, relisted, filter));
    reader
}

/// Keeps an object without its managed fields and last-applied annotation.
fn stripped<K: Resource>(mut object: K) -> K {
    strip_metadata(&mut object);
    object
}

/// What of an object's metadata changes what the operator does with it: a write that changes
/// none of it (the operator's own status write coming back) plans nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Meaning {
    generation: Option<i64>,
    deleting: bool,
    finalizers: Vec<String>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    /// A confirmation of held deletions (the `spire-steward.io/confirm-deletions` annotation).
    confirmation: Option<String>,
    /// Whether the object parses: an object that stops or starts parsing is a change.
    readable: bool,
}

impl Meaning {
    fn of<K: Resource>(object: &K, readable: bool) -> Self {
        let meta = object.meta();
        Self {
            readable,
            generation: meta.generation,
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            labels: meta.labels.clone(),
            confirmation: meta.annotations.as_ref().and_then(|a| a.get(crate::breaker::CONFIRM_ANNOTATION)).cloned(),
        }
    }
}

/// Which watch events reach the worker.
enum Filter<K> {
    /// Every applied or deleted object.
    Every,
    /// Only objects whose [`Meaning`] changed, with whether an object parses: for kinds with a
    /// spec and a status subresource.
    Meaningful(fn(&K) -> bool),
}

impl<K> Filter<K> {
    /// The meaning of an object, when the filter looks at it.
    fn meaning(&self, object: &K) -> Option<Meaning>
    where
        K: Resource,
    {
        match self {
            Filter::Every => None,
            Filter::Meaningful(readable) => Some(Meaning::of(object, readable(object))),
        }
    }
}

/// Whether a guarded object parses.
fn parses<K>(object: &Guarded<K>) -> bool {
    object.0.is_ok()
}

async fn drive<K>(
    stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    queue: Arc<ChangeQueue>,
    on_change: impl Fn(&K, &ChangeQueue) + Send,
    relisted: Change,
    filter: Filter<K>,
) where
    K: Resource,
{
    let mut stream = std::pin::pin!(stream);
    let mut seen: std::collections::HashMap<String, Meaning> = std::collections::HashMap::new();
    let uid = |o: &K| o.meta().uid.clone().unwrap_or_default();
    while let Some(item) = stream.next().await {
        match item {
            Ok(watcher::Event::Apply(object)) => {
                if let Some(meaning) = filter.meaning(&object) {
                    if seen.get(&uid(&object)) == Some(&meaning) {
                        continue;
                    }
                    seen.insert(uid(&object), meaning);
                }
                on_change(&object, &queue)
            }
            Ok(watcher::Event::Delete(object)) => {
                seen.remove(&uid(&object));
                on_change(&object, &queue)
            }
            Ok(watcher::Event::Init) => seen.clear(),
            // The objects of a listing are compared with what was planned as a whole once the
            // listing is in the cache: looked up one by one they could be read from the cache
            // the listing is about to replace.
            Ok(watcher::Event::InitApply(object)) => {
                if let Some(meaning) = filter.meaning(&object) {
                    seen.insert(uid(&object), meaning);
                }
            }
            Ok(watcher::Event::InitDone) => {
                tracing::debug!(change = ?relisted, "watch listing complete");
                queue.push(relisted.clone());
            }
            Err(e) => tracing::warn!(error = %e, "watch failed; retrying with backoff"),
        }
    }
}

/// Starts every watch. The returned tasks run until the process stops.
pub fn start(
    client: &Client,
    queue: Arc<ChangeQueue>,
    tasks: &mut JoinSet<()>,
    config: &crate::config::Config,
) -> Stores {
    let state = &super::state::StateRef::of(config);
    let pods = watch(
        tasks,
        Api::<Pod>::all(client.clone()),
        queue.clone(),
        PodView::from,
        |pod, queue| {
            queue.push(Change::Pod {
                uid: pod.uid().unwrap_or_default(),
                namespace: pod.namespace().unwrap_or_default(),
                name: pod.name_any(),
            })
        },
        Change::Relisted(Watched::Pods),
    );
    let nodes = watch(
        tasks,
        Api::<Node>::all(client.clone()),
        queue.clone(),
        |mut node: Node| {
            node.status = None;
            stripped(node)
        },
        |node, queue| queue.push(Change::Node(node.name_any())),
        Change::Relisted(Watched::Nodes),
    );
    let namespaces = watch(
        tasks,
        Api::<Namespace>::all(client.clone()),
        queue.clone(),
        stripped::<Namespace>,
        |ns, queue| queue.push(Change::Namespace(ns.name_any())),
        Change::Relisted(Watched::Namespaces),
    );
    // A slice's change carries only its name: the pods it targets are read from the cache when
    // the change is worked, so two updates of one slice coalesce and cannot be applied out of
    // order.
    let endpoint_slices = watch(
        tasks,
        Api::<EndpointSlice>::all(client.clone()),
        queue.clone(),
        stripped::<EndpointSlice>,
        |slice, queue| {
            queue.push(Change::Endpoints { namespace: slice.namespace().unwrap_or_default(), name: slice.name_any() })
        },
        Change::Relisted(Watched::EndpointSlices),
    );
    // clusterSPIFFEIDLabelSelector and filterByClassName: the API server leaves the others out.
    let identity_watch = match &config.cluster_spiffe_id_selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let identities = watch_with(
        tasks,
        Api::<Guarded<ClusterSPIFFEID>>::all(client.clone()),
        identity_watch,
        queue.clone(),
        stripped::<Guarded<ClusterSPIFFEID>>,
        |o, queue| queue.push(Change::Identity(o.uid().unwrap_or_default())),
        Change::Relisted(Watched::Identities),
        Filter::Meaningful(parses),
    );
    let tenant_identities = watch_with(
        tasks,
        Api::<Guarded<SPIFFEID>>::all(client.clone()),
        watcher::Config::default(),
        queue.clone(),
        stripped::<Guarded<SPIFFEID>>,
        |o, queue| queue.push(Change::Identity(o.uid().unwrap_or_default())),
        Change::Relisted(Watched::Identities),
        Filter::Meaningful(parses),
    );
    let static_entries = watch_with(
        tasks,
        Api::<Guarded<ClusterStaticEntry>>::all(client.clone()),
        watcher::Config::default(),
        queue.clone(),
        stripped::<Guarded<ClusterStaticEntry>>,
        |_, queue| queue.push(Change::StaticEntries),
        Change::Relisted(Watched::StaticEntries),
        Filter::Meaningful(parses),
    );
    let policies = watch_with(
        tasks,
        Api::<Guarded<IdentityPolicy>>::all(client.clone()),
        watcher::Config::default(),
        queue.clone(),
        stripped::<Guarded<IdentityPolicy>>,
        |_, queue| queue.push(Change::Governance),
        Change::Relisted(Watched::Policies),
        Filter::Meaningful(parses),
    );
    let exceptions = watch_with(
        tasks,
        Api::<Guarded<IdentityException>>::all(client.clone()),
        watcher::Config::default(),
        queue.clone(),
        stripped::<Guarded<IdentityException>>,
        |_, queue| queue.push(Change::Governance),
        Change::Relisted(Watched::Exceptions),
        Filter::Meaningful(parses),
    );
    // Only the state ConfigMap, by name: what the operator writes there, and a person's
    // confirmation of held deletions.
    let state = watch_with(
        tasks,
        Api::<ConfigMap>::namespaced(client.clone(), &state.namespace),
        watcher::Config::default().fields(&format!("metadata.name={}", state.name)),
        queue.clone(),
        stripped::<ConfigMap>,
        |_, queue| queue.push(Change::State),
        Change::State,
        Filter::Every,
    );
    let federations = watch_with(
        tasks,
        Api::<Guarded<ClusterFederatedTrustDomain>>::all(client.clone()),
        watcher::Config::default(),
        queue,
        stripped::<Guarded<ClusterFederatedTrustDomain>>,
        |_, queue| queue.push(Change::Federation),
        Change::Relisted(Watched::Federations),
        Filter::Meaningful(parses),
    );
    Stores {
        pods,
        nodes,
        namespaces,
        endpoint_slices,
        identities,
        tenant_identities,
        static_entries,
        federations,
        policies,
        exceptions,
        state,
    }
}

/// The pods an EndpointSlice targets now, by UID.
pub fn slice_targets(slice: &EndpointSlice) -> std::collections::BTreeSet<String> {
    slice
        .endpoints
        .iter()
        .flatten()
        .filter_map(|e| e.target_ref.as_ref())
        .filter(|r| r.kind.as_deref() == Some("Pod"))
        .filter_map(|r| r.uid.clone())
        .collect()
}
