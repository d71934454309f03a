//! `spireServerAddress`, `spireAgentSocketPath` and `spireServerSPIFFEID`: the SPIRE Server
//! reached over TCP with SPIFFE mTLS, the operator's SVID from a local agent.

use std::path::PathBuf;

use super::{Error, invalid};
use crate::{spiffe::TrustDomain, spire::TcpTransport};

/// Where the spiffe-csi-driver puts the agent's Workload API socket in a pod.
pub const DEFAULT_AGENT_SOCKET: &str = "/spiffe-workload-api/spire-agent.sock";

/// The TCP transport, when an address is set: `host:port`, the agent's socket (default
/// [`DEFAULT_AGENT_SOCKET`]) and the server's SPIFFE ID (default `spiffe://<td>/spire/server`).
pub fn transport(
    address: Option<String>,
    agent_socket: Option<PathBuf>,
    server_id: Option<String>,
    trust_domain: &TrustDomain,
) -> Result<Option<TcpTransport>, Error> {
    let Some(address) = address.filter(|a| !a.is_empty()) else {
        if agent_socket.is_some() || server_id.is_some() {
            let key = if agent_socket.is_some() { "spireAgentSocketPath" } else { "spireServerSPIFFEID" };
            return Err(invalid(key, "needs spireServerAddress"));
        }
        return Ok(None);
    };
    let valid_port = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !valid_port {
        return Err(invalid("spireServerAddress", format!("{address:?} is not host:port")));
    }
    let server_id = server_id.unwrap_or_else(|| format!("spiffe://{trust_domain}/spire/server"));
    crate::spiffe::SpiffeId::parse(&server_id)
        .map_err(|e| invalid("spireServerSPIFFEID", format!("{server_id:?}: {e}")))?;
    Ok(Some(TcpTransport {
        address,
        agent_socket: agent_socket.unwrap_or_else(|| DEFAULT_AGENT_SOCKET.into()),
        server_id,
    }))
}

impl super::Config {
    /// How to reach the SPIRE server: the socket, or TCP with SPIFFE mTLS, under the call
    /// deadline.
    pub fn spire_client(&self) -> crate::spire::ClientConfig {
        crate::spire::ClientConfig::new(&self.spire_server_socket_path)
            .with_tcp(self.spire_tcp.clone())
            .with_call_timeout(self.spire_call_timeout)
    }

    /// The SPIRE server as messages name it: its TCP address, else its socket.
    pub fn spire_server(&self) -> String {
        match &self.spire_tcp {
            Some(tcp) => tcp.address.clone(),
            None => self.spire_server_socket_path.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn td() -> TrustDomain {
        TrustDomain::parse("example.org").unwrap()
    }

    #[test]
    fn an_address_selects_tcp_with_defaults() {
        assert_eq!(transport(None, None, None, &td()).unwrap(), None);
        let t = transport(Some("spire-server.spire:8081".into()), None, None, &td()).unwrap().unwrap();
        assert_eq!(t.address, "spire-server.spire:8081");
        assert_eq!(t.agent_socket, PathBuf::from(DEFAULT_AGENT_SOCKET));
        assert_eq!(t.server_id, "spiffe://example.org/spire/server");
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = |a: Option<&str>, s: Option<&str>, id: Option<&str>| {
            transport(a.map(Into::into), s.map(Into::into), id.map(Into::into), &td()).unwrap_err().to_string()
        };
        assert_eq!(err(Some("spire-server"), None, None), "spireServerAddress: \"spire-server\" is not host:port");
        assert_eq!(err(None, Some("/a.sock"), None), "spireAgentSocketPath: needs spireServerAddress");
        assert!(err(Some("h:1"), None, Some("not-an-id")).starts_with("spireServerSPIFFEID: \"not-an-id\""));
    }
}
