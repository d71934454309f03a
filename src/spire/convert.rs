//! Conversions between wire messages and the validated domain types.

use crate::{
    spiffe::{
        Bundle, BundleEndpointProfile, Entry, EntryField, EntryId, EntryMask, FederationRelationship, JwtKey,
        RelationshipMask, Selector, SpiffeId, TrustDomain,
    },
    spire::{ParseError, proto::types},
};

pub(super) fn spiffe_id_to_proto(id: &SpiffeId) -> types::Spiffeid {
    types::Spiffeid { trust_domain: id.trust_domain().as_str().to_owned(), path: id.path().to_owned() }
}

/// A SPIFFE ID as SPIRE sent it, unparsed: `spiffe://<trust domain><path>`, or empty when absent.
pub(super) fn raw_spiffe_id(id: Option<&types::Spiffeid>) -> String {
    id.map(|id| format!("spiffe://{}{}", id.trust_domain, id.path)).unwrap_or_default()
}

fn spiffe_id_from_proto(id: Option<types::Spiffeid>, field: &'static str) -> Result<SpiffeId, ParseError> {
    let id = id.ok_or(ParseError::Missing { field })?;
    SpiffeId::from_parts(&id.trust_domain, &id.path).map_err(|source| ParseError::Invalid { field, source })
}

pub(super) fn selector_to_proto(selector: &Selector) -> types::Selector {
    types::Selector { r#type: selector.kind().to_owned(), value: selector.value().to_owned() }
}

/// The wire form of a field mask. Server-owned fields are never asked to be written.
pub(super) fn mask_to_proto(mask: EntryMask) -> types::EntryMask {
    use EntryField as F;
    types::EntryMask {
        spiffe_id: mask.contains(F::SpiffeId),
        parent_id: mask.contains(F::ParentId),
        selectors: mask.contains(F::Selectors),
        x509_svid_ttl: mask.contains(F::X509SvidTtl),
        federates_with: mask.contains(F::FederatesWith),
        admin: mask.contains(F::Admin),
        downstream: mask.contains(F::Downstream),
        expires_at: mask.contains(F::ExpiresAt),
        dns_names: mask.contains(F::DnsNames),
        revision_number: false,
        store_svid: mask.contains(F::StoreSvid),
        jwt_svid_ttl: mask.contains(F::JwtSvidTtl),
        hint: mask.contains(F::Hint),
        created_at: false,
        additional_attributes: false,
    }
}

pub(super) fn entry_to_proto(entry: &Entry) -> types::Entry {
    types::Entry {
        id: entry.id.as_ref().map(|id| id.as_str().to_owned()).unwrap_or_default(),
        spiffe_id: Some(spiffe_id_to_proto(&entry.spiffe_id)),
        parent_id: Some(spiffe_id_to_proto(&entry.parent_id)),
        selectors: entry.selectors.iter().map(selector_to_proto).collect(),
        x509_svid_ttl: entry.x509_svid_ttl,
        federates_with: entry.federates_with.iter().map(|td| td.as_str().to_owned()).collect(),
        admin: entry.admin,
        downstream: entry.downstream,
        expires_at: entry.expires_at,
        dns_names: entry.dns_names.clone(),
        revision_number: entry.revision_number,
        store_svid: entry.store_svid,
        jwt_svid_ttl: entry.jwt_svid_ttl,
        hint: entry.hint.clone(),
        created_at: entry.created_at,
        additional_attributes: None,
    }
}

/// Reads an entry as SPIRE stored it. SPIRE validated it on write, so only the shapes are
/// checked here, not the write rules of [`Entry::validate`].
pub(super) fn entry_from_proto(entry: types::Entry) -> Result<Entry, ParseError> {
    let invalid = |field| move |source| ParseError::Invalid { field, source };
    let id = EntryId::parse(&entry.id).map_err(invalid("id"))?;
    let selectors = entry
        .selectors
        .iter()
        .map(|s| Selector::new(&s.r#type, &s.value))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid("selectors"))?;
    let federates_with = entry
        .federates_with
        .iter()
        .map(|td| TrustDomain::parse(td))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid("federates_with"))?;
    Ok(Entry {
        id: Some(id),
        spiffe_id: spiffe_id_from_proto(entry.spiffe_id, "spiffe_id")?,
        parent_id: spiffe_id_from_proto(entry.parent_id, "parent_id")?,
        selectors,
        x509_svid_ttl: entry.x509_svid_ttl,
        jwt_svid_ttl: entry.jwt_svid_ttl,
        federates_with,
        admin: entry.admin,
        downstream: entry.downstream,
        expires_at: entry.expires_at,
        dns_names: entry.dns_names,
        store_svid: entry.store_svid,
        hint: entry.hint,
        revision_number: entry.revision_number,
        created_at: entry.created_at,
    })
}

/// The wire form of a bundle; authorities are sent untainted.
pub(super) fn bundle_to_proto(bundle: &Bundle) -> types::Bundle {
    types::Bundle {
        trust_domain: bundle.trust_domain.as_ref().map(|td| td.as_str().to_owned()).unwrap_or_default(),
        x509_authorities: bundle
            .x509_authorities
            .iter()
            .map(|der| types::X509Certificate { asn1: der.clone(), tainted: false })
            .collect(),
        jwt_authorities: bundle
            .jwt_authorities
            .iter()
            .map(|k| types::JwtKey {
                public_key: k.public_key.clone(),
                key_id: k.key_id.clone(),
                expires_at: k.expires_at,
                tainted: false,
            })
            .collect(),
        refresh_hint: bundle.refresh_hint,
        sequence_number: bundle.sequence_number,
        wit_authorities: Vec::new(),
    }
}

/// Reads a bundle as SPIRE sent it; an empty trust domain reads as none.
pub(super) fn bundle_from_proto(bundle: types::Bundle) -> Result<Bundle, ParseError> {
    let trust_domain = if bundle.trust_domain.is_empty() {
        None
    } else {
        let invalid = |source| ParseError::Invalid { field: "trust_domain", source };
        Some(TrustDomain::parse(&bundle.trust_domain).map_err(invalid)?)
    };
    Ok(Bundle {
        trust_domain,
        x509_authorities: bundle.x509_authorities.into_iter().map(|c| c.asn1).collect(),
        jwt_authorities: bundle
            .jwt_authorities
            .into_iter()
            .map(|k| JwtKey { public_key: k.public_key, key_id: k.key_id, expires_at: k.expires_at })
            .collect(),
        refresh_hint: bundle.refresh_hint,
        sequence_number: bundle.sequence_number,
    })
}

/// The wire form of a relationship field mask.
pub(super) fn relationship_mask_to_proto(mask: RelationshipMask) -> types::FederationRelationshipMask {
    types::FederationRelationshipMask {
        bundle_endpoint_url: mask.bundle_endpoint_url,
        bundle_endpoint_profile: mask.bundle_endpoint_profile,
        trust_domain_bundle: mask.trust_domain_bundle,
    }
}

/// The wire form of a relationship.
pub(super) fn relationship_to_proto(relationship: &FederationRelationship) -> types::FederationRelationship {
    use types::federation_relationship::BundleEndpointProfile as Wire;
    types::FederationRelationship {
        trust_domain: relationship.trust_domain.as_str().to_owned(),
        bundle_endpoint_url: relationship.bundle_endpoint_url.clone(),
        bundle_endpoint_profile: Some(match &relationship.profile {
            BundleEndpointProfile::HttpsWeb => Wire::HttpsWeb(types::HttpsWebProfile {}),
            BundleEndpointProfile::HttpsSpiffe { endpoint_spiffe_id } => {
                Wire::HttpsSpiffe(types::HttpsspiffeProfile { endpoint_spiffe_id: endpoint_spiffe_id.to_string() })
            }
        }),
        trust_domain_bundle: relationship.trust_domain_bundle.as_ref().map(bundle_to_proto),
    }
}

/// Reads a relationship as SPIRE returned it.
pub(super) fn relationship_from_proto(
    wire: types::FederationRelationship,
) -> Result<FederationRelationship, ParseError> {
    use types::federation_relationship::BundleEndpointProfile as Wire;
    let invalid = |field| move |source| ParseError::Invalid { field, source };
    let trust_domain = TrustDomain::parse(&wire.trust_domain).map_err(invalid("trust_domain"))?;
    let profile = match &wire.bundle_endpoint_profile {
        Some(Wire::HttpsWeb(_)) => BundleEndpointProfile::HttpsWeb,
        Some(Wire::HttpsSpiffe(p)) => BundleEndpointProfile::HttpsSpiffe {
            endpoint_spiffe_id: SpiffeId::parse(&p.endpoint_spiffe_id)
                .map_err(invalid("https_spiffe.endpoint_spiffe_id"))?,
        },
        None => return Err(ParseError::Missing { field: "bundle_endpoint_profile" }),
    };
    let trust_domain_bundle = wire.trust_domain_bundle.map(bundle_from_proto).transpose().map_err(|e| match e {
        ParseError::Invalid { source, .. } => ParseError::Invalid { field: "trust_domain_bundle.trust_domain", source },
        missing => missing,
    })?;
    Ok(FederationRelationship {
        trust_domain,
        bundle_endpoint_url: wire.bundle_endpoint_url,
        profile,
        trust_domain_bundle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiffe;

    fn sample() -> Entry {
        let mut entry = Entry::new(
            SpiffeId::parse("spiffe://example.org/web").unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/x").unwrap(),
            vec![Selector::parse("k8s:ns:default").unwrap(), Selector::parse("k8s:sa:web").unwrap()],
        );
        entry.id = Some(EntryId::parse("spire-steward.1").unwrap());
        entry.x509_svid_ttl = 3600;
        entry.jwt_svid_ttl = 300;
        entry.federates_with = vec![TrustDomain::parse("other.org").unwrap()];
        entry.admin = true;
        entry.downstream = true;
        entry.expires_at = 42;
        entry.dns_names = vec!["web".into()];
        entry.store_svid = true;
        entry.hint = "web".into();
        entry.revision_number = 7;
        entry.created_at = 99;
        entry
    }

    #[test]
    fn entry_round_trips_through_the_wire_form() {
        let entry = sample();
        assert_eq!(entry_from_proto(entry_to_proto(&entry)), Ok(entry));
    }

    #[test]
    fn federates_with_is_read_in_either_form() {
        let mut wire = entry_to_proto(&sample());
        wire.federates_with = vec!["spiffe://other.org".into()];
        assert_eq!(entry_from_proto(wire).unwrap().federates_with, sample().federates_with);
    }

    #[test]
    fn a_missing_spiffe_id_is_reported() {
        let mut wire = entry_to_proto(&sample());
        wire.spiffe_id = None;
        assert_eq!(entry_from_proto(wire), Err(ParseError::Missing { field: "spiffe_id" }));
    }

    #[test]
    fn each_refused_field_is_named_with_its_rule() {
        type Change = fn(&mut types::Entry);
        let cases: [(Change, ParseError); 5] = [
            (
                |w| w.id = "bad id".into(),
                ParseError::Invalid { field: "id", source: spiffe::Error::EntryId("bad id".into()) },
            ),
            (
                |w| w.selectors[0].value = String::new(),
                ParseError::Invalid { field: "selectors", source: spiffe::Error::SelectorValue("k8s:".into()) },
            ),
            (
                |w| w.federates_with = vec!["a".repeat(256)],
                ParseError::Invalid { field: "federates_with", source: spiffe::Error::TrustDomainTooLong },
            ),
            (
                |w| w.spiffe_id.as_mut().unwrap().path = "/caf\u{e9}".into(),
                ParseError::Invalid { field: "spiffe_id", source: spiffe::Error::PathChar('\u{e9}') },
            ),
            (
                |w| w.parent_id.as_mut().unwrap().trust_domain = "Example.org".into(),
                ParseError::Invalid { field: "parent_id", source: spiffe::Error::TrustDomainChar('E') },
            ),
        ];
        for (change, want) in cases {
            let mut wire = entry_to_proto(&sample());
            change(&mut wire);
            assert_eq!(entry_from_proto(wire), Err(want.clone()), "{want}");
        }
    }

    #[test]
    fn a_raw_spiffe_id_keeps_what_spire_sent() {
        let wire = types::Spiffeid { trust_domain: "example.org".into(), path: "/a b".into() };
        assert_eq!(raw_spiffe_id(Some(&wire)), "spiffe://example.org/a b");
        assert_eq!(raw_spiffe_id(None), "");
    }

    #[test]
    fn mask_sets_only_the_named_bits() {
        let mask: EntryMask = [EntryField::Hint, EntryField::DnsNames].into_iter().collect();
        let wire = mask_to_proto(mask);
        assert!(wire.hint && wire.dns_names);
        assert!(!wire.spiffe_id && !wire.selectors && !wire.admin && !wire.x509_svid_ttl);
        assert!(!wire.revision_number && !wire.created_at);
    }

    #[test]
    fn full_mask_covers_every_writable_field() {
        let wire = mask_to_proto(EntryMask::all());
        assert!(wire.spiffe_id && wire.parent_id && wire.selectors && wire.x509_svid_ttl);
        assert!(wire.federates_with && wire.admin && wire.downstream && wire.expires_at);
        assert!(wire.dns_names && wire.store_svid && wire.jwt_svid_ttl && wire.hint);
    }

    #[test]
    fn bundle_round_trips_through_the_wire_form() {
        let bundle = Bundle {
            trust_domain: Some(TrustDomain::parse("other.org").unwrap()),
            x509_authorities: vec![vec![1, 2, 3]],
            jwt_authorities: vec![JwtKey { public_key: vec![4], key_id: "k1".into(), expires_at: 9 }],
            refresh_hint: 300,
            sequence_number: 2,
        };
        assert_eq!(bundle_from_proto(bundle_to_proto(&bundle)), Ok(bundle));
    }

    #[test]
    fn relationships_round_trip_through_the_wire_form() {
        for profile in [
            BundleEndpointProfile::HttpsWeb,
            BundleEndpointProfile::HttpsSpiffe {
                endpoint_spiffe_id: SpiffeId::parse("spiffe://other.org/spire/server").unwrap(),
            },
        ] {
            let relationship = FederationRelationship {
                trust_domain: TrustDomain::parse("other.org").unwrap(),
                bundle_endpoint_url: "https://127.0.0.1:8443".into(),
                profile,
                trust_domain_bundle: None,
            };
            assert_eq!(relationship_from_proto(relationship_to_proto(&relationship)), Ok(relationship));
        }
    }
}
