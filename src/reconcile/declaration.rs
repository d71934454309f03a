//! Declared entries, who declared them, and which declaration wins when several declare the same
//! entry.

use std::{cmp::Ordering, collections::BTreeMap};

use super::EntryKey;
use crate::spiffe::Entry;

/// The kind of resource a declaration comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    ClusterSPIFFEID,
    ClusterStaticEntry,
    ClusterFederatedTrustDomain,
    /// The namespaced tenant identity.
    SPIFFEID,
}

impl SourceKind {
    /// Whether the kind declares entries for pods, from templates.
    pub fn is_pod_identity(self) -> bool {
        matches!(self, SourceKind::ClusterSPIFFEID | SourceKind::SPIFFEID)
    }
}

/// The resource that declared an entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    pub kind: SourceKind,
    pub name: String,
    pub uid: String,
    /// Unix seconds of `metadata.creationTimestamp`.
    pub created_at: i64,
    /// Unix seconds of `metadata.deletionTimestamp`, while the resource is being deleted.
    pub deleting_at: Option<i64>,
}

impl Source {
    /// Which of two sources declaring the same entry wins (`Less` means `self` wins): a
    /// cluster-scoped resource over a tenant's SPIFFEID; then the older one; then one not being
    /// deleted; between two being deleted, the later deletion; then the lower UID. Past the first
    /// rule this is spire-controller-manager's order, so a migration keeps the same winners.
    pub fn precedence(&self, other: &Source) -> Ordering {
        let tenant = |s: &Source| s.kind == SourceKind::SPIFFEID;
        tenant(self)
            .cmp(&tenant(other))
            .then_with(|| self.created_at.cmp(&other.created_at))
            .then_with(|| match (self.deleting_at, other.deleting_at) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => b.cmp(&a),
            })
            .then_with(|| self.uid.cmp(&other.uid))
    }
}

/// An entry a resource declares. Its `id` is unset: IDs come from SPIRE's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declaration {
    pub entry: Entry,
    pub source: Source,
}

/// Declarations grouped by entry key: one winner per key, the rest masked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub winners: BTreeMap<EntryKey, Declaration>,
    /// Losing declarations, each with the source that masks it.
    pub masked: Vec<(Declaration, Source)>,
}

/// Picks the winning declaration for every key.
pub fn resolve(declarations: impl IntoIterator<Item = Declaration>) -> Resolved {
    let mut groups: BTreeMap<EntryKey, Vec<Declaration>> = BTreeMap::new();
    for declaration in declarations {
        groups.entry(EntryKey::of(&declaration.entry)).or_default().push(declaration);
    }
    let mut resolved = Resolved::default();
    for (key, mut group) in groups {
        group.sort_by(|a, b| a.source.precedence(&b.source));
        let mut group = group.into_iter();
        let winner = group.next().expect("groups are never empty");
        resolved.masked.extend(group.map(|loser| (loser, winner.source.clone())));
        resolved.winners.insert(key, winner);
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiffe::{Selector, SpiffeId};

    fn source(uid: &str, created_at: i64, deleting_at: Option<i64>) -> Source {
        Source { kind: SourceKind::ClusterSPIFFEID, name: uid.into(), uid: uid.into(), created_at, deleting_at }
    }

    fn declaration(path: &str, source: Source) -> Declaration {
        let entry = Entry::new(
            SpiffeId::parse(&format!("spiffe://example.org/{path}")).unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/n").unwrap(),
            vec![Selector::parse("k8s:pod-uid:p1").unwrap()],
        );
        Declaration { entry, source }
    }

    #[test]
    fn precedence_rules_in_order() {
        let cases = [
            ("older wins", source("b", 1, None), source("a", 2, None), Ordering::Less),
            ("not deleting wins", source("b", 1, None), source("a", 1, Some(5)), Ordering::Less),
            ("later deletion wins", source("b", 1, Some(9)), source("a", 1, Some(5)), Ordering::Less),
            ("lower uid wins", source("a", 1, None), source("b", 1, None), Ordering::Less),
            ("age beats deletion", source("b", 1, Some(5)), source("a", 2, None), Ordering::Less),
            (
                "cluster-scoped beats a tenant's, whatever its age",
                source("young", 9, None),
                Source { kind: SourceKind::SPIFFEID, ..source("old", 1, None) },
                Ordering::Less,
            ),
        ];
        for (name, first, second, want) in cases {
            assert_eq!(first.precedence(&second), want, "{name}");
            assert_eq!(second.precedence(&first), want.reverse(), "{name} reversed");
        }
    }

    #[test]
    fn same_key_declarations_mask_all_but_the_winner() {
        let resolved = resolve([
            declaration("w", source("young", 5, None)),
            declaration("w", source("old", 1, None)),
            declaration("other", source("young", 5, None)),
        ]);
        assert_eq!(resolved.winners.len(), 2);
        let winner = resolved.winners.values().find(|d| d.entry.spiffe_id.path() == "/w").unwrap();
        assert_eq!(winner.source.uid, "old");
        assert_eq!(resolved.masked.len(), 1);
        assert_eq!(resolved.masked[0].0.source.uid, "young");
        assert_eq!(resolved.masked[0].1.uid, "old");
    }
}
