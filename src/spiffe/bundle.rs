//! Trust bundles: the keys a trust domain's SVIDs are verified with.

use super::TrustDomain;

/// The keys a trust domain's SVIDs are verified with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bundle {
    /// The trust domain the bundle belongs to; `None` when the source did not say.
    pub trust_domain: Option<TrustDomain>,
    /// X.509 CA certificates, DER encoded.
    pub x509_authorities: Vec<Vec<u8>>,
    /// The keys JWT-SVIDs are signed with.
    pub jwt_authorities: Vec<JwtKey>,
    /// How often, in seconds, holders should refresh the bundle.
    pub refresh_hint: i64,
    /// Incremented by SPIRE each time the bundle changes.
    pub sequence_number: u64,
}

/// A JWT signing key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtKey {
    /// The public key, PKIX DER encoded.
    pub public_key: Vec<u8>,
    /// The key ID (`kid`) JWT-SVIDs name the key by.
    pub key_id: String,
    /// Unix seconds; 0 never.
    pub expires_at: i64,
}
