//! The SPIFFE bundle format: a JWK Set whose keys carry X.509 authorities (`use: x509-svid`,
//! certificate in `x5c`) and JWT authorities (`use: jwt-svid`, public key as a JWK), plus
//! `spiffe_sequence` and `spiffe_refresh_hint`.
//!
//! SPIRE's API wants JWT authorities as PKIX (SubjectPublicKeyInfo) DER, so the JWK public keys
//! are re-encoded here. Only the shapes SPIFFE bundles use are handled: EC keys on P-256, P-384
//! and P-521, and RSA keys; each is a fixed DER layout.

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde::Deserialize;

/// A parsed SPIFFE bundle, with JWT authorities already in PKIX DER.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedBundle {
    pub x509_authorities: Vec<Vec<u8>>,
    /// (key ID, PKIX DER public key)
    pub jwt_authorities: Vec<(String, Vec<u8>)>,
    pub sequence_number: u64,
    pub refresh_hint: i64,
}

/// Why a bundle document cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("not a SPIFFE bundle (JWK Set JSON): {0}")]
    Json(String),
    #[error("key {index}: {message}")]
    Key { index: usize, message: String },
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
    #[serde(default)]
    spiffe_sequence: u64,
    #[serde(default)]
    spiffe_refresh_hint: i64,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(rename = "use")]
    key_use: Option<String>,
    kty: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x5c: Option<Vec<String>>,
}

/// Parses a SPIFFE bundle document.
pub fn parse_bundle(json: &str) -> Result<ParsedBundle, BundleError> {
    let set: JwkSet = serde_json::from_str(json).map_err(|e| BundleError::Json(e.to_string()))?;
    let mut bundle = ParsedBundle {
        sequence_number: set.spiffe_sequence,
        refresh_hint: set.spiffe_refresh_hint,
        ..Default::default()
    };
    for (index, key) in set.keys.iter().enumerate() {
        let fail = |message: String| BundleError::Key { index, message };
        match key.key_use.as_deref() {
            Some("x509-svid") => {
                let chain = key.x5c.as_deref().unwrap_or_default();
                if chain.len() != 1 {
                    return Err(fail(format!(
                        "an x509-svid key needs exactly one x5c certificate, found {}",
                        chain.len()
                    )));
                }
                let der = STANDARD.decode(&chain[0]).map_err(|e| fail(format!("x5c is not base64: {e}")))?;
                bundle.x509_authorities.push(der);
            }
            Some("jwt-svid") => {
                let kid = key
                    .kid
                    .clone()
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| fail("a jwt-svid key needs a kid".into()))?;
                bundle.jwt_authorities.push((kid, spki_der(key).map_err(fail)?));
            }
            other => {
                return Err(fail(format!("use {other:?} is neither x509-svid nor jwt-svid")));
            }
        }
    }
    Ok(bundle)
}

fn b64url(field: &str, value: Option<&String>) -> Result<Vec<u8>, String> {
    let value = value.ok_or_else(|| format!("missing {field}"))?;
    URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).map_err(|e| format!("{field} is not base64url: {e}"))
}

const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn spki_der(key: &Jwk) -> Result<Vec<u8>, String> {
    match key.kty.as_deref() {
        Some("EC") => {
            let (curve_oid, size): (&[u8], usize) = match key.crv.as_deref() {
                Some("P-256") => (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07], 32),
                Some("P-384") => (&[0x2b, 0x81, 0x04, 0x00, 0x22], 48),
                Some("P-521") => (&[0x2b, 0x81, 0x04, 0x00, 0x23], 66),
                other => return Err(format!("EC curve {other:?} is not P-256, P-384 or P-521")),
            };
            let (x, y) = (b64url("x", key.x.as_ref())?, b64url("y", key.y.as_ref())?);
            if x.len() != size || y.len() != size {
                return Err(format!("x and y must be {size} bytes for {}", key.crv.as_deref().unwrap_or_default()));
            }
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let algorithm = der(0x30, &[der(0x06, OID_EC_PUBLIC_KEY), der(0x06, curve_oid)].concat());
            Ok(der(0x30, &[algorithm, bit_string(&point)].concat()))
        }
        Some("RSA") => {
            let (n, e) = (b64url("n", key.n.as_ref())?, b64url("e", key.e.as_ref())?);
            let rsa_key = der(0x30, &[unsigned_integer(&n), unsigned_integer(&e)].concat());
            let algorithm = der(0x30, &[der(0x06, OID_RSA_ENCRYPTION), der(0x05, &[])].concat());
            Ok(der(0x30, &[algorithm, bit_string(&rsa_key)].concat()))
        }
        other => Err(format!("key type {other:?} is not EC or RSA")),
    }
}

/// One DER element: tag, definite length, content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn bit_string(content: &[u8]) -> Vec<u8> {
    der(0x03, &[&[0u8][..], content].concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes.
fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = if trimmed.is_empty() { vec![0] } else { trimmed };
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    der(0x02, &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_the_long_form_past_127_bytes() {
        assert_eq!(der(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        let long = der(0x04, &[0; 200]);
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        let longer = der(0x04, &[0; 300]);
        assert_eq!(&longer[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(unsigned_integer(&[0x01, 0x00, 0x01]), vec![0x02, 3, 0x01, 0x00, 0x01]);
        assert_eq!(unsigned_integer(&[0x00, 0x80]), vec![0x02, 2, 0x00, 0x80]);
        assert_eq!(unsigned_integer(&[0x00]), vec![0x02, 1, 0x00]);
    }

    #[test]
    fn a_p256_jwk_becomes_the_standard_spki_layout() {
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let y = URL_SAFE_NO_PAD.encode([2u8; 32]);
        let json = format!(
            r#"{{"keys":[{{"use":"jwt-svid","kty":"EC","kid":"k1","crv":"P-256","x":"{x}","y":"{y}"}}],
                "spiffe_sequence":3,"spiffe_refresh_hint":300}}"#
        );
        let bundle = parse_bundle(&json).unwrap();
        let (kid, der) = &bundle.jwt_authorities[0];
        assert_eq!(kid, "k1");
        // The fixed 26-byte prefix every P-256 SubjectPublicKeyInfo starts with.
        let prefix = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
            0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        assert_eq!(&der[..26], &prefix);
        assert_eq!(der.len(), 91);
        assert_eq!((bundle.sequence_number, bundle.refresh_hint), (3, 300));
    }

    #[test]
    fn an_rsa_jwk_is_encoded_with_rsa_encryption() {
        let n = URL_SAFE_NO_PAD.encode([0xc5u8; 256]);
        let json = format!(r#"{{"keys":[{{"use":"jwt-svid","kty":"RSA","kid":"r","n":"{n}","e":"AQAB"}}]}}"#);
        let der = &parse_bundle(&json).unwrap().jwt_authorities[0].1;
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x22], "the usual 294-byte RSA-2048 SPKI");
        assert_eq!(der.len(), 294);
    }

    #[test]
    fn x509_authorities_come_from_x5c() {
        let cert = STANDARD.encode([0x30, 0x03, 0x02, 0x01, 0x01]);
        let json = format!(r#"{{"keys":[{{"use":"x509-svid","kty":"EC","x5c":["{cert}"]}}]}}"#);
        assert_eq!(parse_bundle(&json).unwrap().x509_authorities, vec![vec![0x30, 0x03, 0x02, 0x01, 0x01]]);
    }

    #[test]
    fn bad_documents_are_explained() {
        let cases = [
            ("not json", "not a SPIFFE bundle"),
            (r#"{"keys":[{"use":"sig"}]}"#, "key 0: use Some(\"sig\")"),
            (r#"{"keys":[{"use":"x509-svid","x5c":[]}]}"#, "key 0: an x509-svid key needs exactly one"),
            (r#"{"keys":[{"use":"jwt-svid","kty":"EC","crv":"P-256"}]}"#, "key 0: a jwt-svid key needs a kid"),
            (r#"{"keys":[{"use":"jwt-svid","kid":"k","kty":"OKP"}]}"#, "key 0: key type Some(\"OKP\")"),
            (
                r#"{"keys":[{"use":"jwt-svid","kid":"k","kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}"#,
                "must be 32 bytes",
            ),
        ];
        for (json, want) in cases {
            let err = parse_bundle(json).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
    }
}
