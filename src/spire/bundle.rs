//! Trust bundles, and the Bundle service call that reads the server's own bundle.

use super::{
    Error, ParseError, SpireClient,
    proto::{bundle as rpc, bundle::bundle_client::BundleClient, types},
};
use crate::spiffe::TrustDomain;

/// The keys a trust domain's SVIDs are verified with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bundle {
    pub trust_domain: Option<TrustDomain>,
    /// X.509 CA certificates, DER encoded.
    pub x509_authorities: Vec<Vec<u8>>,
    pub jwt_authorities: Vec<JwtKey>,
    /// How often, in seconds, holders should refresh the bundle.
    pub refresh_hint: i64,
    pub sequence_number: u64,
}

/// A JWT signing key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtKey {
    /// The public key, PKIX DER encoded.
    pub public_key: Vec<u8>,
    pub key_id: String,
    /// Unix seconds; 0 never.
    pub expires_at: i64,
}

impl Bundle {
    pub(super) fn to_proto(&self) -> types::Bundle {
        types::Bundle {
            trust_domain: self.trust_domain.as_ref().map(|td| td.as_str().to_owned()).unwrap_or_default(),
            x509_authorities: self
                .x509_authorities
                .iter()
                .map(|der| types::X509Certificate { asn1: der.clone(), tainted: false })
                .collect(),
            jwt_authorities: self
                .jwt_authorities
                .iter()
                .map(|k| types::JwtKey {
                    public_key: k.public_key.clone(),
                    key_id: k.key_id.clone(),
                    expires_at: k.expires_at,
                    tainted: false,
                })
                .collect(),
            refresh_hint: self.refresh_hint,
            sequence_number: self.sequence_number,
            wit_authorities: Vec::new(),
        }
    }

    pub(super) fn from_proto(bundle: types::Bundle) -> Result<Self, ParseError> {
        let trust_domain = if bundle.trust_domain.is_empty() {
            None
        } else {
            let invalid = |source| ParseError::Invalid { field: "trust_domain", source };
            Some(TrustDomain::parse(&bundle.trust_domain).map_err(invalid)?)
        };
        Ok(Self {
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
}

impl SpireClient {
    /// Reads the server's own trust bundle. The call needs no authorisation, which makes it a
    /// cheap liveness probe.
    pub async fn get_bundle(&self) -> Result<Bundle, Error> {
        const METHOD: &str = "GetBundle";
        let request = self.request(rpc::GetBundleRequest { output_mask: None });
        let bundle = self.call(METHOD, BundleClient::new(self.channel.clone()).get_bundle(request)).await?;
        Bundle::from_proto(bundle)
            .map_err(|e| Error::InvalidResponse { method: METHOD, detail: format!("bundle: {e}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_round_trips_through_the_wire_form() {
        let bundle = Bundle {
            trust_domain: Some(TrustDomain::parse("other.org").unwrap()),
            x509_authorities: vec![vec![1, 2, 3]],
            jwt_authorities: vec![JwtKey { public_key: vec![4], key_id: "k1".into(), expires_at: 9 }],
            refresh_hint: 300,
            sequence_number: 2,
        };
        assert_eq!(Bundle::from_proto(bundle.to_proto()), Ok(bundle));
    }
}
