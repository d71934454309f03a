//! The operator's own X509-SVID, from a local spire-agent's Workload API
//! (`SpiffeWorkloadAPI.FetchX509SVID`, a server stream that sends a new response at every
//! rotation), kept current by a background task for the TLS connection to the SPIRE Server.

use std::{path::PathBuf, sync::Arc};

use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::{net::UnixStream, sync::watch};
use tonic::transport::{Endpoint, Uri};
use tower::service_fn;

/// `X509SVIDRequest`: empty.
#[derive(Clone, PartialEq, prost::Message)]
pub struct X509SvidRequest {}

/// `X509SVIDResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct X509SvidResponse {
    #[prost(message, repeated, tag = "1")]
    pub svids: Vec<X509SvidMessage>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub crl: Vec<Vec<u8>>,
    #[prost(map = "string, bytes", tag = "3")]
    pub federated_bundles: std::collections::HashMap<String, Vec<u8>>,
}

/// `X509SVID`: the certificate chain and the bundle are concatenated DER certificates, the key
/// PKCS#8 DER.
#[derive(Clone, PartialEq, prost::Message)]
pub struct X509SvidMessage {
    #[prost(string, tag = "1")]
    pub spiffe_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub x509_svid: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub x509_svid_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub bundle: Vec<u8>,
    #[prost(string, tag = "5")]
    pub hint: String,
}

/// An X509-SVID with the bundle of its trust domain.
#[derive(Debug)]
pub struct Svid {
    pub spiffe_id: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub bundle: Vec<CertificateDer<'static>>,
}

/// Why a Workload API response cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SvidError {
    #[error("the Workload API sent no X509-SVID")]
    Empty,
    #[error("{what} is not a sequence of DER certificates")]
    Der { what: &'static str },
}

/// Splits concatenated DER values (each a SEQUENCE with a definite length).
pub fn split_der(mut bytes: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, SvidError> {
    let bad = || SvidError::Der { what };
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 2 || bytes[0] != 0x30 {
            return Err(bad());
        }
        let (header, length) = match bytes[1] {
            n if n < 0x80 => (2, n as usize),
            n => {
                let count = (n & 0x7f) as usize;
                if count == 0 || count > 4 || bytes.len() < 2 + count {
                    return Err(bad());
                }
                (2 + count, bytes[2..2 + count].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
            }
        };
        let end = header.checked_add(length).filter(|end| *end <= bytes.len()).ok_or_else(bad)?;
        out.push(CertificateDer::from(bytes[..end].to_vec()));
        bytes = &bytes[end..];
    }
    if out.is_empty() { Err(bad()) } else { Ok(out) }
}

impl Svid {
    /// The first SVID of a response (the default one, as the Workload API orders them).
    pub fn from_response(response: X509SvidResponse) -> Result<Self, SvidError> {
        let first = response.svids.into_iter().next().ok_or(SvidError::Empty)?;
        Ok(Svid {
            spiffe_id: first.spiffe_id,
            chain: split_der(&first.x509_svid, "x509_svid")?,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(first.x509_svid_key)),
            bundle: split_der(&first.bundle, "bundle")?,
        })
    }
}

/// The current SVID, as the background task last received it.
pub type SvidWatch = watch::Receiver<Option<Arc<Svid>>>;

/// Starts the task that streams the operator's SVID from the agent at `socket`, reconnecting
/// with backoff; the receiver holds the newest one (None until the first arrives).
pub fn stream_svids(socket: PathBuf) -> SvidWatch {
    let (sender, receiver) = watch::channel(None);
    tokio::spawn(async move {
        let mut delays = crate::retry::backoff();
        loop {
            match fetch(&socket, &sender).await {
                Ok(()) => tracing::info!(socket = %socket.display(), "the Workload API stream ended; reconnecting"),
                Err(e) => {
                    tracing::warn!(socket = %socket.display(), error = %e, "no X509-SVID from the Workload API yet");
                }
            }
            if sender.is_closed() {
                return;
            }
            let delay = delays.next().unwrap_or(crate::retry::LONGEST);
            tokio::time::sleep(delay).await;
        }
    });
    receiver
}

async fn fetch(socket: &std::path::Path, sender: &watch::Sender<Option<Arc<Svid>>>) -> Result<(), String> {
    let socket = socket.to_path_buf();
    let channel = Endpoint::from_static("http://workload-api.invalid")
        .connect_with_connector(service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { UnixStream::connect(socket).await.map(TokioIo::new) }
        }))
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| format!("connecting: {e}"))?;
    let mut request = tonic::Request::new(X509SvidRequest {});
    // The Workload API refuses a request without its security header.
    request.metadata_mut().insert("workload.spiffe.io", tonic::metadata::MetadataValue::from_static("true"));
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/SpiffeWorkloadAPI/FetchX509SVID");
    let codec: tonic_prost::ProstCodec<X509SvidRequest, X509SvidResponse> = tonic_prost::ProstCodec::default();
    let mut stream = grpc.server_streaming(request, path, codec).await.map_err(|s| s.to_string())?.into_inner();
    while let Some(response) = stream.message().await.map_err(|s| s.to_string())? {
        match Svid::from_response(response) {
            // A key that cannot sign never replaces one that can.
            Ok(svid) if rustls::crypto::ring::sign::any_supported_type(&svid.key).is_err() => {
                tracing::warn!(spiffe_id = %svid.spiffe_id, "the Workload API sent an X509-SVID whose key cannot sign");
            }
            Ok(svid) => {
                tracing::info!(spiffe_id = %svid.spiffe_id, "received an X509-SVID from the Workload API");
                if sender.send(Some(Arc::new(svid))).is_err() {
                    return Ok(());
                }
            }
            Err(e) => tracing::warn!(error = %e, "the Workload API sent an unusable X509-SVID"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_der_is_split_by_its_lengths() {
        let short = [0x30, 0x03, 1, 2, 3];
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let joined: Vec<u8> = short.iter().chain(long.iter()).copied().collect();
        let parts = split_der(&joined, "x").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].as_ref(), &short);
        assert_eq!(parts[1].as_ref(), long.as_slice());
        assert!(split_der(&[0x30, 0x05, 1], "x").is_err(), "truncated");
        assert!(split_der(&[0x02, 0x01, 1], "x").is_err(), "not a SEQUENCE");
        assert!(split_der(&[], "x").is_err(), "empty");
    }
}
