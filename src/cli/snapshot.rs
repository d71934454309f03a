//! The operator's inputs read once with list calls, and the pass run over every scope, as the
//! controller runs it: the same parsers of resources into declarations, the same entry index and
//! the same [`pass::run`].

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use k8s_openapi::{
    api::{
        core::v1::{Namespace, Node, Pod},
        discovery::v1::EndpointSlice,
    },
    jiff::Timestamp,
};
use kube::{
    Api, Resource,
    api::{ListParams, ObjectList},
};
use serde::de::DeserializeOwned;

use crate::{
    api::v1alpha1::{ClusterSPIFFEID, ClusterStaticEntry, IdentityException, IdentityPolicy, SPIFFEID},
    config::Config,
    controller::{Guarded, Identities, Readable, Rules, StaticEntries},
    pass::{self, Inputs, ScopeOutcome, Snapshot},
    pod_view::PodView,
    reconcile::{Declaration, EntryIndex, IdentitySource, Ownership, Scope},
    spire::{EntryListing, LIST_PAGE_SIZE, SpireClient},
};

/// Objects asked for per list call.
const KUBE_PAGE_SIZE: u32 = 500;

/// Why the inputs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("listing {kind} from the Kubernetes API server")]
    List {
        kind: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("listing SPIRE's entries at {server}")]
    Spire {
        /// The server's socket, or its TCP address.
        server: String,
        #[source]
        source: crate::spire::Error,
    },
}

/// How long a command waits for its X509-SVID from the Workload API, over TCP: an agent hands
/// out a newly registered identity at its next sync.
const FIRST_SVID: std::time::Duration = std::time::Duration::from_secs(30);

/// Everything the operator reads, listed once.
pub struct Listing {
    pub pods: Vec<PodView>,
    pub nodes: Vec<Node>,
    pub namespaces: Vec<Namespace>,
    pub slices: Vec<EndpointSlice>,
    pub identities: Readable<ClusterSPIFFEID>,
    pub tenant_identities: Readable<SPIFFEID>,
    pub static_entries: Readable<ClusterStaticEntry>,
    pub policies: Readable<IdentityPolicy>,
    pub exceptions: Readable<IdentityException>,
    /// SPIRE's entries; those the operator cannot read are set aside, as the controller does.
    pub entries: EntryListing,
}

/// Every object of a kind, page by page.
async fn list_all<K>(api: Api<K>, kind: &'static str) -> Result<Vec<K>, Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    list_selected(api, kind, None).await
}

/// Every object of a kind that `labels` selects (None: all), page by page.
async fn list_selected<K>(api: Api<K>, kind: &'static str, labels: Option<&str>) -> Result<Vec<K>, Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(KUBE_PAGE_SIZE);
    if let Some(labels) = labels {
        params = params.labels(labels);
    }
    loop {
        let page: ObjectList<K> = api.list(&params).await.map_err(|source| Error::List { kind, source })?;
        out.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(out),
        }
    }
}

/// The operator's own kind, split into objects that parse and objects that do not.
async fn list_guarded<K>(client: &kube::Client, kind: &'static str) -> Result<Readable<K>, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    K::Scope: std::any::Any,
{
    list_guarded_selected(client, kind, None).await
}

/// [`list_guarded`], of the objects `labels` selects, as the controller's watch does.
async fn list_guarded_selected<K>(
    client: &kube::Client,
    kind: &'static str,
    labels: Option<&str>,
) -> Result<Readable<K>, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    K::Scope: std::any::Any,
{
    let api: Api<Guarded<K>> = Api::all(client.clone());
    let mut readable = Readable { objects: Vec::new(), unreadable: Vec::new() };
    for guarded in list_selected(api, kind, labels).await? {
        match guarded.0 {
            Ok(object) => readable.objects.push(Arc::new(object)),
            Err(unreadable) => readable.unreadable.push(unreadable),
        }
    }
    Ok(readable)
}

/// What the running operator recorded of drift it found and left or has yet to repair: the
/// record in its state ConfigMap ([`StateRef`](crate::controller::StateRef)), as it reads it at
/// start.
pub enum DriftMemory {
    /// The record, read back.
    Kept { ledger: crate::drift::Ledger, state: String },
    /// No record: no drift found so far, or another instance's state.
    Absent,
    /// The record could not be read or does not parse: the plan is made without it.
    Unreadable { state: String, error: String },
}

impl DriftMemory {
    /// Reads the instance's state ConfigMap, as a restarted operator does.
    pub async fn fetch(client: &kube::Client, config: &Config) -> Self {
        let state = crate::controller::StateRef::of(config);
        let named = format!("{}/{}", state.namespace, state.name);
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), &state.namespace);
        let text = match api.get_opt(&state.name).await {
            Ok(object) => object.and_then(|o| o.data?.remove(crate::controller::DRIFT_KEY)),
            Err(e) => return DriftMemory::Unreadable { state: named, error: e.to_string() },
        };
        match text.map(|t| crate::drift::Ledger::restore(&t)) {
            None => DriftMemory::Absent,
            Some(Ok(ledger)) => DriftMemory::Kept { ledger, state: named },
            Some(Err(e)) => DriftMemory::Unreadable { state: named, error: e.to_string() },
        }
    }

    /// The record's ledger; an empty one when there is none.
    pub fn ledger(&self) -> &crate::drift::Ledger {
        match self {
            DriftMemory::Kept { ledger, .. } => ledger,
            _ => &NO_DRIFT_KNOWN,
        }
    }
}

impl Listing {
    /// Lists every input of the operator: the cluster through `client`, SPIRE through the
    /// configuration's socket. Nothing is written.
    pub async fn fetch(client: &kube::Client, config: &Config) -> Result<Self, Error> {
        let pods = list_all(Api::<Pod>::all(client.clone()), "pods").await?;
        let nodes = list_all(Api::<Node>::all(client.clone()), "nodes").await?;
        let namespaces = list_all(Api::<Namespace>::all(client.clone()), "namespaces").await?;
        let slices = list_all(Api::<EndpointSlice>::all(client.clone()), "endpointslices").await?;
        let spire = SpireClient::new(config.spire_client());
        let server = config.spire_server();
        spire.wait_for_svid(FIRST_SVID).await.map_err(|source| Error::Spire { server: server.clone(), source })?;
        let entries = spire
            .list_entries_lenient(&Default::default(), LIST_PAGE_SIZE)
            .await
            .map_err(|source| Error::Spire { server, source })?;
        Ok(Self {
            pods: pods.into_iter().map(PodView::from).collect(),
            nodes,
            namespaces,
            slices,
            identities: list_guarded_selected(client, "clusterspiffeids", config.cluster_spiffe_id_selector.as_deref())
                .await?,
            tenant_identities: list_guarded(client, "spiffeids").await?,
            static_entries: list_guarded(client, "clusterstaticentries").await?,
            policies: list_guarded(client, "identitypolicies").await?,
            exceptions: list_guarded(client, "identityexceptions").await?,
            entries,
        })
    }
}

/// The listed objects, as the pure pass reads them.
pub struct ListedInputs {
    pods: HashMap<String, Arc<PodView>>,
    nodes: HashMap<String, Arc<Node>>,
    namespaces: HashMap<String, BTreeMap<String, String>>,
    slices: HashMap<String, Vec<Arc<EndpointSlice>>>,
}

impl ListedInputs {
    pub fn new(pods: &[PodView], nodes: &[Node], namespaces: &[Namespace], slices: &[EndpointSlice]) -> Self {
        let mut by_namespace: HashMap<String, Vec<Arc<EndpointSlice>>> = HashMap::new();
        for slice in slices {
            by_namespace
                .entry(slice.metadata.namespace.clone().unwrap_or_default())
                .or_default()
                .push(Arc::new(slice.clone()));
        }
        Self {
            pods: pods.iter().map(|p| (p.metadata.uid.clone().unwrap_or_default(), Arc::new(p.clone()))).collect(),
            nodes: nodes.iter().map(|n| (n.metadata.name.clone().unwrap_or_default(), Arc::new(n.clone()))).collect(),
            namespaces: namespaces
                .iter()
                .map(|n| (n.metadata.name.clone().unwrap_or_default(), n.metadata.labels.clone().unwrap_or_default()))
                .collect(),
            slices: by_namespace,
        }
    }

    /// The UIDs of every pod.
    pub fn pod_uids(&self) -> impl Iterator<Item = &String> {
        self.pods.keys()
    }
}

impl Inputs for ListedInputs {
    fn pod(&self, uid: &str) -> Option<Arc<PodView>> {
        self.pods.get(uid).cloned()
    }

    fn node(&self, name: &str) -> Option<Arc<Node>> {
        self.nodes.get(name).cloned()
    }

    fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces.get(name).cloned()
    }

    fn slices_in(&self, namespace: &str) -> Vec<Arc<EndpointSlice>> {
        self.slices.get(namespace).cloned().unwrap_or_default()
    }
}

/// What the pass decided for one scope, with what the scope's resources declared before the
/// policies judged them (to name the entries a policy denies).
pub struct Judged {
    pub outcome: ScopeOutcome,
    pub declared: Vec<Declaration>,
}

/// One pass over every scope, and what it read.
pub struct Evaluation {
    pub inputs: ListedInputs,
    pub identities: Identities,
    /// The identities in the order the pass reads them.
    pub identity_list: Vec<IdentitySource>,
    pub statics: StaticEntries,
    pub rules: Rules,
    pub ownership: Ownership,
    pub index: EntryIndex,
    /// In scope order.
    pub scopes: Vec<Judged>,
    pub now: Timestamp,
}

impl Evaluation {
    /// Runs the pass over every pod, the cluster scope, and every scope SPIRE holds an entry of
    /// the operator in, as a controller that has planned everything once would, knowing nothing
    /// of earlier drift.
    pub fn run(listing: &Listing, config: &Config, now: Timestamp) -> Self {
        Self::run_remembering(listing, config, now, &NO_DRIFT_KNOWN)
    }

    /// [`Evaluation::run`], as a controller that restarted with `ledger`, the drift it had
    /// recorded: a write that would undo drift left under `driftPolicy: Report` is withheld and
    /// the drift reported, and an entry edited into another scope is planned in its own.
    pub fn run_remembering(listing: &Listing, config: &Config, now: Timestamp, ledger: &crate::drift::Ledger) -> Self {
        let mut identities = Identities::default();
        identities.refresh(&listing.identities, &listing.tenant_identities, config);
        let mut statics = StaticEntries::default();
        let static_scopes = statics.refresh(&listing.static_entries, config);
        let mut rules = Rules::default();
        rules.refresh(&listing.policies, &listing.exceptions, config);
        let ownership = Ownership::new(config.entry_id_prefix.clone(), config.adopt_entry_id_prefixes.clone());
        let mut index = EntryIndex::from_listing(listing.entries.entries.iter().cloned(), &ownership);
        ledger.keep_homes(&mut index);
        let inputs = ListedInputs::new(&listing.pods, &listing.nodes, &listing.namespaces, &listing.slices);
        let identity_list = identities.list();

        let mut scopes: BTreeSet<Scope> = inputs.pod_uids().cloned().map(Scope::Pod).collect();
        scopes.insert(Scope::Cluster);
        scopes.extend(index.scopes().cloned());
        scopes.extend(static_scopes);

        // A running controller knows which resource declared each entry it planned; a first
        // pass teaches the index the same, so that what a failing input holds is judged alike.
        let learnt = {
            let snapshot = snapshot(&inputs, &identity_list, &statics, &index, &ownership, config, &rules, ledger, now);
            pass::run(&snapshot, &scopes)
        };
        for outcome in &learnt {
            for (id, source) in &outcome.plan.in_sync {
                index.set_owner(id, source);
            }
            for update in &outcome.plan.updates {
                if let Some(id) = &update.entry.id {
                    index.set_owner(id, &update.source);
                }
            }
        }

        let snapshot = snapshot(&inputs, &identity_list, &statics, &index, &ownership, config, &rules, ledger, now);
        let judged = pass::run(&snapshot, &scopes)
            .into_iter()
            .map(|outcome| {
                let declared = pass::declare(&snapshot, &outcome.scope).declarations;
                Judged { outcome, declared }
            })
            .collect();
        Self { inputs, identities, identity_list, statics, rules, ownership, index, scopes: judged, now }
    }
}

/// Knowing nothing of out-of-band changes, as a controller that started with no record: every
/// write the pass plans is shown as a write (none is taken for a drift repair that
/// `driftPolicy: Report` would withhold); the report's drift column compares SPIRE with the
/// declarations itself.
static NO_DRIFT_KNOWN: std::sync::LazyLock<crate::drift::Ledger> = std::sync::LazyLock::new(Default::default);

#[allow(clippy::too_many_arguments)]
fn snapshot<'a>(
    inputs: &'a ListedInputs,
    identities: &'a [IdentitySource],
    statics: &'a StaticEntries,
    index: &'a EntryIndex,
    ownership: &'a Ownership,
    config: &'a Config,
    rules: &'a Rules,
    ledger: &'a crate::drift::Ledger,
    now: Timestamp,
) -> Snapshot<'a> {
    Snapshot {
        inputs,
        identities,
        statics,
        index,
        ownership,
        config,
        governance: &rules.governance,
        ledger: Some(ledger),
        now,
    }
}
