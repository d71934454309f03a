//! Conversions between wire messages and the validated domain types.

use crate::{
    spiffe::{self, Entry, EntryId, Selector, SpiffeId, TrustDomain},
    spire::proto::types,
};

pub(super) fn spiffe_id_to_proto(id: &SpiffeId) -> types::Spiffeid {
    types::Spiffeid { trust_domain: id.trust_domain().as_str().to_owned(), path: id.path().to_owned() }
}

fn spiffe_id_from_proto(id: Option<types::Spiffeid>, field: &str) -> Result<SpiffeId, String> {
    let id = id.ok_or_else(|| format!("{field} is missing"))?;
    SpiffeId::from_parts(&id.trust_domain, &id.path).map_err(|e| format!("{field}: {e}"))
}

pub(super) fn selector_to_proto(selector: &Selector) -> types::Selector {
    types::Selector { r#type: selector.kind().to_owned(), value: selector.value().to_owned() }
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
pub(super) fn entry_from_proto(entry: types::Entry) -> Result<Entry, String> {
    let context = |e: spiffe::Error| format!("entry {:?}: {e}", entry.id);
    let id = EntryId::parse(&entry.id).map_err(context)?;
    let selectors = entry
        .selectors
        .iter()
        .map(|s| Selector::new(&s.r#type, &s.value))
        .collect::<Result<Vec<_>, _>>()
        .map_err(context)?;
    let federates_with =
        entry.federates_with.iter().map(|td| TrustDomain::parse(td)).collect::<Result<Vec<_>, _>>().map_err(context)?;
    let field_context = |e: String| format!("entry {:?}: {e}", entry.id);
    Ok(Entry {
        id: Some(id),
        spiffe_id: spiffe_id_from_proto(entry.spiffe_id.clone(), "spiffe_id").map_err(field_context)?,
        parent_id: spiffe_id_from_proto(entry.parent_id.clone(), "parent_id").map_err(field_context)?,
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(entry_from_proto(wire), Err("entry \"spire-steward.1\": spiffe_id is missing".into()));
    }
}
