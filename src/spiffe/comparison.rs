//! When two registration entries differ: one definition of equality per stored field, shared by
//! the planner (is an update needed?) and the periodic check (did someone change the entry?).
//!
//! SPIRE keeps some lists in an order of its own, so order counts only where it has a meaning:
//! - DNS names: the first one becomes the X509-SVID's subject common name, so its position
//!   matters; the others are subject alternative names and compare as a multiset;
//! - federated trust domains and selectors: sets;
//! - TTLs, `admin`, `downstream`, `store_svid`, `hint` and `expires_at`: exact values.
//!
//! Server-owned fields (`revision_number`, `created_at`) are never compared: a revision bump
//! alone is no change of what the entry grants.

use std::collections::BTreeSet;

use super::{Entry, EntryField, EntryMask};

/// The non-key fields in which `stored` differs from `desired`: what an update has to write to
/// bring `stored` in line. Key fields (SPIFFE ID, parent ID, selectors) are not compared, since
/// entries are matched on them.
pub fn differing_fields(desired: &Entry, stored: &Entry) -> EntryMask {
    let checks = [
        (EntryField::X509SvidTtl, desired.x509_svid_ttl != stored.x509_svid_ttl),
        (EntryField::JwtSvidTtl, desired.jwt_svid_ttl != stored.jwt_svid_ttl),
        (EntryField::FederatesWith, !same_federation(desired, stored)),
        (EntryField::Admin, desired.admin != stored.admin),
        (EntryField::Downstream, desired.downstream != stored.downstream),
        (EntryField::ExpiresAt, desired.expires_at != stored.expires_at),
        (EntryField::DnsNames, !same_dns_names(&desired.dns_names, &stored.dns_names)),
        (EntryField::StoreSvid, desired.store_svid != stored.store_svid),
        (EntryField::Hint, desired.hint != stored.hint),
    ];
    mask_of(checks)
}

/// The key fields in which two entries differ: SPIFFE ID, parent ID, and selectors as a set.
pub fn differing_key_fields(a: &Entry, b: &Entry) -> EntryMask {
    let checks = [
        (EntryField::SpiffeId, a.spiffe_id != b.spiffe_id),
        (EntryField::ParentId, a.parent_id != b.parent_id),
        (EntryField::Selectors, !same_selectors(a, b)),
    ];
    mask_of(checks)
}

/// Every stored field in which `now` differs from `known`, key fields included: what the
/// periodic check reports as a modified entry.
pub fn differing_stored_fields(known: &Entry, now: &Entry) -> EntryMask {
    differing_key_fields(known, now).union(differing_fields(known, now))
}

/// Whether two DNS name lists give the same SVIDs: the same first name, and the same other
/// names in any order (each as often).
pub fn same_dns_names(a: &[String], b: &[String]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        (Some((first_a, rest_a)), Some((first_b, rest_b))) => first_a == first_b && sorted(rest_a) == sorted(rest_b),
        _ => false,
    }
}

fn same_federation(a: &Entry, b: &Entry) -> bool {
    let set = |e: &Entry| e.federates_with.iter().map(|td| td.as_str().to_owned()).collect::<BTreeSet<_>>();
    set(a) == set(b)
}

fn same_selectors(a: &Entry, b: &Entry) -> bool {
    let set =
        |e: &Entry| e.selectors.iter().map(|s| (s.kind().to_owned(), s.value().to_owned())).collect::<BTreeSet<_>>();
    set(a) == set(b)
}

fn sorted(names: &[String]) -> Vec<&str> {
    let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
    names.sort_unstable();
    names
}

fn mask_of<const N: usize>(checks: [(EntryField, bool); N]) -> EntryMask {
    checks.into_iter().filter(|(_, differs)| *differs).map(|(field, _)| field).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiffe::{Selector, SpiffeId, TrustDomain};

    fn entry() -> Entry {
        let mut e = Entry::new(
            SpiffeId::parse("spiffe://example.org/web").unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/n").unwrap(),
            vec![Selector::parse("k8s:ns:shop").unwrap(), Selector::parse("k8s:sa:web").unwrap()],
        );
        e.dns_names = vec!["z.example".into(), "a.example".into(), "m.example".into()];
        e.federates_with = vec![TrustDomain::parse("x.org").unwrap(), TrustDomain::parse("y.org").unwrap()];
        e.x509_svid_ttl = 3600;
        e
    }

    fn only(field: EntryField) -> EntryMask {
        EntryMask::default().with(field)
    }

    #[test]
    fn reordered_dns_names_after_the_first_are_no_difference() {
        let mut now = entry();
        now.dns_names = vec!["z.example".into(), "m.example".into(), "a.example".into()];
        assert!(differing_stored_fields(&entry(), &now).is_empty());
    }

    #[test]
    fn another_first_dns_name_is_a_difference() {
        let mut now = entry();
        now.dns_names = vec!["a.example".into(), "z.example".into(), "m.example".into()];
        assert_eq!(differing_fields(&entry(), &now), only(EntryField::DnsNames));
        assert_eq!(differing_stored_fields(&entry(), &now), only(EntryField::DnsNames));
    }

    #[test]
    fn dns_names_compare_as_a_multiset() {
        let mut now = entry();
        now.dns_names.push("a.example".into());
        assert_eq!(differing_fields(&entry(), &now), only(EntryField::DnsNames));
        now.dns_names.clear();
        assert_eq!(differing_fields(&entry(), &now), only(EntryField::DnsNames));
        assert!(same_dns_names(&[], &[]));
    }

    #[test]
    fn reordered_federated_trust_domains_are_no_difference() {
        let mut now = entry();
        now.federates_with.reverse();
        assert!(differing_stored_fields(&entry(), &now).is_empty());
        now.federates_with.pop();
        assert_eq!(differing_stored_fields(&entry(), &now), only(EntryField::FederatesWith));
    }

    #[test]
    fn a_ttl_change_is_a_difference() {
        let mut now = entry();
        now.x509_svid_ttl = 60;
        assert_eq!(differing_stored_fields(&entry(), &now), only(EntryField::X509SvidTtl));
        now.jwt_svid_ttl = 1;
        let both = only(EntryField::X509SvidTtl).with(EntryField::JwtSvidTtl);
        assert_eq!(differing_fields(&entry(), &now), both);
    }

    #[test]
    fn scalar_fields_compare_exactly() {
        type Change = fn(&mut Entry);
        let changes: [(EntryField, Change); 5] = [
            (EntryField::Admin, |e| e.admin = true),
            (EntryField::Downstream, |e| e.downstream = true),
            (EntryField::StoreSvid, |e| e.store_svid = true),
            (EntryField::Hint, |e| e.hint = "h".into()),
            (EntryField::ExpiresAt, |e| e.expires_at = 1),
        ];
        for (field, change) in changes {
            let mut now = entry();
            change(&mut now);
            assert_eq!(differing_stored_fields(&entry(), &now), only(field), "{field:?}");
        }
    }

    #[test]
    fn server_owned_fields_are_no_difference() {
        let mut now = entry();
        now.revision_number = 4;
        now.created_at = 1_700_000_000;
        assert!(differing_stored_fields(&entry(), &now).is_empty());
    }

    #[test]
    fn key_fields_count_for_stored_fields_only() {
        let mut now = entry();
        now.selectors.reverse();
        assert!(differing_stored_fields(&entry(), &now).is_empty(), "selectors are a set");
        now.selectors.pop();
        now.spiffe_id = SpiffeId::parse("spiffe://example.org/db").unwrap();
        now.parent_id = SpiffeId::parse("spiffe://example.org/spire/agent/m").unwrap();
        let key: EntryMask = EntryField::KEY.into_iter().collect();
        assert_eq!(differing_key_fields(&entry(), &now), key);
        assert_eq!(differing_stored_fields(&entry(), &now), key);
        assert!(differing_fields(&entry(), &now).is_empty(), "the planner matches on the key");
    }
}
