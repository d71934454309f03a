//! Parsed forms of the resources, cached by generation so a spec is parsed once per change.

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::stores::Readable;
use crate::{
    api::v1alpha1::{ClusterSPIFFEID, ClusterStaticEntry, SPIFFEID},
    config::Config,
    pass::StaticDeclarations,
    reconcile::{Declaration, Hold, IdentitySource, Scope, Source, SourceKind, SourceMeta, SpecError},
    render::{PodIdentity, render_static_entry},
    selection::handles_class,
};

/// The resource a declaration comes from, read off its metadata.
pub fn source_of<K: Resource>(kind: SourceKind, object: &K) -> Source {
    source_of_meta(kind, object.meta())
}

/// The resource a declaration comes from, read off metadata alone.
pub fn source_of_meta(kind: SourceKind, meta: &ObjectMeta) -> Source {
    Source {
        kind,
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        created_at: meta.creation_timestamp.as_ref().map_or(0, |t| t.0.as_second()),
        deleting_at: meta.deletion_timestamp.as_ref().map(|t| t.0.as_second()),
    }
}

/// What policies read of a resource besides its spec.
pub fn meta_of(meta: &ObjectMeta, owner: Option<&crate::api::v1alpha1::Owner>) -> SourceMeta {
    SourceMeta {
        labels: meta.labels.clone().unwrap_or_default(),
        owner_set: owner.is_some_and(|o| !o.team.is_empty() && o.contact.as_deref().is_some_and(|c| !c.is_empty())),
        drift_policy: None,
    }
}

/// Every ClusterSPIFFEID and SPIFFEID this instance handles, parsed.
#[derive(Default)]
pub struct Identities {
    by_uid: BTreeMap<String, (Option<i64>, IdentitySource)>,
}

impl Identities {
    /// Brings the cache in line with the stores of both pod identity kinds. Returns the UIDs
    /// whose parsed form changed (added, edited, removed, or their deletion started).
    pub fn refresh(
        &mut self,
        cluster: &Readable<ClusterSPIFFEID>,
        tenant: &Readable<SPIFFEID>,
        config: &Config,
    ) -> Vec<String> {
        let mut changed = Vec::new();
        let mut seen = BTreeMap::new();
        // An object of this class that does not parse cannot say which pods it selects: like a
        // spec that does not parse, it holds what it may have declared.
        let unreadable = cluster
            .unreadable_handled(config)
            .map(|u| (SourceKind::ClusterSPIFFEID, u))
            .chain(tenant.unreadable_handled(config).map(|u| (SourceKind::SPIFFEID, u)));
        for (kind, invalid) in unreadable {
            let uid = invalid.metadata.uid.clone().unwrap_or_default();
            let source = source_of_meta(kind, &invalid.metadata);
            let identity = Err(SpecError::Unreadable(invalid.error.clone()));
            let unchanged = self.by_uid.get(&uid).is_some_and(|(g, cached)| {
                *g == invalid.metadata.generation
                    && cached.source == source
                    && cached.identity.as_ref().err() == identity.as_ref().err()
            });
            if !unchanged {
                changed.push(uid.clone());
            }
            let namespace = invalid.metadata.namespace.clone();
            let meta = meta_of(&invalid.metadata, None);
            let parsed = IdentitySource { source, meta, namespace, identity, suspended: false };
            seen.insert(uid, (invalid.metadata.generation, parsed));
        }
        let cluster_objects = cluster
            .objects
            .iter()
            .map(|o| (SourceKind::ClusterSPIFFEID, &o.metadata, o.spec.class_name.as_deref(), Cow::Borrowed(&o.spec)));
        let tenant_objects = tenant.objects.iter().map(|o| {
            (SourceKind::SPIFFEID, &o.metadata, o.spec.class_name.as_deref(), Cow::Owned(o.spec.as_cluster_spec()))
        });
        for (kind, metadata, class, spec) in cluster_objects.chain(tenant_objects) {
            if !handles_class(class, config.class_name.as_deref(), config.watch_classless) {
                continue;
            }
            let uid = metadata.uid.clone().unwrap_or_default();
            let generation = metadata.generation;
            let source = source_of_meta(kind, metadata);
            let suspended = spec.suspend.unwrap_or(false);
            let meta = SourceMeta { drift_policy: spec.drift_policy, ..meta_of(metadata, spec.owner.as_ref()) };
            let unchanged = self.by_uid.get(&uid).is_some_and(|(g, cached)| {
                *g == generation && cached.source == source && cached.suspended == suspended && cached.meta == meta
            });
            if !unchanged {
                let identity = PodIdentity::parse(&spec).map(Arc::new).map_err(SpecError::from);
                let namespace = (kind == SourceKind::SPIFFEID).then(|| metadata.namespace.clone().unwrap_or_default());
                seen.insert(uid.clone(), (generation, IdentitySource { source, meta, namespace, identity, suspended }));
                changed.push(uid);
            } else if let Some(entry) = self.by_uid.remove(&uid) {
                seen.insert(uid, entry);
            }
        }
        changed.extend(self.by_uid.keys().filter(|uid| !seen.contains_key(*uid)).cloned());
        self.by_uid = seen;
        changed
    }

    /// The identities in a stable order (oldest first).
    pub fn list(&self) -> Vec<IdentitySource> {
        let mut list: Vec<IdentitySource> = self.by_uid.values().map(|(_, i)| i.clone()).collect();
        list.sort_by(|a, b| a.source.precedence(&b.source));
        list
    }

    pub fn get(&self, uid: &str) -> Option<&IdentitySource> {
        self.by_uid.get(uid).map(|(_, i)| i)
    }

    /// The generation of the spec last parsed, when the resource has been seen: what status may
    /// call observed.
    pub fn generation(&self, uid: &str) -> Option<Option<i64>> {
        self.by_uid.get(uid).map(|(g, _)| *g)
    }

    pub fn wants_service_names(&self) -> bool {
        self.by_uid.values().any(|(_, i)| i.identity.as_ref().is_ok_and(|id| id.auto_populate_dns_names))
    }
}

/// One ClusterStaticEntry, rendered.
#[derive(Clone, Debug)]
pub struct StaticEntry {
    pub source: Source,
    pub meta: SourceMeta,
    pub entry: Result<crate::spiffe::Entry, SpecError>,
    /// The scope the entry belongs to, read off the raw selectors so that a spec that does not
    /// render still holds the right scope.
    pub scope: Scope,
}

/// Every ClusterStaticEntry this instance handles, rendered, by UID.
#[derive(Default)]
pub struct StaticEntries {
    by_uid: BTreeMap<String, (Option<i64>, StaticEntry)>,
    /// UIDs of the objects that do not parse. Their selectors, so their scopes, are unknown:
    /// they hold what they declared in every scope.
    unreadable: BTreeSet<String>,
}

impl StaticEntries {
    /// Brings the cache in line with the store; returns the scopes whose declarations changed.
    pub fn refresh(&mut self, cached: &Readable<ClusterStaticEntry>, config: &Config) -> Vec<Scope> {
        let before: BTreeMap<String, Scope> =
            self.by_uid.iter().map(|(uid, (_, s))| (uid.clone(), scope_of(s))).collect();
        let mut next = BTreeMap::new();
        // The scope an object declared in before it stopped parsing is among `before`, and is
        // planned again with the object's output held.
        self.unreadable =
            cached.unreadable_handled(config).map(|i| i.metadata.uid.clone().unwrap_or_default()).collect();
        for object in &cached.objects {
            if !handles_class(object.spec.class_name.as_deref(), config.class_name.as_deref(), config.watch_classless) {
                continue;
            }
            let uid = object.uid().unwrap_or_default();
            let entry = render_static_entry(&object.spec).map_err(SpecError::from);
            let source = source_of(SourceKind::ClusterStaticEntry, object.as_ref());
            let scope = object
                .spec
                .selectors
                .iter()
                .find_map(|s| s.strip_prefix("k8s:pod-uid:"))
                .map_or(Scope::Cluster, |uid| Scope::Pod(uid.to_owned()));
            let meta = SourceMeta {
                drift_policy: object.spec.drift_policy,
                ..meta_of(&object.metadata, object.spec.owner.as_ref())
            };
            next.insert(uid, (object.metadata.generation, StaticEntry { source, meta, entry, scope }));
        }
        let mut scopes: Vec<Scope> = before.into_values().collect();
        scopes.extend(next.values().map(|(_, s)| scope_of(s)));

        scopes.push(Scope::Cluster);
        scopes.sort();
        scopes.dedup();
        self.by_uid = next;
        scopes
    }
}

impl StaticDeclarations for StaticEntries {
    /// The declarations that fall in `scope`, and the static entries of that scope that do not
    /// render, whose entries are held.
    fn declarations(&self, scope: &Scope) -> (Vec<Declaration>, Hold) {
        let mut declarations = Vec::new();
        let mut hold = Hold::Nothing;
        for uid in &self.unreadable {
            hold.add(uid.clone());
        }
        for (_, s) in self.by_uid.values().filter(|(_, s)| s.scope == *scope) {
            match &s.entry {
                Ok(entry) => declarations.push(Declaration { entry: entry.clone(), source: s.source.clone() }),
                Err(_) => hold.add(s.source.uid.clone()),
            }
        }
        (declarations, hold)
    }

    /// Whether any ClusterStaticEntry falls in `scope`.
    fn declares_in(&self, scope: &Scope) -> bool {
        self.by_uid.values().any(|(_, s)| s.scope == *scope)
    }

    fn meta(&self, uid: &str) -> Option<&SourceMeta> {
        self.by_uid.get(uid).map(|(_, s)| &s.meta)
    }
}

impl StaticEntries {
    pub fn list(&self) -> impl Iterator<Item = &StaticEntry> {
        self.by_uid.values().map(|(_, s)| s)
    }

    /// The generation of the spec last rendered, when the resource has been seen.
    pub fn generation(&self, uid: &str) -> Option<Option<i64>> {
        self.by_uid.get(uid).map(|(g, _)| *g)
    }
}

fn scope_of(s: &StaticEntry) -> Scope {
    s.scope.clone()
}
