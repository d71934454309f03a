//! ClusterFederatedTrustDomain: a federation relationship with a foreign trust domain.

use super::Error;
use crate::{
    api::v1alpha1::{BundleEndpointProfileType, ClusterFederatedTrustDomainSpec},
    spiffe::{Bundle, BundleEndpointProfile, FederationRelationship, JwtKey, SpiffeId, TrustDomain, parse_bundle},
};

/// Renders a ClusterFederatedTrustDomain into the relationship SPIRE should hold.
pub fn render_federation(spec: &ClusterFederatedTrustDomainSpec) -> Result<FederationRelationship, Error> {
    let trust_domain =
        TrustDomain::parse(&spec.trust_domain).map_err(|source| Error::Value { field: "trustDomain", source })?;
    let profile = match spec.bundle_endpoint_profile.profile_type {
        BundleEndpointProfileType::HttpsWeb => {
            if spec.bundle_endpoint_profile.endpoint_spiffe_id.is_some() {
                return Err(Error::Invalid {
                    field: "bundleEndpointProfile.endpointSPIFFEID",
                    message: "must not be set when type is https_web".into(),
                });
            }
            BundleEndpointProfile::HttpsWeb
        }
        BundleEndpointProfileType::HttpsSpiffe => {
            let field = "bundleEndpointProfile.endpointSPIFFEID";
            let id = spec
                .bundle_endpoint_profile
                .endpoint_spiffe_id
                .as_deref()
                .ok_or(Error::Invalid { field, message: "is required when type is https_spiffe".into() })?;
            BundleEndpointProfile::HttpsSpiffe {
                endpoint_spiffe_id: SpiffeId::parse(id).map_err(|source| Error::Value { field, source })?,
            }
        }
    };
    let url = &spec.bundle_endpoint_url;
    if !url.starts_with("https://") || url.len() <= "https://".len() || url.contains('@') {
        return Err(Error::Invalid {
            field: "bundleEndpointURL",
            message: "must be an https URL with a host and no user info".into(),
        });
    }
    let trust_domain_bundle = spec
        .trust_domain_bundle
        .as_deref()
        .map(|json| {
            let parsed = parse_bundle(json)
                .map_err(|e| Error::Invalid { field: "trustDomainBundle", message: e.to_string() })?;
            Ok::<_, Error>(Bundle {
                trust_domain: Some(trust_domain.clone()),
                x509_authorities: parsed.x509_authorities,
                jwt_authorities: parsed
                    .jwt_authorities
                    .into_iter()
                    .map(|(key_id, public_key)| JwtKey { public_key, key_id, expires_at: 0 })
                    .collect(),
                refresh_hint: parsed.refresh_hint,
                sequence_number: parsed.sequence_number,
            })
        })
        .transpose()?;
    Ok(FederationRelationship { trust_domain, bundle_endpoint_url: url.clone(), profile, trust_domain_bundle })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::BundleEndpointProfile as ApiProfile;

    fn spec(profile_type: BundleEndpointProfileType, endpoint: Option<&str>) -> ClusterFederatedTrustDomainSpec {
        ClusterFederatedTrustDomainSpec {
            trust_domain: "backend.example.org".into(),
            bundle_endpoint_url: "https://127.0.0.1:8443".into(),
            bundle_endpoint_profile: ApiProfile { profile_type, endpoint_spiffe_id: endpoint.map(Into::into) },
            ..Default::default()
        }
    }

    #[test]
    fn profiles_are_mapped() {
        let web = render_federation(&spec(BundleEndpointProfileType::HttpsWeb, None)).unwrap();
        assert_eq!(web.profile, BundleEndpointProfile::HttpsWeb);
        assert_eq!(web.trust_domain.as_str(), "backend.example.org");
        let spiffe = render_federation(&spec(
            BundleEndpointProfileType::HttpsSpiffe,
            Some("spiffe://backend.example.org/spire/server"),
        ))
        .unwrap();
        assert!(matches!(spiffe.profile, BundleEndpointProfile::HttpsSpiffe { .. }));
    }

    #[test]
    fn the_bundle_is_parsed_into_authorities() {
        let mut s = spec(BundleEndpointProfileType::HttpsWeb, None);
        s.trust_domain_bundle = Some(r#"{"keys":[],"spiffe_sequence":7,"spiffe_refresh_hint":60}"#.into());
        let bundle = render_federation(&s).unwrap().trust_domain_bundle.unwrap();
        assert_eq!((bundle.sequence_number, bundle.refresh_hint), (7, 60));
        assert_eq!(bundle.trust_domain.unwrap().as_str(), "backend.example.org");
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(ClusterFederatedTrustDomainSpec, &str)> = vec![
            (spec(BundleEndpointProfileType::HttpsSpiffe, None), "bundleEndpointProfile.endpointSPIFFEID: is required"),
            (
                spec(BundleEndpointProfileType::HttpsWeb, Some("spiffe://a/b")),
                "bundleEndpointProfile.endpointSPIFFEID: must not",
            ),
            (spec(BundleEndpointProfileType::HttpsSpiffe, Some("a/b")), "bundleEndpointProfile.endpointSPIFFEID: "),
            (
                ClusterFederatedTrustDomainSpec {
                    trust_domain: "Bad".into(),
                    ..spec(BundleEndpointProfileType::HttpsWeb, None)
                },
                "trustDomain: ",
            ),
            (
                ClusterFederatedTrustDomainSpec {
                    bundle_endpoint_url: "http://x".into(),
                    ..spec(BundleEndpointProfileType::HttpsWeb, None)
                },
                "bundleEndpointURL: ",
            ),
            (
                ClusterFederatedTrustDomainSpec {
                    trust_domain_bundle: Some("{}".into()),
                    ..spec(BundleEndpointProfileType::HttpsWeb, None)
                },
                "trustDomainBundle: ",
            ),
        ];
        for (s, want) in cases {
            let err = render_federation(&s).unwrap_err().to_string();
            assert!(err.starts_with(want), "got {err:?}, want {want:?}");
        }
    }
}
