//! Connection to the SPIRE server: its admin unix socket, or its TCP endpoint with SPIFFE mTLS
//! (the operator's own X509-SVID from a local agent); and the deadline every call runs under.

use std::{future::Future, path::PathBuf, time::Duration};

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

use super::Error;

/// The SPIRE server's TCP endpoint, reached with SPIFFE mTLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpTransport {
    /// `host:port` of the server's API.
    pub address: String,
    /// The local agent's Workload API socket, from which the operator gets its X509-SVID.
    pub agent_socket: PathBuf,
    /// The SPIFFE ID the server must present.
    pub server_id: String,
}

/// How to reach the SPIRE server.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Path of the server's admin API unix socket.
    pub socket_path: PathBuf,
    /// When set, the server is reached over TCP with mTLS instead of the socket.
    pub tcp: Option<TcpTransport>,
    /// Deadline of every call, including the connection it may have to open.
    pub call_timeout: Duration,
}

impl ClientConfig {
    /// The default deadline of one call.
    pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

    pub fn new(socket_path: impl Into<PathBuf>) -> Self {
        Self { socket_path: socket_path.into(), tcp: None, call_timeout: Self::DEFAULT_CALL_TIMEOUT }
    }

    /// The server's TCP endpoint with SPIFFE mTLS, instead of the socket.
    pub fn with_tcp(mut self, tcp: Option<TcpTransport>) -> Self {
        self.tcp = tcp;
        self
    }

    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }
}

/// Receives the outcome of every call, for metrics.
pub trait CallObserver: Send + Sync + std::fmt::Debug {
    /// `code` is the gRPC code of the whole call (`Ok` when it succeeded).
    fn observe(&self, method: &'static str, code: tonic::Code, elapsed: Duration);
}

/// A client of the SPIRE Server API. Cloning is cheap and shares the connection.
///
/// The connection is opened on first use and re-opened after a failure, so a client can be built
/// before the server is up and keeps working across server restarts.
#[derive(Clone, Debug)]
pub struct SpireClient {
    channels: Channels,
    pub(super) call_timeout: Duration,
    observer: Option<std::sync::Arc<dyn CallObserver>>,
}

/// The connection calls go over: one for the socket; over TCP, one per SVID, so that a rotated
/// SVID is presented from the next call on. Calls already under way finish on the connection
/// they started on, which closes when its last call ends.
#[derive(Clone, Debug)]
enum Channels {
    Fixed(Channel),
    PerSvid(std::sync::Arc<PerSvid>),
}

struct PerSvid {
    /// The SVIDs seen, and the connection of the newest.
    current: std::sync::Mutex<Current>,
    dial: Box<dyn Fn() -> Channel + Send + Sync>,
    agent_socket: PathBuf,
}

impl std::fmt::Debug for PerSvid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerSvid").finish_non_exhaustive()
    }
}

struct Current {
    svids: super::workload::SvidWatch,
    /// The leaf certificate of the SVID `channel` was dialled with, if one had arrived.
    leaf: Option<Vec<u8>>,
    channel: Channel,
}

impl PerSvid {
    fn channel(&self) -> Channel {
        let mut current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.svids.has_changed().unwrap_or(false) {
            let newest = current.svids.borrow_and_update().clone();
            let leaf = newest.as_ref().and_then(|svid| svid.chain.first()).map(|cert| cert.to_vec());
            // The Workload API also sends the same SVID again (a bundle update, a reconnect).
            if leaf != current.leaf {
                if let (Some(_), Some(svid)) = (&current.leaf, &newest) {
                    tracing::info!(spiffe_id = %svid.spiffe_id,
                        "the X509-SVID rotated: calls from now on go over a new connection that presents it");
                }
                current.leaf = leaf;
                current.channel = (self.dial)();
            }
        }
        current.channel.clone()
    }
}

impl SpireClient {
    /// Builds a client without connecting.
    pub fn new(config: ClientConfig) -> Self {
        if let Some(tcp) = config.tcp.clone() {
            return Self::over_tcp(tcp, config.call_timeout);
        }
        let socket = config.socket_path;
        // The authority is never resolved: every connection goes to the unix socket.
        let channel = Endpoint::from_static("http://spire-server.invalid")
            .connect_timeout(config.call_timeout)
            .connect_with_connector_lazy(service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move { UnixStream::connect(socket).await.map(TokioIo::new) }
            }));
        Self { channels: Channels::Fixed(channel), call_timeout: config.call_timeout, observer: None }
    }

    /// A client of the server's TCP endpoint: its SVID streamed from the agent, each connection
    /// a TLS handshake with the SVID current then.
    fn over_tcp(tcp: TcpTransport, call_timeout: Duration) -> Self {
        let svids = super::workload::stream_svids(tcp.agent_socket.clone());
        let tls = super::tls::client_config(svids.clone(), tcp.server_id.clone())
            .expect("the ring provider supports the default protocol versions");
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls));
        let address = tcp.address.clone();
        let dial = move || {
            let (connector, address) = (connector.clone(), address.clone());
            Endpoint::from_static("http://spire-server.invalid")
                .connect_timeout(call_timeout)
                .connect_with_connector_lazy(service_fn(move |_: Uri| {
                    let (connector, address) = (connector.clone(), address.clone());
                    async move {
                        let tcp = tokio::net::TcpStream::connect(&address).await?;
                        // The name is not checked: the server is known by its SPIFFE ID.
                        let name = rustls_pki_types::ServerName::try_from("spire-server").expect("a valid name");
                        let tls = connector.connect(name, tcp).await?;
                        Ok::<_, std::io::Error>(TokioIo::new(tls))
                    }
                }))
        };
        let mut svids = svids;
        let leaf = svids.borrow_and_update().as_ref().and_then(|svid| svid.chain.first()).map(|cert| cert.to_vec());
        let current = Current { svids, leaf, channel: dial() };
        let per_svid = PerSvid {
            current: std::sync::Mutex::new(current),
            dial: Box::new(dial),
            agent_socket: tcp.agent_socket.clone(),
        };
        Self { channels: Channels::PerSvid(std::sync::Arc::new(per_svid)), call_timeout, observer: None }
    }

    /// Reports every call's outcome to `observer`.
    pub fn with_observer(mut self, observer: std::sync::Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Waits up to `limit` for the operator's first X509-SVID, over TCP (at once over the
    /// socket), so that a one-shot command does not fail on an agent that is still syncing.
    pub async fn wait_for_svid(&self, limit: Duration) -> Result<(), Error> {
        let Channels::PerSvid(per_svid) = &self.channels else {
            return Ok(());
        };
        let mut svids = per_svid.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).svids.clone();
        match tokio::time::timeout(limit, svids.wait_for(Option::is_some)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(Error::Unavailable {
                method: "FetchX509SVID",
                detail: format!(
                    "no X509-SVID from the Workload API at {} within {limit:?}",
                    per_svid.agent_socket.display()
                ),
            }),
        }
    }

    /// The connection for the next call, also for calls this client does not wrap.
    pub fn channel(&self) -> Channel {
        match &self.channels {
            Channels::Fixed(channel) => channel.clone(),
            Channels::PerSvid(per_svid) => per_svid.channel(),
        }
    }

    /// A request carrying the call's deadline, which the server honours too.
    pub(super) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.call_timeout);
        request
    }

    /// Runs one RPC under the call deadline and types its failure.
    pub(super) async fn call<R>(
        &self,
        method: &'static str,
        rpc: impl Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    ) -> Result<R, Error> {
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(self.call_timeout, rpc).await {
            Err(_) => Err(Error::DeadlineExceeded { method, timeout: self.call_timeout }),
            Ok(Err(status)) if is_deadline(&status) => {
                Err(Error::DeadlineExceeded { method, timeout: self.call_timeout })
            }
            Ok(Err(status)) if is_connection_failure(&status) => {
                Err(Error::Unavailable { method, detail: error_chain(&status) })
            }
            Ok(Err(status))
                if matches!(status.code(), tonic::Code::PermissionDenied | tonic::Code::Unauthenticated) =>
            {
                Err(Error::Denied { method, status })
            }
            Ok(Err(status)) => Err(Error::Rpc { method, status }),
            Ok(Ok(response)) => Ok(response.into_inner()),
        };
        if let Some(observer) = &self.observer {
            let code = result.as_ref().map_or_else(Error::code, |_| tonic::Code::Ok);
            observer.observe(method, code, started.elapsed());
        }
        result
    }
}

/// The client side of the gRPC deadline ends a call with CANCELLED "Timeout expired".
fn is_deadline(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::DeadlineExceeded
        || (status.code() == tonic::Code::Cancelled && status.message() == tonic::TimeoutExpired(()).to_string())
}

/// A call that failed before reaching the server (no socket, connection refused) comes back as
/// an UNKNOWN status whose source is a transport error.
fn is_connection_failure(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unknown
        && std::error::Error::source(status).is_some_and(|s| s.is::<tonic::transport::Error>())
}

/// The status message followed by every cause, such as "transport error: ... No such file".
fn error_chain(status: &tonic::Status) -> String {
    let mut text = status.message().to_owned();
    let mut cause = std::error::Error::source(status);
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// Splits `items` into batches of `size`, runs `call` on each in turn and joins the results,
/// checking that every batch answered once per item.
pub(super) async fn in_batches<I, O, F, Fut>(
    method: &'static str,
    items: Vec<I>,
    size: usize,
    mut call: F,
) -> Result<Vec<O>, Error>
where
    F: FnMut(Vec<I>) -> Fut,
    Fut: Future<Output = Result<Vec<O>, Error>>,
{
    let mut results = Vec::with_capacity(items.len());
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let batch: Vec<I> = items.by_ref().take(size).collect();
        let sent = batch.len();
        let answered = call(batch).await?;
        if answered.len() != sent {
            return Err(Error::InvalidResponse {
                method,
                detail: format!("{} results for {sent} items", answered.len()),
            });
        }
        results.extend(answered);
    }
    Ok(results)
}
