//! ClusterStaticEntry: the entry is written out literally in the spec.

use super::Error;
use crate::{
    api::v1alpha1::ClusterStaticEntrySpec,
    duration,
    spiffe::{Entry, Selector, SpiffeId, TrustDomain},
};

fn value<T>(field: &'static str, result: Result<T, crate::spiffe::Error>) -> Result<T, Error> {
    result.map_err(|source| Error::Value { field, source })
}

fn ttl(field: &'static str, value: Option<&str>) -> Result<i32, Error> {
    value.map_or(Ok(0), |v| duration::parse_ttl_seconds(v).map_err(|source| Error::Duration { field, source }))
}

/// Renders a ClusterStaticEntry into its entry, checked against SPIRE's rules. Unlike pod
/// entries, the IDs may belong to any trust domain, as in spire-controller-manager.
pub fn render_static_entry(spec: &ClusterStaticEntrySpec) -> Result<Entry, Error> {
    let selectors =
        spec.selectors.iter().map(|s| value("selectors", Selector::parse(s))).collect::<Result<Vec<_>, _>>()?;
    let mut entry = Entry::new(
        value("spiffeID", SpiffeId::parse(&spec.spiffe_id))?,
        value("parentID", SpiffeId::parse(&spec.parent_id))?,
        selectors,
    );
    entry.federates_with = spec
        .federates_with
        .iter()
        .map(|td| value("federatesWith", TrustDomain::parse(td)))
        .collect::<Result<_, _>>()?;
    entry.x509_svid_ttl = ttl("x509SVIDTTL", spec.x509_svid_ttl.as_deref())?;
    entry.jwt_svid_ttl = ttl("jwtSVIDTTL", spec.jwt_svid_ttl.as_deref())?;
    entry.dns_names = spec.dns_names.clone();
    entry.hint = spec.hint.clone().unwrap_or_default();
    entry.admin = spec.admin.unwrap_or(false);
    entry.downstream = spec.downstream.unwrap_or(false);
    entry.store_svid = spec.store_svid.unwrap_or(false);
    if let Some(at) = &spec.expires_at {
        let at: k8s_openapi::jiff::Timestamp = at.parse().map_err(|e| Error::Invalid {
            field: "expiresAt",
            message: format!("{at:?} is not an RFC 3339 instant: {e}"),
        })?;
        entry.expires_at = at.as_second();
    }
    value(field_of_rule(&entry), entry.validate())?;
    Ok(entry)
}

/// The spec field a failed [`Entry::validate`] rule points at.
fn field_of_rule(entry: &Entry) -> &'static str {
    use crate::spiffe::Error as E;
    match entry.validate() {
        Err(E::ReservedPath(_)) => "spiffeID",
        Err(E::EmptyPath(id)) if id == entry.parent_id.to_string() => "parentID",
        Err(E::EmptyPath(_)) => "spiffeID",
        Err(E::NoSelectors | E::StoreSvidSelectorTypes) => "selectors",
        Err(E::HintTooLong) => "hint",
        Err(E::DnsName { .. } | E::DnsNames(_)) => "dnsNames",
        Err(E::NegativeTtl { field }) => field,
        _ => "spec",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClusterStaticEntrySpec {
        ClusterStaticEntrySpec {
            spiffe_id: "spiffe://example.org/billing/db".into(),
            parent_id: "spiffe://example.org/spire/agent/x509pop/db-01".into(),
            selectors: vec!["unix:uid:999".into(), "unix:user:postgres".into()],
            ..Default::default()
        }
    }

    #[test]
    fn every_field_is_carried_over() {
        let mut s = spec();
        s.federates_with = vec!["partner.example.com".into()];
        s.x509_svid_ttl = Some("12h".into());
        s.jwt_svid_ttl = Some("5m".into());
        s.dns_names = vec!["db.billing.example.org".into()];
        s.hint = Some("db".into());
        s.admin = Some(true);
        s.downstream = Some(true);
        s.store_svid = Some(true);
        let e = render_static_entry(&s).unwrap();
        assert_eq!(e.spiffe_id.to_string(), "spiffe://example.org/billing/db");
        assert_eq!(e.parent_id.path(), "/spire/agent/x509pop/db-01");
        assert_eq!(e.selectors.len(), 2);
        assert_eq!(e.federates_with[0].as_str(), "partner.example.com");
        assert_eq!((e.x509_svid_ttl, e.jwt_svid_ttl), (43_200, 300));
        assert_eq!(e.dns_names, ["db.billing.example.org"]);
        assert_eq!(e.hint, "db");
        assert!(e.admin && e.downstream && e.store_svid);
        assert!(e.id.is_none());
    }

    #[test]
    fn errors_name_the_field() {
        type Mutation = fn(&mut ClusterStaticEntrySpec);
        let cases: Vec<(Mutation, &str)> = vec![
            (|s| s.spiffe_id = "example.org/x".into(), "spiffeID: "),
            (|s| s.spiffe_id = "spiffe://example.org/spire/x".into(), "spiffeID: "),
            (|s| s.parent_id = "spiffe://example.org".into(), "parentID: "),
            (|s| s.selectors = vec!["unix".into()], "selectors: "),
            (|s| s.selectors.clear(), "selectors: "),
            (|s| s.federates_with = vec!["Bad TD".into()], "federatesWith: "),
            (|s| s.x509_svid_ttl = Some("1 day".into()), "x509SVIDTTL: "),
            (|s| s.jwt_svid_ttl = Some("-5m".into()), "jwtSVIDTTL: "),
            (|s| s.dns_names = vec!["bad_name".into()], "dnsNames: "),
            (|s| s.dns_names = vec!["a_b".into(), "-c".into()], "dnsNames: 2 DNS names are invalid: \"a_b\""),
            (|s| s.hint = Some("h".repeat(1025)), "hint: "),
            (
                |s| {
                    s.store_svid = Some(true);
                    s.selectors.push("k8s:ns:x".into());
                },
                "selectors: ",
            ),
        ];
        for (mutate, want) in cases {
            let mut s = spec();
            mutate(&mut s);
            let err = render_static_entry(&s).unwrap_err().to_string();
            assert!(err.starts_with(want), "got {err:?}, want prefix {want:?}");
        }
    }

    #[test]
    fn every_invalid_dns_name_is_named() {
        let mut s = spec();
        s.dns_names = vec!["db.example.org".into(), "bad_one".into(), "-bad-two".into()];
        let err = render_static_entry(&s).unwrap_err().to_string();
        assert_eq!(
            err,
            "dnsNames: 2 DNS names are invalid: \"bad_one\": labels may hold only letters, digits and '-'; \
             \"-bad-two\": a label starts or ends with '-'"
        );
    }

    #[test]
    fn foreign_trust_domains_are_allowed_for_static_entries() {
        let mut s = spec();
        s.spiffe_id = "spiffe://other.org/x".into();
        assert!(render_static_entry(&s).is_ok());
    }
}
