//! `spire-steward version`: this binary's version, source revision and build date, and with
//! `--server` the running operator's, read from its `spire_steward_build_info` metric.

use serde::Serialize;

/// What a build says of itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Build {
    pub version: String,
    pub revision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_date: Option<String>,
}

/// This binary's build: the revision and date the build was given (`SPIRE_STEWARD_REVISION`,
/// `SPIRE_STEWARD_BUILD_DATE`, set by `make image`), else `unknown`.
pub fn client() -> Build {
    Build {
        version: env!("CARGO_PKG_VERSION").into(),
        revision: option_env!("SPIRE_STEWARD_REVISION").unwrap_or("unknown").into(),
        build_date: Some(option_env!("SPIRE_STEWARD_BUILD_DATE").unwrap_or("unknown").into()),
    }
}

/// Why the running operator's version could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: only http://host:port URLs of the metrics endpoint are supported")]
    Url(String),
    #[error("reading {url}/metrics")]
    Fetch {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}/metrics has no spire_steward_build_info sample")]
    Missing { url: String },
}

/// The running operator's build, from its metrics endpoint at `url` (`http://host:port`),
/// within ten seconds.
pub async fn server(url: &str) -> Result<Build, Error> {
    let timeout = || Error::Fetch { url: url.into(), source: std::io::ErrorKind::TimedOut.into() };
    tokio::time::timeout(std::time::Duration::from_secs(10), fetch(url)).await.map_err(|_| timeout())?
}

async fn fetch(url: &str) -> Result<Build, Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority =
        url.strip_prefix("http://").map(|a| a.trim_end_matches('/')).ok_or_else(|| Error::Url(url.into()))?;
    let fetch = |source| Error::Fetch { url: url.into(), source };
    let mut stream = tokio::net::TcpStream::connect(authority).await.map_err(fetch)?;
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(fetch)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.map_err(fetch)?;
    build_of(&response).ok_or_else(|| Error::Missing { url: url.into() })
}

/// Reads `spire_steward_build_info{version="...",revision="..."} 1` from an exposition.
fn build_of(exposition: &str) -> Option<Build> {
    let line = exposition.lines().find(|l| l.starts_with("spire_steward_build_info{"))?;
    let labels = &line[line.find('{')? + 1..line.rfind('}')?];
    let label = |key: &str| {
        let start = labels.find(&format!("{key}=\""))? + key.len() + 2;
        let end = labels[start..].find('"')? + start;
        Some(labels[start..end].to_owned())
    };
    Some(Build { version: label("version")?, revision: label("revision")?, build_date: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_is_read_from_its_metric() {
        let text =
            "# TYPE spire_steward_build_info gauge\nspire_steward_build_info{version=\"0.1.0\",revision=\"abc\"} 1\n";
        assert_eq!(build_of(text), Some(Build { version: "0.1.0".into(), revision: "abc".into(), build_date: None }));
        assert_eq!(build_of("x 1\n"), None);
    }
}
