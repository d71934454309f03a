//! SPIFFE mTLS to the SPIRE Server's TCP endpoint: the operator presents its own X509-SVID (from
//! the Workload API, current at every handshake, so rotation needs nothing more) and accepts the
//! server only if its certificate chains to the trust domain's bundle and carries the expected
//! SPIFFE ID as its URI SAN. Host names play no part.

use std::sync::Arc;

use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::{
        ResolvesClientCert,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms},
    pki_types::{CertificateDer, ServerName, UnixTime},
    sign::CertifiedKey,
};

use super::workload::{Svid, SvidWatch};

/// The URI SAN of a certificate, if it has exactly one.
pub fn uri_san(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let san = parsed.subject_alternative_name().ok()??;
    let mut uris = san.value.general_names.iter().filter_map(|n| match n {
        x509_parser::extensions::GeneralName::URI(uri) => Some((*uri).to_owned()),
        _ => None,
    });
    let first = uris.next()?;
    uris.next().is_none().then_some(first)
}

/// Checks the server's certificate against the bundle of the current SVID and the expected ID.
#[derive(Debug)]
struct SpiffeServerVerifier {
    svids: SvidWatch,
    server_id: String,
    algorithms: WebPkiSupportedAlgorithms,
}

fn tls_error(message: String) -> rustls::Error {
    rustls::Error::General(message)
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let svid = self.svids.borrow().clone().ok_or_else(|| tls_error("no X509-SVID yet".into()))?;
        let anchors: Vec<_> = svid
            .bundle
            .iter()
            .filter_map(|ca| webpki::anchor_from_trusted_cert(ca).ok().map(|a| a.to_owned()))
            .collect();
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| tls_error(format!("the server's certificate does not parse: {e}")))?;
        cert.verify_for_usage(
            self.algorithms.all,
            &anchors,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| tls_error(format!("the server's certificate does not chain to the trust bundle: {e}")))?;
        match uri_san(end_entity) {
            Some(id) if id == self.server_id => Ok(ServerCertVerified::assertion()),
            other => Err(tls_error(format!(
                "the server presented {}, not the expected {}",
                other.as_deref().unwrap_or("no single SPIFFE ID"),
                self.server_id
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Presents the current SVID as the client certificate.
#[derive(Debug)]
struct SvidResolver {
    svids: SvidWatch,
    provider: Arc<CryptoProvider>,
    /// The key built for the SVID last seen (held, so that its identity stays its own).
    cached: std::sync::Mutex<Option<(Arc<Svid>, Arc<CertifiedKey>)>>,
}

impl SvidResolver {
    fn certified(&self, svid: &Arc<Svid>) -> Option<Arc<CertifiedKey>> {
        let mut cached = self.cached.lock().ok()?;
        if let Some((seen, key)) = cached.as_ref()
            && Arc::ptr_eq(seen, svid)
        {
            return Some(key.clone());
        }
        let key = CertifiedKey::from_der(svid.chain.clone(), svid.key.clone_key(), &self.provider)
            .map_err(|e| tracing::warn!(error = %e, "the X509-SVID's key cannot sign"))
            .ok()?;
        let key = Arc::new(key);
        *cached = Some((svid.clone(), key.clone()));
        Some(key)
    }
}

impl ResolvesClientCert for SvidResolver {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        let svid = self.svids.borrow().clone()?;
        self.certified(&svid)
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The TLS client configuration of the SPIRE Server connection: the SVID from `svids`, the
/// server accepted as `server_id` only; HTTP/2 negotiated by ALPN, as gRPC servers require.
pub fn client_config(svids: SvidWatch, server_id: String) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = SpiffeServerVerifier {
        svids: svids.clone(),
        server_id,
        algorithms: provider.signature_verification_algorithms,
    };
    let resolver = SvidResolver { svids, provider: provider.clone(), cached: Default::default() };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
