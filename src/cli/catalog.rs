//! Names for what the pass speaks of by UID: the resource behind a declaration, its owner, the
//! pod of a pod scope; and the plain forms entries and policy decisions are printed in.

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::snapshot::{Judged, Listing};
use crate::{
    api::v1alpha1::Owner,
    policy::Verdict,
    reconcile::{Declaration, Scope},
    spiffe::{Entry, EntryMask},
};

/// A resource that declares entries.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for SourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// A pod, by namespace and name.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    #[serde(skip)]
    pub uid: String,
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What is known of one declaring resource.
#[derive(Clone, Debug)]
pub struct Described {
    pub source: SourceRef,
    pub uid: String,
    pub owner: Option<Owner>,
}

/// Resources and pods by UID.
#[derive(Default)]
pub struct Catalog {
    resources: HashMap<String, Described>,
    pods: HashMap<String, PodRef>,
}

impl Catalog {
    pub fn of(listing: &Listing) -> Self {
        let mut catalog = Self::default();
        let mut add = |kind: &str, meta: &ObjectMeta, owner: Option<&Owner>| {
            let uid = meta.uid.clone().unwrap_or_default();
            let source = SourceRef {
                kind: kind.to_owned(),
                namespace: meta.namespace.clone(),
                name: meta.name.clone().unwrap_or_default(),
            };
            catalog.resources.insert(uid.clone(), Described { source, uid, owner: owner.cloned() });
        };
        for o in &listing.identities.objects {
            add("ClusterSPIFFEID", &o.metadata, o.spec.owner.as_ref());
        }
        for o in &listing.tenant_identities.objects {
            add("SPIFFEID", &o.metadata, o.spec.owner.as_ref());
        }
        for o in &listing.static_entries.objects {
            add("ClusterStaticEntry", &o.metadata, o.spec.owner.as_ref());
        }
        for (kind, list) in [
            ("ClusterSPIFFEID", &listing.identities.unreadable),
            ("SPIFFEID", &listing.tenant_identities.unreadable),
            ("ClusterStaticEntry", &listing.static_entries.unreadable),
        ] {
            for u in list {
                add(kind, &u.metadata, None);
            }
        }
        for pod in &listing.pods {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let namespace = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            catalog.pods.insert(uid.clone(), PodRef { namespace, name, uid });
        }
        catalog
    }

    pub fn resource(&self, uid: &str) -> Option<&Described> {
        self.resources.get(uid)
    }

    pub fn source(&self, uid: &str) -> Option<SourceRef> {
        self.resources.get(uid).map(|d| d.source.clone())
    }

    /// The pod of a pod scope, when it exists.
    pub fn pod(&self, scope: &Scope) -> Option<PodRef> {
        match scope {
            Scope::Pod(uid) => self.pods.get(uid).cloned(),
            Scope::Cluster => None,
        }
    }
}

/// An entry as plan and report print it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct EntryView {
    #[serde(rename = "spiffeID")]
    pub spiffe_id: String,
    #[serde(rename = "parentID")]
    pub parent_id: String,
    /// Absent for an entry of a policy decision that is not in SPIRE.
    #[serde(rename = "entryID", skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    pub selectors: Vec<String>,
}

impl EntryView {
    pub fn of(entry: &Entry) -> Self {
        let mut selectors: Vec<String> = entry.selectors.iter().map(|s| s.to_string()).collect();
        selectors.sort();
        Self {
            spiffe_id: entry.spiffe_id.to_string(),
            parent_id: entry.parent_id.to_string(),
            entry_id: entry.id.as_ref().map(|id| id.as_str().to_owned()),
            selectors,
        }
    }

    /// The parent ID and selectors, shortened for a table cell.
    pub fn short_parent_and_selectors(&self) -> String {
        let path = self.parent_id.split_once("://").map_or(self.parent_id.as_str(), |(_, rest)| rest);
        let segments: Vec<&str> = path.split('/').collect();
        let parent = if segments.len() > 3 {
            format!("…/{}", segments[segments.len() - 2..].join("/"))
        } else {
            path.to_owned()
        };
        let first = |s: &String| {
            if s.chars().count() > 40 { format!("{}…", s.chars().take(39).collect::<String>()) } else { s.clone() }
        };
        match self.selectors.as_slice() {
            [] => parent,
            [one] => format!("{parent} {}", first(one)),
            [one, rest @ ..] => format!("{parent} {} +{}", first(one), rest.len()),
        }
    }
}

/// The names of the fields of `mask`, as the custom resources spell them.
pub fn field_names(mask: EntryMask) -> Vec<String> {
    mask.fields().map(|f| f.name().to_owned()).collect()
}

/// One declaration of one scope with the policies' verdict on it: what the pass judged.
pub struct Judgement<'a> {
    pub scope: &'a Scope,
    /// The declaration as its resource declared it, before the policies.
    pub declared: &'a Declaration,
    pub verdict: Option<&'a Verdict>,
    /// A ClusterStaticEntry past its `expiresAt`.
    pub lapsed: bool,
}

impl Judgement<'_> {
    pub fn denied(&self) -> bool {
        self.verdict.is_some_and(|v| !v.decision.allowed)
    }
}

/// Every declaration of a judged scope, with its verdict.
pub fn judgements(judged: &Judged) -> Vec<Judgement<'_>> {
    let outcome = &judged.outcome;
    judged
        .declared
        .iter()
        .map(|d| {
            let uid = d.source.uid.as_str();
            let verdict = if d.source.kind.is_pod_identity() {
                outcome.record.as_ref().and_then(|r| r.verdicts.get(uid))
            } else {
                outcome.static_verdicts.iter().find(|(u, _)| u == uid).and_then(|(_, v)| v.as_ref())
            };
            let lapsed = outcome.lapsed.iter().any(|u| u == uid);
            Judgement { scope: &outcome.scope, declared: d, verdict, lapsed }
        })
        .collect()
}

/// Seconds as a Go duration (`1h0m0s` reads as `1h`), or None for unset.
pub fn seconds(s: Option<u32>) -> Option<String> {
    s.map(|s| crate::duration::format(std::time::Duration::from_secs(u64::from(s))))
}
