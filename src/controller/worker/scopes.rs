//! Which scopes a change touches: a pod, an identity, a static entry, a policy, a listing
//! completed after a watch restarted, or everything.

use std::collections::BTreeSet;

use kube::{ResourceExt, runtime::reflector::ObjectRef};

use super::{
    super::{
        change::{Change, Watched},
        stores::slice_targets,
    },
    Worker,
};
use crate::{pass::stale_pods, pod_view::PodView, reconcile::Scope, selection::selects};

impl Worker {
    /// Turns changes into the scopes to plan.
    pub(super) fn expand(&mut self, changes: Vec<Change>) -> BTreeSet<Scope> {
        let mut scopes = BTreeSet::new();
        for change in changes {
            match change {
                Change::Pod { uid, namespace, name } => {
                    let reference = ObjectRef::new(&name).within(&namespace);
                    match self.stores.pods.get(&reference) {
                        Some(pod) if pod.uid().as_deref() == Some(uid.as_str()) => {
                            self.pods.insert(uid.clone(), reference);
                        }
                        _ => {
                            self.pods.remove(&uid);
                        }
                    }
                    scopes.insert(Scope::Pod(uid));
                }
                Change::Node(name) => scopes.extend(self.pods_where(|p| p.node_name() == Some(&name))),
                Change::Namespace(name) => {
                    scopes.extend(self.pods_where(|p| p.metadata.namespace.as_deref() == Some(&name)))
                }
                Change::Endpoints { namespace, name } => {
                    let reference = ObjectRef::new(&name).within(&namespace);
                    let targets = self.stores.endpoint_slices.get(&reference).map(|s| slice_targets(&s));
                    scopes.extend(self.slice_members.set(format!("{namespace}/{name}"), targets.unwrap_or_default()));
                }
                Change::Relisted(kind) => {
                    self.metrics.relisted(kind.as_str());
                    tracing::info!(kind = kind.as_str(), "watch listed again; comparing it with what was planned");
                    scopes.extend(self.relisted(kind));
                }
                // The periodic check compares the caches with what was planned, as a re-list
                // does: a change no event brought is planned all the same.
                Change::Drift => {
                    for kind in [
                        Watched::Policies,
                        Watched::Pods,
                        Watched::EndpointSlices,
                        Watched::Identities,
                        Watched::StaticEntries,
                    ] {
                        scopes.extend(self.relisted(kind));
                    }
                }
                Change::Federation | Change::State => {}
                Change::Governance => scopes.extend(self.relisted(Watched::Policies)),
                Change::Lapse => scopes.extend(self.lapses()),
                // A resource's change is found by comparing its cache with the parsed forms.
                Change::Identity(_) => scopes.extend(self.relisted(Watched::Identities)),
                Change::StaticEntries => scopes.extend(self.relisted(Watched::StaticEntries)),
                Change::Everything => {
                    self.rules.refresh(&self.stores.policies(), &self.stores.exceptions(), &self.config);
                    self.identities.refresh(&self.stores.identities(), &self.stores.tenant_identities(), &self.config);
                    scopes.extend(self.statics.refresh(&self.stores.static_entries(), &self.config));
                    self.refresh_pod_refs();
                    scopes.extend(self.pods.keys().cloned().map(Scope::Pod));
                    scopes.extend(self.records.keys().cloned().map(Scope::Pod));
                    scopes.extend(self.index.scopes().cloned());
                    scopes.extend(self.ledger.scopes());
                    scopes.insert(Scope::Cluster);
                }
            }
        }
        scopes
    }

    /// What a completed listing of `kind` calls for: everything planned from that kind is
    /// compared with the cache as it now is, so objects that changed or went while the watch was
    /// away are planned again.
    fn relisted(&mut self, kind: Watched) -> Vec<Scope> {
        match kind {
            Watched::Pods => {
                self.refresh_pod_refs();
                self.stale_pods()
            }
            // Every pod reads its node and namespace.
            Watched::Nodes | Watched::Namespaces => self.pods.keys().cloned().map(Scope::Pod).collect(),
            Watched::EndpointSlices => {
                let now: Vec<(String, BTreeSet<String>)> = self
                    .stores
                    .endpoint_slices
                    .state()
                    .iter()
                    .map(|slice| {
                        let name = format!("{}/{}", slice.namespace().unwrap_or_default(), slice.name_any());
                        (name, slice_targets(slice))
                    })
                    .collect();
                self.slice_members.replace(now).into_iter().collect()
            }
            Watched::Identities => {
                let mut scopes = Vec::new();
                for uid in
                    self.identities.refresh(&self.stores.identities(), &self.stores.tenant_identities(), &self.config)
                {
                    scopes.extend(self.pods_of_identity(&uid));
                }
                scopes
            }
            Watched::StaticEntries => self.statics.refresh(&self.stores.static_entries(), &self.config),
            Watched::Federations => Vec::new(),
            Watched::Policies | Watched::Exceptions => {
                let refreshed = self.rules.refresh(&self.stores.policies(), &self.stores.exceptions(), &self.config);
                if refreshed.policies {
                    // A policy may govern any identity: every planned scope is judged again.
                    let mut scopes: BTreeSet<Scope> = self.records.keys().cloned().map(Scope::Pod).collect();
                    scopes.extend(self.pods.keys().cloned().map(Scope::Pod));
                    scopes.extend(self.index.scopes().cloned());
                    scopes.insert(Scope::Cluster);
                    return scopes.into_iter().collect();
                }
                refreshed
                    .targets
                    .iter()
                    .flat_map(|(kind, name, namespace)| self.scopes_of_target(*kind, name, namespace.as_deref()))
                    .collect()
            }
        }
    }

    /// Looks every cached pod up again by UID.
    fn refresh_pod_refs(&mut self) {
        self.pods = self
            .stores
            .pods
            .state()
            .iter()
            .map(|p| (p.uid().unwrap_or_default(), ObjectRef::from_obj(p.as_ref())))
            .collect();
    }

    /// The pods whose planning is out of date with the cache: planned at another resource
    /// version, never planned, or planned and gone. A pod the operator holds entries for is
    /// planned too when it is gone.
    fn stale_pods(&self) -> Vec<Scope> {
        let cached = self.stores.pods.state();
        let cached = cached
            .iter()
            .map(|p| (p.metadata.uid.as_deref().unwrap_or_default(), p.metadata.resource_version.as_deref()));
        stale_pods(cached, &self.records, self.index.scopes()).into_iter().collect()
    }

    fn pods_where(&self, predicate: impl Fn(&PodView) -> bool) -> Vec<Scope> {
        self.stores
            .pods
            .state_filter(|p| predicate(p))
            .iter()
            .map(|p| Scope::Pod(p.uid().unwrap_or_default()))
            .collect()
    }

    /// The pods an identity selects now, and the pods it had an outcome for before.
    pub(super) fn pods_of_identity(&self, uid: &str) -> Vec<Scope> {
        let mut scopes: Vec<Scope> = self
            .records
            .iter()
            .filter(|(_, r)| r.outcomes.contains_key(uid))
            .map(|(pod, _)| Scope::Pod(pod.clone()))
            .collect();
        let own_namespace = self.identities.get(uid).and_then(|i| i.namespace.clone());
        match self.identities.get(uid).map(|i| &i.identity) {
            Some(Ok(identity)) => {
                let namespaces: BTreeSet<String> = self
                    .stores
                    .namespaces
                    .state()
                    .iter()
                    .filter(|ns| own_namespace.as_ref().is_none_or(|own| *own == ns.name_any()))
                    .filter(|ns| selects(identity.namespace_selector.as_ref(), ns.metadata.labels.as_ref()))
                    .map(|ns| ns.name_any())
                    .collect();
                scopes.extend(self.pods_where(|p| {
                    p.metadata.namespace.as_ref().is_some_and(|ns| namespaces.contains(ns))
                        && selects(identity.pod_selector.as_ref(), p.metadata.labels.as_ref())
                }));
            }
            // An identity that does not parse holds every pod; an identity that is gone releases
            // the pods it had.
            Some(Err(_)) => match &own_namespace {
                Some(own) => scopes.extend(self.pods_where(|p| p.metadata.namespace.as_ref() == Some(own))),
                None => scopes.extend(self.pods.keys().cloned().map(Scope::Pod)),
            },
            None => {}
        }
        scopes
    }
}
