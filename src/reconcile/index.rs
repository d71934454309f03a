//! The operator's picture of SPIRE: every entry it may touch, by ID and by scope. Loaded by one
//! paginated listing at start, kept current by the operator's own writes, and compared with a
//! fresh listing by the periodic check to find changes made behind the operator's back.

use std::collections::{BTreeMap, BTreeSet};

use super::{Claim, Ownership, Scope, Source};
use crate::spiffe::{Entry, EntryId, differing_stored_fields, same_dns_names};

/// Entries the operator owns or may adopt, indexed by ID and by scope.
#[derive(Clone, Debug, Default)]
pub struct EntryIndex {
    entries: BTreeMap<EntryId, Entry>,
    by_scope: BTreeMap<Scope, BTreeSet<EntryId>>,
    /// Foreign entries by scope: never written, but consulted so that a declaration an existing
    /// foreign entry already realises is not created twice.
    foreign: BTreeMap<Scope, Vec<Entry>>,
    /// The resource that declared each entry when it was last planned, so that logs and failed
    /// deletes can name it. Learnt from plans, so empty for an entry nothing declares any more
    /// since this process started.
    owners: BTreeMap<EntryId, Source>,
    /// Entries (owned or adoptable) whose selectors were edited behind the operator's back into
    /// another scope, with the scope the operator wrote them to: they stay there, so that the
    /// scope that declares them writes them back (or deletes them) and no other scope deletes
    /// them first.
    homes: BTreeMap<EntryId, Scope>,
}

/// How SPIRE differs from the index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drift {
    /// Entries the index holds that SPIRE no longer has.
    pub missing: Vec<Entry>,
    /// Entries SPIRE holds with other values than the index: (index, SPIRE). Values compare
    /// by [`differing_stored_fields`], so neither a list SPIRE reordered nor a revision bump
    /// alone is a modification.
    pub modified: Vec<(Entry, Entry)>,
    /// Entries under the operator's prefixes that the index does not know.
    pub unexpected: Vec<Entry>,
    /// Scopes whose foreign entries came, went or changed: what they stand in for may differ.
    pub foreign: BTreeSet<Scope>,
    /// The scopes the index plans modified or missing entries in, when not the one of their
    /// selectors ([`EntryIndex::keep_home`]).
    pub homes: BTreeSet<Scope>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.modified.is_empty() && self.unexpected.is_empty() && self.foreign.is_empty()
    }

    /// Whether entries the operator owns changed (as opposed to foreign ones only).
    pub fn touches_owned(&self) -> bool {
        !(self.missing.is_empty() && self.modified.is_empty() && self.unexpected.is_empty())
    }

    /// Every scope the drift touches, to be planned again: for a modified entry both the scope
    /// it was known in and the one its selectors now put it in.
    pub fn scopes(&self) -> BTreeSet<Scope> {
        self.missing
            .iter()
            .chain(self.modified.iter().flat_map(|(known, now)| [known, now]))
            .chain(&self.unexpected)
            .map(Scope::of)
            .chain(self.foreign.iter().cloned())
            .chain(self.homes.iter().cloned())
            .collect()
    }
}

impl EntryIndex {
    /// Builds the index from a full listing of SPIRE.
    pub fn from_listing(entries: impl IntoIterator<Item = Entry>, ownership: &Ownership) -> Self {
        let mut index = Self::default();
        for entry in entries {
            match ownership.claim(&entry) {
                Claim::Foreign => index.foreign.entry(Scope::of(&entry)).or_default().push(entry),
                Claim::Owned | Claim::Adoptable => index.insert(entry),
            }
        }
        index
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, id: &EntryId) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// Every entry of a scope, the foreign ones included, as the planner takes them.
    pub fn scope(&self, scope: &Scope) -> Vec<Entry> {
        let mine = self.by_scope.get(scope).into_iter().flatten().filter_map(|id| self.entries.get(id));
        mine.chain(self.foreign.get(scope).into_iter().flatten()).cloned().collect()
    }

    /// Every scope that holds an entry the operator may touch.
    pub fn scopes(&self) -> impl Iterator<Item = &Scope> {
        self.by_scope.keys()
    }

    /// Records a foreign entry found where the operator meant to create one of the same key.
    pub fn insert_foreign(&mut self, entry: Entry) {
        let known = self.foreign.entry(Scope::of(&entry)).or_default();
        known.retain(|e| e.id != entry.id);
        known.push(entry);
    }

    /// Records an entry SPIRE now holds (after a create or update), in the form SPIRE stores,
    /// in the scope its selectors put it in. A write answer may list DNS names in another order
    /// than SPIRE keeps them; when they are the same names by [`same_dns_names`], the order
    /// already indexed (as SPIRE listed or stored it) is kept.
    pub fn insert(&mut self, mut entry: Entry) {
        let id = entry.id.clone().expect("indexed entries have IDs");
        if let Some(previous) = self.entries.get(&id) {
            if same_dns_names(&previous.dns_names, &entry.dns_names) {
                entry.dns_names.clone_from(&previous.dns_names);
            }
            self.unlist(&id);
        }
        self.homes.remove(&id);
        self.by_scope.entry(Scope::of(&entry)).or_default().insert(id.clone());
        self.entries.insert(id, entry);
    }

    /// The scope an indexed entry is planned in: the one it was written to when its selectors
    /// were edited into another behind the operator's back, else the one they put it in.
    pub fn scope_of(&self, id: &EntryId) -> Option<Scope> {
        self.homes.get(id).cloned().or_else(|| self.entries.get(id).map(Scope::of))
    }

    /// Keeps an indexed entry in `home`, the scope the operator wrote it to, while SPIRE holds
    /// it with selectors of another scope. When its selectors are those of `home`, it goes back
    /// to its own scope with no home kept; nothing changes when the index does not hold it.
    pub fn keep_home(&mut self, id: &EntryId, home: Scope) {
        let Some(own) = self.entries.get(id).map(Scope::of) else { return };
        if self.scope_of(id).as_ref() == Some(&home) {
            return;
        }
        self.unlist(id);
        if own == home {
            self.homes.remove(id);
        } else {
            self.homes.insert(id.clone(), home.clone());
        }
        self.by_scope.entry(home).or_default().insert(id.clone());
    }

    /// Takes an entry out of its scope's list (not out of the index).
    fn unlist(&mut self, id: &EntryId) {
        let Some(scope) = self.scope_of(id) else { return };
        if let Some(ids) = self.by_scope.get_mut(&scope) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_scope.remove(&scope);
            }
        }
    }

    /// Records which resource declares an entry the index holds.
    pub fn set_owner(&mut self, id: &EntryId, source: &Source) {
        if self.entries.contains_key(id) && self.owners.get(id) != Some(source) {
            self.owners.insert(id.clone(), source.clone());
        }
    }

    /// The resource that declared the entry when it was last planned, if known.
    /// The resources that declared the indexed entries, when known; one per entry.
    pub fn owners(&self) -> impl Iterator<Item = &Source> {
        self.owners.values()
    }

    pub fn owner(&self, id: &EntryId) -> Option<&Source> {
        self.owners.get(id)
    }

    /// Forgets an entry SPIRE no longer holds.
    pub fn remove(&mut self, id: &EntryId) -> Option<Entry> {
        self.owners.remove(id);
        self.unlist(id);
        self.homes.remove(id);
        self.entries.remove(id)
    }

    /// Compares the index with a fresh listing of SPIRE. An entry is modified when one of its
    /// stored fields differs by [`differing_stored_fields`]; the revision number alone (an edit
    /// that wrote the same values back) changes nothing an SVID is made of and is not drift.
    pub fn drift(&self, listing: &[Entry], ownership: &Ownership) -> Drift {
        let mut drift = Drift::default();
        let mut seen = BTreeSet::new();
        let mut foreign_now: BTreeMap<Scope, Vec<&Entry>> = BTreeMap::new();
        for now in listing.iter().filter(|e| ownership.claim(e) == Claim::Foreign) {
            foreign_now.entry(Scope::of(now)).or_default().push(now);
        }
        let by_id = |entries: &mut Vec<&Entry>| entries.sort_by(|a, b| a.id.cmp(&b.id));
        for (scope, now) in &mut foreign_now {
            by_id(now);
            let mut known: Vec<&Entry> = self.foreign.get(scope).into_iter().flatten().collect();
            by_id(&mut known);
            if !same_entries(&known, now) {
                drift.foreign.insert(scope.clone());
            }
        }
        drift.foreign.extend(self.foreign.keys().filter(|s| !foreign_now.contains_key(*s)).cloned());
        for now in listing.iter().filter(|e| ownership.claim(e) != Claim::Foreign) {
            let id = now.id.clone().expect("listed entries have IDs");
            match self.entries.get(&id) {
                None => drift.unexpected.push(now.clone()),
                Some(known) if !differing_stored_fields(known, now).is_empty() => {
                    if let Some(home) = self.homes.get(&id) {
                        drift.homes.insert(home.clone());
                    }
                    drift.modified.push((known.clone(), now.clone()))
                }
                Some(_) => {}
            }
            seen.insert(id);
        }
        drift.missing = self.entries.iter().filter(|(id, _)| !seen.contains(*id)).map(|(_, e)| e.clone()).collect();
        let gone_homes = drift.missing.iter().filter_map(|e| self.homes.get(e.id.as_ref()?)).cloned();
        drift.homes.extend(gone_homes.collect::<Vec<_>>());
        drift
    }

    /// Replaces the index with a fresh listing, as the periodic check does after reporting drift.
    /// Owners stay known for the entries that are still there, and every entry stays in the
    /// scope it was known in: one whose selectors were edited into another scope is planned
    /// where the operator wrote it ([`EntryIndex::keep_home`]).
    pub fn reload(&mut self, listing: Vec<Entry>, ownership: &Ownership) {
        let mut owners = std::mem::take(&mut self.owners);
        let known: Vec<(EntryId, Scope)> =
            self.entries.keys().filter_map(|id| Some((id.clone(), self.scope_of(id)?))).collect();
        *self = Self::from_listing(listing, ownership);
        owners.retain(|id, _| self.entries.contains_key(id));
        self.owners = owners;
        for (id, scope) in known {
            self.keep_home(&id, scope);
        }
    }
}

/// Whether two lists of entries, sorted by ID, hold the same entries with the same stored values.
fn same_entries(known: &[&Entry], now: &[&Entry]) -> bool {
    known.len() == now.len()
        && known.iter().zip(now).all(|(k, n)| k.id == n.id && differing_stored_fields(k, n).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiffe::{Selector, SpiffeId, TrustDomain};

    fn ownership() -> Ownership {
        Ownership::new("ss", vec![])
    }

    fn entry(id: &str, pod: &str) -> Entry {
        let mut e = Entry::new(
            SpiffeId::parse(&format!("spiffe://example.org/{pod}")).unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/n").unwrap(),
            vec![Selector::parse(&format!("k8s:pod-uid:{pod}")).unwrap()],
        );
        e.id = Some(EntryId::parse(id).unwrap());
        e
    }

    #[test]
    fn listing_splits_owned_and_foreign_by_scope() {
        let index =
            EntryIndex::from_listing([entry("ss.1", "p1"), entry("ss.2", "p2"), entry("x.3", "p1")], &ownership());
        assert_eq!(index.len(), 2);
        let p1 = index.scope(&Scope::Pod("p1".into()));
        assert_eq!(p1.len(), 2, "the foreign entry is visible to the planner");
        assert_eq!(index.scopes().count(), 2);
    }

    #[test]
    fn writes_keep_the_index_current() {
        let mut index = EntryIndex::default();
        index.insert(entry("ss.1", "p1"));
        let mut moved = entry("ss.1", "p2");
        moved.hint = "h".into();
        index.insert(moved.clone());
        assert!(index.scope(&Scope::Pod("p1".into())).is_empty());
        assert_eq!(index.scope(&Scope::Pod("p2".into())), vec![moved]);
        assert!(index.remove(&EntryId::parse("ss.1").unwrap()).is_some());
        assert!(index.is_empty());
        assert_eq!(index.scopes().count(), 0);
    }

    #[test]
    fn drift_finds_missing_modified_and_unexpected_entries() {
        let index = EntryIndex::from_listing([entry("ss.1", "p1"), entry("ss.2", "p2")], &ownership());
        let mut edited = entry("ss.2", "p2");
        edited.x509_svid_ttl = 1;
        edited.revision_number = 1;
        let listing = [edited.clone(), entry("ss.9", "p9"), entry("manual.1", "p1")];
        let drift = index.drift(&listing, &ownership());
        assert_eq!(drift.missing, vec![entry("ss.1", "p1")]);
        assert_eq!(drift.modified, vec![(entry("ss.2", "p2"), edited)]);
        assert_eq!(drift.unexpected, vec![entry("ss.9", "p9")]);
        let scopes: Vec<Scope> = drift.scopes().into_iter().collect();
        assert_eq!(scopes, [Scope::Pod("p1".into()), Scope::Pod("p2".into()), Scope::Pod("p9".into())]);
    }

    #[test]
    fn owners_are_kept_for_entries_the_index_holds() {
        let owner = Source {
            kind: crate::reconcile::SourceKind::ClusterSPIFFEID,
            name: "web".into(),
            uid: "u1".into(),
            created_at: 1,
            deleting_at: None,
        };
        let (one, two, nine) =
            (EntryId::parse("ss.1").unwrap(), EntryId::parse("ss.2").unwrap(), EntryId::parse("ss.9").unwrap());
        let mut index = EntryIndex::from_listing([entry("ss.1", "p1"), entry("ss.2", "p2")], &ownership());
        index.set_owner(&one, &owner);
        index.set_owner(&two, &owner);
        index.set_owner(&nine, &owner);
        assert_eq!(index.owner(&one), Some(&owner));
        assert_eq!(index.owner(&nine), None, "no owner for an entry the index does not hold");
        index.reload(vec![entry("ss.1", "p1")], &ownership());
        assert_eq!(index.owner(&one), Some(&owner), "a reload keeps what it can");
        assert_eq!(index.owner(&two), None);
        index.remove(&one);
        assert_eq!(index.owner(&one), None);
    }

    #[test]
    fn foreign_entries_that_come_or_go_are_drift_of_their_scope() {
        let index = EntryIndex::from_listing([entry("ss.1", "p1"), entry("x.1", "p1")], &ownership());
        let drift = index.drift(&[entry("ss.1", "p1")], &ownership());
        assert!(!drift.touches_owned());
        assert_eq!(drift.scopes().into_iter().collect::<Vec<_>>(), [Scope::Pod("p1".into())]);
        let drift = index.drift(&[entry("ss.1", "p1"), entry("x.1", "p1"), entry("x.2", "p2")], &ownership());
        assert_eq!(drift.scopes().into_iter().collect::<Vec<_>>(), [Scope::Pod("p2".into())]);
        assert!(index.drift(&[entry("x.1", "p1"), entry("ss.1", "p1")], &ownership()).is_empty());
    }

    #[test]
    fn an_update_keeps_the_indexed_order_of_the_same_dns_names() {
        let mut index = EntryIndex::from_listing([rich("ss.1")], &ownership());
        let mut answer = rich("ss.1");
        answer.dns_names[1..].reverse();
        answer.hint = "h".into();
        index.insert(answer);
        let held = index.get(&EntryId::parse("ss.1").unwrap()).unwrap();
        assert_eq!(held.dns_names, rich("ss.1").dns_names, "as SPIRE listed them");
        assert_eq!(held.hint, "h");
        let mut renamed = rich("ss.1");
        renamed.dns_names.swap(0, 1);
        index.insert(renamed.clone());
        assert_eq!(index.get(&EntryId::parse("ss.1").unwrap()).unwrap().dns_names, renamed.dns_names);
    }

    #[test]
    fn a_foreign_entry_met_on_create_is_remembered_once() {
        let mut index = EntryIndex::default();
        index.insert_foreign(entry("x.1", "p1"));
        index.insert_foreign(entry("x.1", "p1"));
        assert_eq!(index.scope(&Scope::Pod("p1".into())), vec![entry("x.1", "p1")]);
        assert!(index.is_empty(), "foreign entries are not the operator's");
    }

    /// An entry with three DNS names and two federated trust domains, as the index knows it.
    fn rich(id: &str) -> Entry {
        let mut e = entry(id, "p1");
        e.dns_names = vec!["z.example".into(), "a.example".into(), "m.example".into()];
        e.federates_with = vec![TrustDomain::parse("x.org").unwrap(), TrustDomain::parse("y.org").unwrap()];
        e.x509_svid_ttl = 3600;
        e
    }

    fn modified_after(change: impl Fn(&mut Entry)) -> Vec<(Entry, Entry)> {
        let index = EntryIndex::from_listing([rich("ss.1")], &ownership());
        let mut now = rich("ss.1");
        change(&mut now);
        index.drift(&[now], &ownership()).modified
    }

    #[test]
    fn reordered_dns_names_after_the_first_are_not_drift() {
        assert!(modified_after(|e| e.dns_names[1..].reverse()).is_empty());
    }

    #[test]
    fn another_first_dns_name_is_drift() {
        assert_eq!(modified_after(|e| e.dns_names.swap(0, 1)).len(), 1);
    }

    #[test]
    fn reordered_federated_trust_domains_are_not_drift() {
        assert!(modified_after(|e| e.federates_with.reverse()).is_empty());
    }

    #[test]
    fn a_ttl_change_is_drift() {
        let modified = modified_after(|e| e.x509_svid_ttl = 60);
        assert_eq!(modified.len(), 1);
        assert_eq!(modified[0].1.x509_svid_ttl, 60, "the pair carries what SPIRE holds now");
    }

    #[test]
    fn a_revision_bump_alone_is_not_drift() {
        assert!(modified_after(|e| e.revision_number += 1).is_empty());
    }

    #[test]
    fn foreign_entries_compare_by_the_same_definition() {
        let mut foreign = rich("x.1");
        let index = EntryIndex::from_listing([foreign.clone()], &ownership());
        foreign.federates_with.reverse();
        foreign.revision_number = 2;
        assert!(index.drift(std::slice::from_ref(&foreign), &ownership()).is_empty());
        foreign.hint = "changed".into();
        assert_eq!(index.drift(&[foreign], &ownership()).foreign.len(), 1);
    }

    #[test]
    fn an_entry_whose_selectors_were_edited_into_another_scope_stays_where_it_was_written() {
        let (p1, p2) = (Scope::Pod("p1".into()), Scope::Pod("p2".into()));
        let id = EntryId::parse("ss.1").unwrap();
        let mut index = EntryIndex::from_listing([entry("ss.1", "p1")], &ownership());
        let listing = [entry("ss.1", "p2")];
        let drift = index.drift(&listing, &ownership());
        assert_eq!(drift.modified.len(), 1);
        assert_eq!(drift.scopes(), [p1.clone(), p2.clone()].into(), "both scopes are planned again");
        index.reload(listing.to_vec(), &ownership());
        assert_eq!(index.scope_of(&id), Some(p1.clone()));
        assert_eq!(index.scope(&p1), vec![entry("ss.1", "p2")], "planned where it was written, as SPIRE holds it");
        assert!(index.scope(&p2).is_empty(), "the other pod's scope does not see it");

        // Edited again: still planned at home, and the home scope is planned again.
        let again = [entry("ss.1", "p3")];
        let drift = index.drift(&again, &ownership());
        assert!(drift.scopes().contains(&p1), "{:?}", drift.scopes());
        index.reload(again.to_vec(), &ownership());
        assert_eq!(index.scope_of(&id), Some(p1.clone()));
        // Deleted behind the operator's back: its home is planned again.
        assert!(index.drift(&[], &ownership()).scopes().contains(&p1));

        // Written back: in its own scope again, with no home kept.
        index.insert(entry("ss.1", "p1"));
        assert_eq!(index.scope(&p1).len(), 1);
        index.keep_home(&id, p1.clone());
        index.reload(vec![entry("ss.1", "p1")], &ownership());
        assert_eq!(index.scope_of(&id), Some(p1.clone()));
        // Removed: gone from its home too.
        index.keep_home(&id, p2.clone());
        assert_eq!(index.scope(&p2).len(), 1);
        index.remove(&id);
        assert!(index.scope(&p1).is_empty() && index.scope(&p2).is_empty() && index.scopes().next().is_none());
        index.keep_home(&id, p2.clone());
        assert!(index.scope_of(&id).is_none(), "nothing is kept for an entry the index does not hold");
    }

    #[test]
    fn no_drift_when_spire_matches() {
        let listing = [entry("ss.1", "p1")];
        let index = EntryIndex::from_listing(listing.clone(), &ownership());
        assert!(index.drift(&listing, &ownership()).is_empty());
    }
}
