//! The testbed's spire-agent, for tests that need real SVIDs: the agent's Workload API socket
//! and SPIFFE ID, and workloads of a test's own that fetch X509- and JWT-SVIDs from it.
//!
//! The agent attests workloads with the unix plugin and `discover_workload_path`, so a workload
//! is told apart by the path of its binary: each [`Workload`] is a link to (or copy of) the
//! spire-agent binary at a path of its own, and an entry with the selector
//! [`Workload::selector`] (`unix:path:<that path>`) and parent [`Agent::id`] names exactly
//! that workload. Its fetches run `<path> api fetch x509|jwt` against the agent.
//!
//! Lifetimes: SPIRE signs an X509-SVID with `notBefore` 10 s in the past
//! ([`X509_NOT_BEFORE_BACKDATE`], against clock skew) and `notAfter` = now + TTL, cut at the
//! expiry of the signing CA (the testbed's CAs live 24 h and the next one takes over when a sixth
//! of that is left, so TTLs up to 4 h are never cut). Both are whole seconds taken from the same
//! instant, so [`X509Svid::ttl`] (= `notAfter` − `notBefore` − 10 s) equals the entry's TTL
//! exactly. A JWT-SVID has `iat` = now and `exp` = now + TTL: [`JwtSvid::ttl`] is exact too.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use base64::Engine;
use spire_steward::spiffe::{Selector, SpiffeId};

use super::{Testbed, read_env, repo_root, testbed, unique};

/// How far SPIRE backdates an X509-SVID's `notBefore` (`credtemplate.NotBeforeCushion`).
pub const X509_NOT_BEFORE_BACKDATE: Duration = Duration::from_secs(10);

/// The longest a single fetch may take before it counts as failed.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`Workload::wait_for_x509`] fetches.
const POLL: Duration = Duration::from_millis(200);

/// The testbed's spire-agent as it was when [`Agent::get`] returned.
#[derive(Clone, Debug)]
pub struct Agent {
    dir: PathBuf,
    socket: PathBuf,
    id: SpiffeId,
    pid: u32,
    agent_bin: PathBuf,
}

impl Agent {
    /// The testbed's agent, started (with a new join token, so a new SPIFFE ID) by
    /// `hack/testbed/spire-agent.sh` when it is not running or not healthy, e.g. after the
    /// testbed's spire-server came back with new CA keys.
    pub fn get() -> Agent {
        // One start at a time in this binary; spire-agent.sh locks against other processes.
        static STARTING: Mutex<()> = Mutex::new(());
        let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let bed = testbed();
        let dir = agent_dir(bed);
        let out = Command::new(repo_root().join("hack/testbed/spire-agent.sh"))
            .arg("start")
            .arg(&dir)
            .env("SPIRE_SERVER_DIR", bed.var("SPIRE_SERVER_DIR"))
            .env("SPIRE_TRUST_DOMAIN", bed.trust_domain())
            .env("SPIRE_SERVER_BIN", bed.var("SPIRE_SERVER_BIN"))
            .env("SPIRE_AGENT_BIN", bed.var("SPIRE_AGENT_BIN"))
            .stdin(Stdio::null())
            .output()
            .expect("running hack/testbed/spire-agent.sh");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "spire-agent.sh start failed:\n{said}");
        if !said.contains("already running") {
            let _ = std::io::stderr().write_all(said.as_bytes());
        }
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("reading {}: {e}", dir.join(name).display()))
                .trim()
                .to_owned()
        };
        let id = SpiffeId::parse(&read("id")).expect("the agent's SPIFFE ID");
        let pid = read("pid").parse().expect("the agent's pid");
        Agent { socket: dir.join("api.sock"), dir, id, pid, agent_bin: PathBuf::from(bed.var("SPIRE_AGENT_BIN")) }
    }

    /// The Workload API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The agent's SPIFFE ID, `spiffe://<trust domain>/spire/agent/join_token/<token>`: the
    /// parent ID of the entries it serves.
    pub fn id(&self) -> &SpiffeId {
        &self.id
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The agent's directory (config, log `agent.log`, data).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the agent answers its health check now.
    pub fn is_healthy(&self) -> bool {
        Command::new(&self.agent_bin)
            .args(["healthcheck", "-socketPath"])
            .arg(&self.socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A workload of the caller's own, under `/tmp/wl-<unique>/`; removed when dropped.
    pub fn workload(&self, name: &str) -> Workload {
        Workload::new(self, name)
    }
}

/// The agent's directory, from the testbed env file. A testbed started before up.sh knew of the
/// agent has none there; up.sh then starts the agent and adds it.
fn agent_dir(bed: &Testbed) -> PathBuf {
    if let Some(dir) = bed.env.get("SPIRE_AGENT_DIR") {
        return PathBuf::from(dir);
    }
    let status = Command::new(repo_root().join("hack/testbed/up.sh"))
        .env("TESTBED_OWNER_PID", std::process::id().to_string())
        .status()
        .expect("running hack/testbed/up.sh");
    assert!(status.success(), "hack/testbed/up.sh failed");
    let env = read_env(&repo_root().join("target/testbed/env")).expect("the testbed wrote no env file");
    PathBuf::from(env.get("SPIRE_AGENT_DIR").expect("the testbed env has no SPIRE_AGENT_DIR"))
}

/// A process identity of a test's own: a binary at a unique path, which the agent's unix
/// attestor reports as the selector `unix:path:<path>`.
pub struct Workload {
    dir: PathBuf,
    bin: PathBuf,
    socket: PathBuf,
}

impl Workload {
    fn new(agent: &Agent, name: &str) -> Self {
        let dir = PathBuf::from(format!("/tmp/wl-{}", unique(name)));
        std::fs::create_dir_all(&dir).expect("creating the workload directory");
        // The attestor sees the path the kernel resolved, so no symlink may be on the way.
        let dir = dir.canonicalize().expect("resolving the workload directory");
        let bin = dir.join("fetcher");
        // A hard link is as good as a copy (the kernel reports the path it was run by) and
        // saves copying the binary; another file system needs the copy.
        if std::fs::hard_link(&agent.agent_bin, &bin).is_err() {
            std::fs::copy(&agent.agent_bin, &bin).expect("copying the spire-agent binary");
        }
        Workload { dir, bin, socket: agent.socket.clone() }
    }

    /// The absolute path of the workload's binary.
    pub fn path(&self) -> &Path {
        &self.bin
    }

    /// `unix:path:<path>`, the selector that matches this workload and no other.
    pub fn selector(&self) -> Selector {
        Selector::new("unix", &format!("path:{}", self.bin.display())).expect("a valid selector")
    }

    /// Fetches the workload's X509-SVIDs once: the first one, or None when the agent issues
    /// this workload no identity.
    pub async fn fetch_x509(&self) -> Result<Option<X509Svid>, FetchError> {
        let Some(out) = self.api(&["fetch", "x509"]).await? else { return Ok(None) };
        let json: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| FetchError(format!("fetch x509 printed no JSON: {e}")))?;
        let der = json["svids"][0]["x509_svid"]
            .as_str()
            .ok_or_else(|| FetchError(format!("fetch x509 answered without an SVID: {json}")))?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .map_err(|e| FetchError(format!("X509-SVID is not base64: {e}")))?;
        X509Svid::from_der(&der).map(Some)
    }

    /// Fetches a JWT-SVID for `audience` once, or None when the agent issues this workload no
    /// identity. The agent caches JWT-SVIDs by SPIFFE ID and audience: a fresh audience gets a
    /// freshly signed token.
    pub async fn fetch_jwt(&self, audience: &str) -> Result<Option<JwtSvid>, FetchError> {
        let Some(out) = self.api(&["fetch", "jwt", "-audience", audience]).await? else { return Ok(None) };
        let json: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| FetchError(format!("fetch jwt printed no JSON: {e}")))?;
        // The CLI prints the SVID response and then the bundles response.
        let token = json[0]["svids"][0]["svid"]
            .as_str()
            .ok_or_else(|| FetchError(format!("fetch jwt answered without an SVID: {json}")))?;
        JwtSvid::from_token(token).map(Some)
    }

    /// Fetches every ~200 ms until `done` holds for the outcome (None: no identity), and returns
    /// that outcome, or an error naming the last outcome after `timeout`. Fetch errors (the
    /// agent restarting, say) are retried like outcomes that do not satisfy `done`. The time it
    /// took is printed as "`what`: after N.Ns".
    pub async fn wait_for_x509(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(Option<&X509Svid>) -> bool,
    ) -> Result<Option<X509Svid>, FetchError> {
        let start = Instant::now();
        let mut fetches = 0u32;
        loop {
            let outcome = self.fetch_x509().await;
            fetches += 1;
            let last = match outcome {
                Ok(svid) if done(svid.as_ref()) => {
                    let line = format!("{what}: after {:.1}s ({fetches} fetches)\n", start.elapsed().as_secs_f64());
                    let _ = std::io::stderr().write_all(line.as_bytes());
                    return Ok(svid);
                }
                Ok(svid) => format!("{svid:?}"),
                Err(e) => e.to_string(),
            };
            if start.elapsed() >= timeout {
                return Err(FetchError(format!("{what}: not after {timeout:?} ({fetches} fetches); last: {last}")));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs `<workload> api <args> -socketPath <agent> -output json`: its stdout, or None when
    /// the agent answers PermissionDenied "no identity issued".
    async fn api(&self, args: &[&str]) -> Result<Option<Vec<u8>>, FetchError> {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("api")
            .args(args)
            .arg("-socketPath")
            .arg(&self.socket)
            .args(["-output", "json", "-timeout", "5s"])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(FETCH_TIMEOUT, cmd.output())
            .await
            .map_err(|_| FetchError(format!("api {} took longer than {FETCH_TIMEOUT:?}", args.join(" "))))?
            .map_err(|e| FetchError(format!("running {}: {e}", self.bin.display())))?;
        if out.status.success() {
            return Ok(Some(out.stdout));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("code = PermissionDenied") && stderr.contains("no identity issued") {
            return Ok(None);
        }
        Err(FetchError(format!("api {} failed ({}): {}", args.join(" "), out.status, stderr.trim())))
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The leaf certificate of an X509-SVID. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X509Svid {
    /// The URI SAN.
    pub spiffe_id: String,
    pub not_before: i64,
    pub not_after: i64,
    /// The serial number, hex: a new one for every certificate SPIRE signs.
    pub serial: String,
    pub dns_names: Vec<String>,
}

impl X509Svid {
    fn from_der(der: &[u8]) -> Result<Self, FetchError> {
        use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
        // The SVID chain is the leaf followed by any intermediates.
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| FetchError(format!("X509-SVID does not parse: {e}")))?;
        let san = cert
            .subject_alternative_name()
            .map_err(|e| FetchError(format!("X509-SVID's SAN does not parse: {e}")))?
            .ok_or_else(|| FetchError("X509-SVID without SAN".into()))?;
        let mut uris = Vec::new();
        let mut dns_names = Vec::new();
        for name in &san.value.general_names {
            match name {
                GeneralName::URI(uri) => uris.push(uri.to_string()),
                GeneralName::DNSName(dns) => dns_names.push(dns.to_string()),
                _ => {}
            }
        }
        let [spiffe_id] = <[String; 1]>::try_from(uris)
            .map_err(|uris| FetchError(format!("X509-SVID has {} URI SANs, not one", uris.len())))?;
        Ok(X509Svid {
            spiffe_id,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            serial: cert.raw_serial_as_string(),
            dns_names,
        })
    }

    /// `notAfter` − `notBefore`: the TTL plus [`X509_NOT_BEFORE_BACKDATE`].
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.not_after - self.not_before).unwrap_or_default())
    }

    /// The TTL SPIRE signed the SVID with: [`X509Svid::lifetime`] less the backdating of
    /// `notBefore`. Equal to the entry's `x509_svid_ttl` (or the server default), unless the
    /// signing CA expires sooner.
    pub fn ttl(&self) -> Duration {
        self.lifetime().saturating_sub(X509_NOT_BEFORE_BACKDATE)
    }
}

/// The claims of a JWT-SVID that tests look at. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtSvid {
    pub spiffe_id: String,
    pub audience: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl JwtSvid {
    fn from_token(token: &str) -> Result<Self, FetchError> {
        let payload = token.split('.').nth(1).ok_or_else(|| FetchError("JWT-SVID is not a JWS".into()))?;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|e| FetchError(format!("JWT-SVID payload is not base64url: {e}")))?;
        let claims: serde_json::Value =
            serde_json::from_slice(&payload).map_err(|e| FetchError(format!("JWT-SVID claims: {e}")))?;
        let field = |name: &str| claims[name].as_i64().ok_or_else(|| FetchError(format!("JWT-SVID without {name}")));
        let audience = match &claims["aud"] {
            serde_json::Value::String(one) => vec![one.clone()],
            serde_json::Value::Array(many) => many.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        Ok(JwtSvid {
            spiffe_id: claims["sub"].as_str().ok_or_else(|| FetchError("JWT-SVID without sub".into()))?.to_owned(),
            audience,
            issued_at: field("iat")?,
            expires_at: field("exp")?,
        })
    }

    /// `exp` − `iat`: the TTL SPIRE signed the token with.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.expires_at - self.issued_at).unwrap_or_default())
    }
}

/// A fetch that failed for another reason than the workload having no identity.
#[derive(Clone, Debug)]
pub struct FetchError(pub String);

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FetchError {}
