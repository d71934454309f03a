//! Lenient listings: every entry or relationship SPIRE holds that the domain types accept, with
//! the few they refuse set aside and reported instead of failing the whole listing.
//!
//! SPIRE's own write rules differ in places from the operator's (see [`crate::spiffe`]), and
//! entries may be written by other tools or older servers, so one item the operator cannot read
//! must not keep it from loading everything else.

use super::{
    Error, FederationRelationship, ParseError, SpireClient,
    convert::{entry_from_proto, raw_spiffe_id, relationship_from_proto},
    entries::EntryFilter,
    proto::types,
};
use crate::spiffe::Entry;

/// An entry SPIRE listed that the domain types refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unparsed {
    /// The entry ID, as SPIRE sent it.
    pub id: String,
    /// The entry's SPIFFE ID, as SPIRE sent it (`spiffe://<trust domain><path>`; empty when
    /// absent).
    pub spiffe_id: String,
    pub reason: ParseError,
}

/// Every entry of a listing: the ones read, and the ones set aside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryListing {
    pub entries: Vec<Entry>,
    pub unparsed: Vec<Unparsed>,
}

impl EntryListing {
    /// The `kind` label of unparsed entries in metrics.
    pub const KIND: &'static str = "entry";

    /// Adds one wire entry to the listing, read or set aside.
    fn push(&mut self, wire: types::Entry) {
        let (id, spiffe_id) = (wire.id.clone(), raw_spiffe_id(wire.spiffe_id.as_ref()));
        match entry_from_proto(wire) {
            Ok(entry) => self.entries.push(entry),
            Err(reason) => self.unparsed.push(Unparsed { id, spiffe_id, reason }),
        }
    }
}

/// A federation relationship SPIRE listed that the domain types refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnparsedRelationship {
    /// The foreign trust domain, as SPIRE sent it.
    pub trust_domain: String,
    pub bundle_endpoint_url: String,
    pub reason: ParseError,
}

/// Every federation relationship of a listing: the ones read, and the ones set aside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelationshipListing {
    pub relationships: Vec<FederationRelationship>,
    pub unparsed: Vec<UnparsedRelationship>,
}

impl RelationshipListing {
    /// The `kind` label of unparsed relationships in metrics.
    pub const KIND: &'static str = "federation_relationship";

    /// Adds one wire relationship to the listing, read or set aside.
    fn push(&mut self, wire: types::FederationRelationship) {
        let (trust_domain, bundle_endpoint_url) = (wire.trust_domain.clone(), wire.bundle_endpoint_url.clone());
        match relationship_from_proto(wire) {
            Ok(relationship) => self.relationships.push(relationship),
            Err(reason) => self.unparsed.push(UnparsedRelationship { trust_domain, bundle_endpoint_url, reason }),
        }
    }
}

impl SpireClient {
    /// Lists every entry that matches `filter`, `page_size` entries per call. Entries the domain
    /// types refuse are returned apart in [`EntryListing::unparsed`]; only a failed call fails.
    pub async fn list_entries_lenient(&self, filter: &EntryFilter, page_size: i32) -> Result<EntryListing, Error> {
        let mut listing = EntryListing::default();
        let mut token = String::new();
        loop {
            let (page, next) = self.list_wire_entries_page(filter, page_size, token).await?;
            page.into_iter().for_each(|wire| listing.push(wire));
            if next.is_empty() {
                return Ok(listing);
            }
            token = next;
        }
    }

    /// Lists every federation relationship. Relationships the domain types refuse are returned
    /// apart in [`RelationshipListing::unparsed`]; only a failed call fails.
    pub async fn list_federation_relationships_lenient(&self) -> Result<RelationshipListing, Error> {
        let mut listing = RelationshipListing::default();
        let mut token = String::new();
        loop {
            let (page, next) = self.list_wire_relationships_page(token).await?;
            page.into_iter().for_each(|wire| listing.push(wire));
            if next.is_empty() {
                return Ok(listing);
            }
            token = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiffe;

    fn wire_id(path: &str) -> Option<types::Spiffeid> {
        Some(types::Spiffeid { trust_domain: "example.org".into(), path: path.into() })
    }

    fn wire_entry(id: &str, path: &str) -> types::Entry {
        types::Entry {
            id: id.into(),
            spiffe_id: wire_id(path),
            parent_id: wire_id("/spire/agent/n"),
            selectors: vec![types::Selector { r#type: "k8s".into(), value: "ns:default".into() }],
            ..Default::default()
        }
    }

    #[test]
    fn a_refused_entry_is_set_aside_with_its_raw_ids() {
        let mut listing = EntryListing::default();
        let mut long_federation = wire_entry("ss.2", "/db");
        long_federation.federates_with = vec![format!("spiffe://{}", "a".repeat(256))];
        for wire in [wire_entry("ss.1", "/web"), long_federation, wire_entry("ss.3", "/a b")] {
            listing.push(wire);
        }
        let read: Vec<&str> = listing.entries.iter().map(|e| e.id.as_ref().unwrap().as_str()).collect();
        assert_eq!(read, ["ss.1"]);
        assert_eq!(
            listing.unparsed,
            [
                Unparsed {
                    id: "ss.2".into(),
                    spiffe_id: "spiffe://example.org/db".into(),
                    reason: ParseError::Invalid { field: "federates_with", source: spiffe::Error::TrustDomainTooLong },
                },
                Unparsed {
                    id: "ss.3".into(),
                    spiffe_id: "spiffe://example.org/a b".into(),
                    reason: ParseError::Invalid { field: "spiffe_id", source: spiffe::Error::PathChar(' ') },
                },
            ]
        );
    }

    #[test]
    fn an_entry_without_spiffe_id_is_reported_with_an_empty_one() {
        let mut listing = EntryListing::default();
        listing.push(types::Entry { spiffe_id: None, ..wire_entry("ss.1", "/web") });
        assert_eq!(
            listing.unparsed,
            [Unparsed {
                id: "ss.1".into(),
                spiffe_id: String::new(),
                reason: ParseError::Missing { field: "spiffe_id" }
            }]
        );
    }

    #[test]
    fn a_refused_relationship_is_set_aside_with_its_trust_domain() {
        use types::federation_relationship::BundleEndpointProfile as Wire;
        let relationship = |td: &str, profile| types::FederationRelationship {
            trust_domain: td.into(),
            bundle_endpoint_url: "https://127.0.0.1:1".into(),
            bundle_endpoint_profile: profile,
            trust_domain_bundle: None,
        };
        let web = Some(Wire::HttpsWeb(types::HttpsWebProfile {}));
        let long = "b".repeat(256);
        let mut listing = RelationshipListing::default();
        listing.push(relationship("good.org", web.clone()));
        listing.push(relationship(&long, web));
        listing.push(relationship("none.org", None));
        assert_eq!(listing.relationships.len(), 1);
        assert_eq!(listing.relationships[0].trust_domain.as_str(), "good.org");
        let reasons: Vec<(&str, &ParseError)> =
            listing.unparsed.iter().map(|u| (u.trust_domain.as_str(), &u.reason)).collect();
        assert_eq!(
            reasons,
            [
                (
                    long.as_str(),
                    &ParseError::Invalid { field: "trust_domain", source: spiffe::Error::TrustDomainTooLong }
                ),
                ("none.org", &ParseError::Missing { field: "bundle_endpoint_profile" }),
            ]
        );
    }
}
