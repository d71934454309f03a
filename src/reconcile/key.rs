//! The identity of an entry for reconciliation, and the scope it is planned in.

use crate::spiffe::{Entry, SpiffeId};

/// The selector type and value prefix that tie an entry to one pod.
const POD_UID_SELECTOR: (&str, &str) = ("k8s", "pod-uid:");

/// What makes two entries "the same entry": SPIFFE ID, parent ID and the set of selectors. SPIRE
/// refuses to create a second entry with the same key, and it is the key spire-controller-manager
/// matches on. Other fields (TTLs, DNS names, ...) are updated in place; key fields only when an
/// owned entry's were edited behind the operator's back (see [`super::plan_scope`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryKey {
    spiffe_id: SpiffeId,
    parent_id: SpiffeId,
    /// Sorted by type then value; duplicates kept, as SPIRE keeps them.
    selectors: Vec<(String, String)>,
}

impl EntryKey {
    pub fn of(entry: &Entry) -> Self {
        let mut selectors: Vec<(String, String)> =
            entry.selectors.iter().map(|s| (s.kind().to_owned(), s.value().to_owned())).collect();
        selectors.sort();
        Self { spiffe_id: entry.spiffe_id.clone(), parent_id: entry.parent_id.clone(), selectors }
    }

    /// An unambiguous byte form of the key, for deriving entry IDs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for part in [self.spiffe_id.to_string(), self.parent_id.to_string()] {
            out.extend_from_slice(part.as_bytes());
            out.push(0);
        }
        for (kind, value) in &self.selectors {
            out.extend_from_slice(kind.as_bytes());
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
            out.push(0);
        }
        out
    }
}

/// The unit entries are planned in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Every entry carrying `k8s:pod-uid:<uid>` for this pod UID.
    Pod(String),
    /// Every other entry: static entries and entries from other sources.
    Cluster,
}

impl Scope {
    /// The scope an entry belongs to, from its selectors alone.
    pub fn of(entry: &Entry) -> Self {
        entry
            .selectors
            .iter()
            .find_map(|s| {
                (s.kind() == POD_UID_SELECTOR.0)
                    .then(|| s.value().strip_prefix(POD_UID_SELECTOR.1))
                    .flatten()
                    .map(|uid| Scope::Pod(uid.to_owned()))
            })
            .unwrap_or(Scope::Cluster)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiffe::Selector;

    fn entry(selectors: &[&str]) -> Entry {
        Entry::new(
            SpiffeId::parse("spiffe://example.org/a").unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/n").unwrap(),
            selectors.iter().map(|s| Selector::parse(s).unwrap()).collect(),
        )
    }

    #[test]
    fn selector_order_does_not_change_the_key() {
        assert_eq!(EntryKey::of(&entry(&["k8s:ns:a", "k8s:sa:b"])), EntryKey::of(&entry(&["k8s:sa:b", "k8s:ns:a"])));
    }

    #[test]
    fn ids_and_selectors_are_part_of_the_key_and_other_fields_are_not() {
        let base = entry(&["k8s:ns:a"]);
        let mut other_id = base.clone();
        other_id.spiffe_id = SpiffeId::parse("spiffe://example.org/b").unwrap();
        let mut other_parent = base.clone();
        other_parent.parent_id = SpiffeId::parse("spiffe://example.org/spire/agent/m").unwrap();
        let mut other_ttl = base.clone();
        other_ttl.x509_svid_ttl = 60;
        other_ttl.dns_names = vec!["x".into()];
        assert_ne!(EntryKey::of(&base), EntryKey::of(&other_id));
        assert_ne!(EntryKey::of(&base), EntryKey::of(&other_parent));
        assert_ne!(EntryKey::of(&base), EntryKey::of(&entry(&["k8s:ns:b"])));
        assert_eq!(EntryKey::of(&base), EntryKey::of(&other_ttl));
    }

    #[test]
    fn key_bytes_are_unambiguous() {
        // Without separators these two would serialise alike.
        let a = EntryKey::of(&entry(&["k8s:ab", "k8s:c"]));
        let b = EntryKey::of(&entry(&["k8s:a", "k8s:bc"]));
        assert_ne!(a.to_bytes(), b.to_bytes());
    }

    #[test]
    fn scope_follows_the_pod_uid_selector() {
        assert_eq!(Scope::of(&entry(&["k8s:ns:a", "k8s:pod-uid:123"])), Scope::Pod("123".into()));
        assert_eq!(Scope::of(&entry(&["k8s:ns:a"])), Scope::Cluster);
        assert_eq!(Scope::of(&entry(&["unix:pod-uid:123"])), Scope::Cluster);
    }
}
