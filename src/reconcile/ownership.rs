//! Which SPIRE entries the operator may touch, and the IDs it gives the entries it creates.

use uuid::Uuid;

use super::EntryKey;
use crate::spiffe::{Entry, EntryId};

/// The namespace of the deterministic entry IDs: an ID is a name-based UUID of the entry key.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a0e_55b3_4c9e_9d37_0d7a_5e1b_83c4);

/// How the operator stands towards an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Created by this operator (its ID carries the operator's prefix).
    Owned,
    /// Created under a prefix the operator is configured to take over.
    Adoptable,
    /// Anything else: never modified or deleted.
    Foreign,
}

/// The ownership rules of one operator instance.
#[derive(Clone, Debug)]
pub struct Ownership {
    prefix: String,
    adopt: Vec<String>,
}

impl Ownership {
    /// `prefix` and `adopt` are given without the trailing `.`.
    pub fn new(prefix: impl Into<String>, adopt: Vec<String>) -> Self {
        Self { prefix: prefix.into(), adopt }
    }

    /// Decides whether the operator may touch an entry. Join-token agent entries are foreign
    /// whatever their ID.
    pub fn claim(&self, entry: &Entry) -> Claim {
        if is_join_token_entry(entry) {
            return Claim::Foreign;
        }
        let Some(id) = entry.id.as_ref().map(EntryId::as_str) else {
            return Claim::Foreign;
        };
        let under = |prefix: &str| id.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.') && rest.len() > 1);
        if under(&self.prefix) {
            Claim::Owned
        } else if self.adopt.iter().any(|p| under(p)) {
            Claim::Adoptable
        } else {
            Claim::Foreign
        }
    }

    /// The ID of a new entry: `<prefix>.<name-based UUID of the key>`. The same key always gets
    /// the same ID, so a create repeated after a crash finds its own entry.
    pub fn entry_id(&self, key: &EntryKey) -> EntryId {
        let uuid = Uuid::new_v5(&ID_NAMESPACE, &key.to_bytes());
        EntryId::parse(&format!("{}.{uuid}", self.prefix)).expect("a validated prefix and a UUID form a valid entry ID")
    }
}

/// Entries SPIRE creates for agents attested by join token: a parent under
/// `/spire/agent/join_token/` and a `spiffe_id` selector.
fn is_join_token_entry(entry: &Entry) -> bool {
    entry.parent_id.path().starts_with("/spire/agent/join_token/")
        && entry.selectors.iter().any(|s| s.kind() == "spiffe_id")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiffe::{Selector, SpiffeId};

    fn entry(id: &str, parent: &str, selector: &str) -> Entry {
        let mut e = Entry::new(
            SpiffeId::parse("spiffe://example.org/w").unwrap(),
            SpiffeId::parse(parent).unwrap(),
            vec![Selector::parse(selector).unwrap()],
        );
        e.id = Some(EntryId::parse(id).unwrap());
        e
    }

    #[test]
    fn claims_follow_the_id_prefix() {
        let ownership = Ownership::new("prod", vec!["scm".into()]);
        let parent = "spiffe://example.org/spire/agent/k8s_psat/c/n";
        let cases = [
            ("prod.1234", Claim::Owned),
            ("scm.abcd", Claim::Adoptable),
            ("production.1", Claim::Foreign),
            ("prod", Claim::Foreign),
            ("prod.", Claim::Foreign),
            ("0f8a-uuid", Claim::Foreign),
            ("other.1", Claim::Foreign),
        ];
        for (id, want) in cases {
            assert_eq!(ownership.claim(&entry(id, parent, "k8s:ns:a")), want, "{id}");
        }
    }

    #[test]
    fn join_token_entries_are_never_claimed() {
        let ownership = Ownership::new("prod", vec![]);
        let agent =
            entry("prod.1", "spiffe://example.org/spire/agent/join_token/abc", "spiffe_id:spiffe://example.org/x");
        assert_eq!(ownership.claim(&agent), Claim::Foreign);
        let not_token = entry("prod.1", "spiffe://example.org/spire/agent/join_token/abc", "k8s:ns:a");
        assert_eq!(ownership.claim(&not_token), Claim::Owned);
    }

    #[test]
    fn entry_ids_are_stable_per_key_and_carry_the_prefix() {
        let ownership = Ownership::new("prod", vec![]);
        let e = entry("prod.1", "spiffe://example.org/spire/agent/n", "k8s:ns:a");
        let key = EntryKey::of(&e);
        let id = ownership.entry_id(&key);
        assert_eq!(id, ownership.entry_id(&key));
        assert!(id.as_str().starts_with("prod."));
        let mut claimed = e.clone();
        claimed.id = Some(id.clone());
        assert_eq!(ownership.claim(&claimed), Claim::Owned);
        let other = EntryKey::of(&entry("prod.1", "spiffe://example.org/spire/agent/n", "k8s:ns:b"));
        assert_ne!(id, ownership.entry_id(&other));
    }
}
