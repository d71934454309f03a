//! Planning: the changes that bring one scope of SPIRE in line with its declarations.

use std::collections::BTreeMap;

use super::{Claim, Declaration, EntryKey, Hold, Ownership, Resolved, Source};
use crate::{
    drift::DriftClass,
    spiffe::{self, Entry, EntryId, EntryMask},
};

/// An entry to create, with the ID the operator gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Create {
    pub entry: Entry,
    pub source: Source,
    /// Set by the pass when the write repairs drift (an entry changed behind the operator's
    /// back); None for a write the declarations call for.
    pub drift: Option<DriftClass>,
}

/// An entry to update in place: `entry` carries the existing ID and the declared values; only
/// the `mask` fields are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub entry: Entry,
    pub mask: EntryMask,
    pub source: Source,
    /// Set by the pass when the write repairs drift (an entry changed behind the operator's
    /// back); None for a write the declarations call for.
    pub drift: Option<DriftClass>,
}

/// Why an entry is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReason {
    /// Nothing declares it any more.
    Undeclared,
    /// Another owned entry with the same key is kept instead.
    Duplicate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    pub entry: Entry,
    pub reason: DeleteReason,
    /// Set by the pass when the write repairs drift (an entry changed behind the operator's
    /// back); None for a write the declarations call for.
    pub drift: Option<DriftClass>,
}

/// The changes for one scope, and what was deliberately left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub creates: Vec<Create>,
    pub updates: Vec<Update>,
    pub deletes: Vec<Delete>,
    /// Declared entries already as declared.
    pub in_sync: Vec<(EntryId, Source)>,
    /// Undeclared entries kept because an input that may have declared them is missing, with
    /// the resource that declared each when last planned, if known.
    pub kept: Vec<(Entry, Option<String>)>,
    /// Declarations that an entry the operator does not own already realises; it is neither
    /// changed nor duplicated.
    pub foreign_conflicts: Vec<(Declaration, EntryId)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }
}

/// The writable fields in which `actual` differs from `desired`, by the one definition of
/// equality of [`spiffe::differing_fields`]: DNS names keep their first name in place and
/// compare the rest as a multiset, federated trust domains compare as a set.
pub fn differing_fields(desired: &Entry, actual: &Entry) -> EntryMask {
    spiffe::differing_fields(desired, actual)
}

/// Plans one scope. `actual` holds every SPIRE entry of the scope, whoever owns it; entries the
/// operator does not own are never changed. `hold` says which undeclared entries a missing input
/// keeps, judged by `declared_by`: the UID of the resource that declared an entry when last
/// planned, if known.
pub fn plan_scope(
    resolved: &Resolved,
    actual: &[Entry],
    hold: &Hold,
    declared_by: &dyn Fn(&EntryId) -> Option<String>,
    ownership: &Ownership,
) -> Plan {
    let mut by_key: BTreeMap<EntryKey, Vec<(&Entry, Claim)>> = BTreeMap::new();
    for entry in actual {
        by_key.entry(EntryKey::of(entry)).or_default().push((entry, ownership.claim(entry)));
    }
    let mut plan = Plan::default();
    for (key, declaration) in &resolved.winners {
        let mut existing = by_key.remove(key).unwrap_or_default();
        // Keep an owned entry over an adopted one, then the lowest ID, so the choice is stable.
        existing.sort_by_key(|(entry, claim)| (*claim != Claim::Owned, entry.id.clone()));
        let (mine, foreign): (Vec<_>, Vec<_>) = existing.into_iter().partition(|(_, c)| *c != Claim::Foreign);
        let mut mine = mine.into_iter();
        match mine.next() {
            Some((current, _)) => {
                let id = current.id.clone().expect("entries read from SPIRE have IDs");
                let mask = differing_fields(&declaration.entry, current);
                if mask.is_empty() {
                    plan.in_sync.push((id, declaration.source.clone()));
                } else {
                    let mut entry = declaration.entry.clone();
                    entry.id = Some(id);
                    plan.updates.push(Update { entry, mask, source: declaration.source.clone(), drift: None });
                }
            }
            None => match foreign.first() {
                Some((entry, _)) => plan
                    .foreign_conflicts
                    .push((declaration.clone(), entry.id.clone().expect("entries read from SPIRE have IDs"))),
                None => {
                    let mut entry = declaration.entry.clone();
                    entry.id = Some(ownership.entry_id(key));
                    plan.creates.push(Create { entry, source: declaration.source.clone(), drift: None });
                }
            },
        }
        plan.deletes.extend(mine.map(|(entry, _)| Delete {
            entry: entry.clone(),
            reason: DeleteReason::Duplicate,
            drift: None,
        }));
    }
    // An owned entry left undeclared under the very ID a declaration would be created with had
    // its key fields (SPIFFE ID, parent ID, selectors) edited behind the operator's back. It is
    // written back in place, one update, instead of being deleted and created again under its
    // own ID, which SPIRE refuses while the edited entry stands.
    let undeclared: Vec<&Entry> =
        by_key.into_values().flatten().filter(|(_, claim)| *claim != Claim::Foreign).map(|(e, _)| e).collect();
    let mut rekeyed = Vec::new();
    for create in std::mem::take(&mut plan.creates) {
        match undeclared.iter().find(|e| e.id.is_some() && e.id == create.entry.id) {
            Some(edited) => {
                rekeyed.push(create.entry.id.clone());
                let mask = spiffe::differing_stored_fields(&create.entry, edited);
                plan.updates.push(Update { entry: create.entry, mask, source: create.source, drift: None });
            }
            None => plan.creates.push(create),
        }
    }
    for entry in undeclared.into_iter().filter(|e| !rekeyed.contains(&e.id)) {
        let owner = entry.id.as_ref().and_then(declared_by);
        if hold.keeps(owner.as_deref()) {
            plan.kept.push((entry.clone(), owner));
        } else {
            plan.deletes.push(Delete { entry: entry.clone(), reason: DeleteReason::Undeclared, drift: None });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        reconcile::{SourceKind, resolve},
        spiffe::{EntryField, Selector, SpiffeId, TrustDomain},
    };

    fn ownership() -> Ownership {
        Ownership::new("ss", vec!["scm".into()])
    }

    fn source(uid: &str) -> Source {
        Source {
            kind: SourceKind::ClusterSPIFFEID,
            name: uid.into(),
            uid: uid.into(),
            created_at: 1,
            deleting_at: None,
        }
    }

    fn entry(path: &str) -> Entry {
        Entry::new(
            SpiffeId::parse(&format!("spiffe://example.org/{path}")).unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/n").unwrap(),
            vec![Selector::parse("k8s:pod-uid:p1").unwrap()],
        )
    }

    fn stored(path: &str, id: &str) -> Entry {
        let mut e = entry(path);
        e.id = Some(EntryId::parse(id).unwrap());
        e.revision_number = 3;
        e.created_at = 100;
        e
    }

    fn plan(resolved: &Resolved, actual: &[Entry], hold: &Hold) -> Plan {
        plan_scope(resolved, actual, hold, &|_| None, &ownership())
    }

    fn declared(paths: &[&str]) -> Resolved {
        resolve(paths.iter().map(|p| Declaration { entry: entry(p), source: source("csid") }))
    }

    #[test]
    fn a_new_declaration_is_created_with_a_prefixed_id() {
        let plan = plan(&declared(&["web"]), &[], &Hold::Nothing);
        assert_eq!(plan.creates.len(), 1);
        let id = plan.creates[0].entry.id.as_ref().unwrap();
        assert!(id.as_str().starts_with("ss."), "{id}");
        assert!(plan.updates.is_empty() && plan.deletes.is_empty());
    }

    #[test]
    fn an_entry_as_declared_is_left_alone() {
        let plan = plan(&declared(&["web"]), &[stored("web", "ss.1")], &Hold::Nothing);
        assert!(plan.is_empty(), "{plan:?}");
        assert_eq!(plan.in_sync, vec![(EntryId::parse("ss.1").unwrap(), source("csid"))]);
    }

    #[test]
    fn only_differing_fields_are_updated() {
        let mut resolved = declared(&["web"]);
        let d = resolved.winners.values_mut().next().unwrap();
        d.entry.hint = "web".into();
        d.entry.x509_svid_ttl = 60;
        let plan = plan(&resolved, &[stored("web", "ss.1")], &Hold::Nothing);
        assert_eq!(plan.updates.len(), 1);
        let update = &plan.updates[0];
        assert_eq!(update.entry.id.as_ref().unwrap().as_str(), "ss.1");
        let want: EntryMask = [EntryField::Hint, EntryField::X509SvidTtl].into_iter().collect();
        assert_eq!(update.mask, want);
    }

    #[test]
    fn reordered_sets_are_not_differences() {
        let mut desired = entry("w");
        desired.dns_names = vec!["a".into(), "b".into(), "c".into()];
        desired.federates_with = vec![TrustDomain::parse("x.org").unwrap(), TrustDomain::parse("y.org").unwrap()];
        let mut actual = desired.clone();
        actual.dns_names[1..].reverse();
        actual.federates_with.reverse();
        actual.revision_number = 9;
        actual.created_at = 5;
        assert!(differing_fields(&desired, &actual).is_empty());
        actual.dns_names.push("b".into());
        assert!(differing_fields(&desired, &actual).contains(EntryField::DnsNames), "a multiset, not a set");
    }

    #[test]
    fn another_first_dns_name_is_a_difference() {
        let mut desired = entry("w");
        desired.dns_names = vec!["a".into(), "b".into()];
        let mut actual = desired.clone();
        actual.dns_names.reverse();
        let want: EntryMask = [EntryField::DnsNames].into_iter().collect();
        assert_eq!(differing_fields(&desired, &actual), want, "the first name is the common name");
    }

    #[test]
    fn an_owned_entry_with_key_fields_edited_under_the_declared_id_is_updated_in_place() {
        let resolved = declared(&["web"]);
        let id = ownership().entry_id(resolved.winners.keys().next().unwrap());
        let mut edited = stored("hijacked", id.as_str());
        edited.selectors = vec![Selector::parse("k8s:pod-uid:p2").unwrap()];
        edited.x509_svid_ttl = 7;
        let plan = plan(&resolved, &[edited], &Hold::Nothing);
        assert!(plan.creates.is_empty() && plan.deletes.is_empty(), "{plan:?}");
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.updates[0].entry.id.as_ref(), Some(&id));
        assert_eq!(plan.updates[0].entry.spiffe_id, entry("web").spiffe_id);
        let want: EntryMask =
            [EntryField::SpiffeId, EntryField::Selectors, EntryField::X509SvidTtl].into_iter().collect();
        assert_eq!(plan.updates[0].mask, want);
        // Another ID: a create and a delete, as for any undeclared entry.
        let plan = plan_scope(&resolved, &[stored("hijacked", "ss.other")], &Hold::Nothing, &|_| None, &ownership());
        assert_eq!((plan.creates.len(), plan.updates.len(), plan.deletes.len()), (1, 0, 1));
    }

    #[test]
    fn undeclared_owned_entries_are_deleted_when_the_scope_is_complete() {
        let actual = [stored("old", "ss.1"), stored("adopted", "scm.2"), stored("manual", "other.3")];
        let plan = plan(&declared(&[]), &actual, &Hold::Nothing);
        let mut deleted: Vec<&str> = plan.deletes.iter().map(|d| d.entry.id.as_ref().unwrap().as_str()).collect();
        deleted.sort_unstable();
        assert_eq!(deleted, ["scm.2", "ss.1"], "a foreign entry is never deleted");
        assert!(plan.deletes.iter().all(|d| d.reason == DeleteReason::Undeclared));
    }

    #[test]
    fn nothing_is_deleted_when_the_scope_is_incomplete() {
        let actual = [stored("old", "ss.1"), stored("web", "ss.2")];
        let plan = plan(&declared(&["web", "new"]), &actual, &Hold::Everything);
        assert!(plan.deletes.is_empty());
        assert_eq!(plan.kept, vec![(stored("old", "ss.1"), None)]);
        assert_eq!(plan.creates.len(), 1, "what is known is still created");
    }

    #[test]
    fn a_hold_on_one_source_keeps_only_its_entries() {
        // Pod relabelled out of identity "a" while identity "b" fails to render for it.
        let actual = [stored("from-a", "ss.1"), stored("from-b", "ss.2"), stored("unknown", "ss.3")];
        let owners = |id: &EntryId| match id.as_str() {
            "ss.1" => Some("a".to_string()),
            "ss.2" => Some("b".to_string()),
            _ => None,
        };
        let plan = plan_scope(&declared(&[]), &actual, &Hold::source("b"), &owners, &ownership());
        let deleted: Vec<&str> = plan.deletes.iter().map(|d| d.entry.id.as_ref().unwrap().as_str()).collect();
        assert_eq!(deleted, ["ss.1"], "what a healthy identity stopped declaring goes");
        let kept: Vec<(&str, Option<&str>)> =
            plan.kept.iter().map(|(e, o)| (e.id.as_ref().unwrap().as_str(), o.as_deref())).collect();
        assert_eq!(kept, [("ss.2", Some("b")), ("ss.3", None)], "the failing identity's and unknown ones stay");
    }

    #[test]
    fn an_adoptable_entry_is_taken_over_in_place() {
        let plan = plan(&declared(&["web"]), &[stored("web", "scm.7")], &Hold::Nothing);
        assert!(plan.creates.is_empty() && plan.deletes.is_empty());
        assert_eq!(plan.in_sync[0].0.as_str(), "scm.7");
    }

    #[test]
    fn duplicates_keep_the_owned_entry() {
        let plan = plan(&declared(&["web"]), &[stored("web", "scm.7"), stored("web", "ss.9")], &Hold::Nothing);
        assert_eq!(plan.in_sync[0].0.as_str(), "ss.9");
        assert_eq!(plan.deletes.len(), 1);
        assert_eq!(plan.deletes[0].entry.id.as_ref().unwrap().as_str(), "scm.7");
        assert_eq!(plan.deletes[0].reason, DeleteReason::Duplicate);
    }

    #[test]
    fn a_foreign_entry_with_the_same_key_is_neither_changed_nor_duplicated() {
        let mut resolved = declared(&["web"]);
        resolved.winners.values_mut().next().unwrap().entry.hint = "differs".into();
        let plan = plan(&resolved, &[stored("web", "manual.1")], &Hold::Nothing);
        assert!(plan.is_empty(), "{plan:?}");
        assert_eq!(plan.foreign_conflicts.len(), 1);
        assert_eq!(plan.foreign_conflicts[0].1.as_str(), "manual.1");
    }
}
