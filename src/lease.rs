//! Leader election on a `coordination.k8s.io/v1` Lease, with the semantics of client-go's
//! `leaderelection` package.
//!
//! Several replicas of the operator may run; only the one holding the Lease (the leader) writes to
//! SPIRE and to status, while the others (standbys) keep their caches warm and wait.
//!
//! - A candidate takes the Lease when it has no holder, or when its record has not changed for
//!   the `leaseDurationSeconds` it declares. Expiry is measured on the candidate's own monotonic
//!   clock from the moment it last *saw* the record change, never from the `renewTime` written by
//!   another machine, so clock skew between nodes does not matter.
//! - The leader renews every `retryPeriod`. If no renewal succeeds for `renewDeadline`, or the
//!   Lease shows another holder, it steps down. As `renewDeadline` is shorter than
//!   `leaseDuration`, the old leader has stopped before any standby considers the Lease expired.
//! - Every write carries the `resourceVersion` that was read, so of two candidates racing for the
//!   same Lease only one write succeeds.
//! - On a graceful stop the leader clears `holderIdentity`, so a standby takes over on its next
//!   attempt instead of waiting for the Lease to expire.
//!
//! Leadership is one-shot, as in client-go: once lost it is not campaigned for again by the same
//! elector: an operator that loses leadership exits, and its restart campaigns again as a standby.
//!
//! ```no_run
//! # async fn example(
//! #     config: spire_steward::config::Config,
//! #     client: kube::Client,
//! # ) -> Result<(), spire_steward::lease::Error> {
//! use spire_steward::lease::LeaderElector;
//!
//! let leadership = LeaderElector::new(&config.leader_election).spawn(client.clone());
//! // Standby: watch and fill the caches, write nothing.
//! leadership.acquired().await?;
//! // Leader: write until leadership is lost or the process is asked to stop.
//! tokio::select! {
//!     _ = leadership.lost() => return Err(spire_steward::lease::Error::Lost),
//!     _ = tokio::signal::ctrl_c() => {}
//! }
//! leadership.release().await;
//! # Ok(())
//! # }
//! ```

use std::time::{Duration, Instant};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use tokio::{
    sync::{oneshot, watch},
    task::JoinHandle,
};
use tracing::Instrument;

use crate::config::LeaderElection;

/// The environment variable that names the pod the operator runs in (downward API).
pub const POD_NAME_ENV: &str = "POD_NAME";
/// The environment variable that names the namespace the operator runs in (downward API).
pub const POD_NAMESPACE_ENV: &str = "POD_NAMESPACE";
/// The namespace file of the mounted service-account token.
pub const SERVICE_ACCOUNT_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// How many times a release is tried again when the Lease changed between reading and writing.
const RELEASE_ATTEMPTS: usize = 3;

/// Why leadership is not (or no longer) held.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("leadership was lost")]
    Lost,
    #[error("the leader elector stopped without holding the lease")]
    Stopped,
    #[error("lease {lease}: {source}")]
    Kube {
        lease: String,
        #[source]
        source: kube::Error,
    },
    #[error("lease {lease}: no answer within {after:?}")]
    Timeout { lease: String, after: Duration },
}

/// Where an elector stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Campaigning: another candidate holds the Lease, or it has not been taken yet.
    Standby,
    /// Holding the Lease: this replica may write.
    Leading,
    /// Leadership ended without a release (renewals failed for the renew deadline, or another
    /// candidate holds the Lease). The elector has stopped.
    Lost,
    /// Stopped by [`Leadership::release`]; the Lease, if held, was handed back.
    Released,
}

impl State {
    pub fn is_leader(self) -> bool {
        self == State::Leading
    }
}

/// A candidate for one Lease, not yet campaigning.
#[derive(Clone, Debug)]
pub struct LeaderElector {
    enabled: bool,
    lease_name: String,
    namespace: String,
    identity: String,
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
}

impl LeaderElector {
    /// An elector for the configured Lease. The namespace, when not configured, is the one the
    /// operator runs in: `$POD_NAMESPACE`, else the service account's namespace file, else
    /// `default`. The identity is `$POD_NAME`, else the hostname with a random suffix.
    pub fn new(config: &LeaderElection) -> Self {
        let namespace = namespace_of(config);
        let identity = default_identity(
            std::env::var(POD_NAME_ENV).ok(),
            hostname(),
            &uuid::Uuid::new_v4().simple().to_string()[..8],
        );
        Self {
            enabled: config.enabled,
            lease_name: config.lease_name.clone(),
            namespace,
            identity,
            lease_duration: config.lease_duration,
            renew_deadline: config.renew_deadline,
            retry_period: config.retry_period,
        }
    }

    /// Uses `identity` as `holderIdentity`. Every candidate for a Lease needs its own; an empty
    /// identity is ignored, since an empty holder means a released Lease.
    pub fn with_identity(mut self, identity: impl Into<String>) -> Self {
        let identity = identity.into();
        if !identity.is_empty() {
            self.identity = identity;
        }
        self
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The namespace of the Lease.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn lease_name(&self) -> &str {
        &self.lease_name
    }

    /// Starts campaigning on a task of its own and returns the handle to follow it. With leader
    /// election disabled, the handle is leading at once and the API is never called.
    ///
    /// Must be called within a Tokio runtime.
    pub fn spawn(self, client: kube::Client) -> Leadership {
        if !self.enabled {
            tracing::info!("leader election disabled: leading without a lease");
            let (tx, rx) = watch::channel(State::Leading);
            return Leadership { state: rx, disabled: Some(tx), stop: None, task: None };
        }
        let (tx, rx) = watch::channel(State::Standby);
        let (stop_tx, stop_rx) = oneshot::channel();
        let campaign = Campaign {
            api: Api::namespaced(client, &self.namespace),
            lease: format!("{}/{}", self.namespace, self.lease_name),
            elector: self,
            observed: None,
            last_renew: None,
            last_holder_logged: None,
            state: tx,
        };
        let span = tracing::info_span!(
            "leader_election",
            lease = %campaign.lease,
            identity = %campaign.elector.identity
        );
        let task = tokio::spawn(campaign.run(stop_rx).instrument(span));
        Leadership { state: rx, disabled: None, stop: Some(stop_tx), task: Some(task) }
    }
}

/// A running campaign for a Lease.
///
/// Dropping the handle stops the campaign at once without handing the Lease back (as a crash
/// would): the other candidates take over once it expires. Call [`Leadership::release`] for a
/// prompt handover.
#[derive(Debug)]
pub struct Leadership {
    state: watch::Receiver<State>,
    /// Keeps the state channel open when leader election is disabled.
    disabled: Option<watch::Sender<State>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Leadership {
    /// Whether this replica holds the Lease now.
    pub fn is_leader(&self) -> bool {
        self.state.borrow().is_leader()
    }

    pub fn state(&self) -> State {
        *self.state.borrow()
    }

    /// A receiver of every change of state, for tasks that must stop writing the moment
    /// leadership ends.
    pub fn subscribe(&self) -> watch::Receiver<State> {
        self.state.clone()
    }

    /// Resolves once this replica leads. Fails when leadership was already lost, or the campaign
    /// ended without it.
    pub async fn acquired(&self) -> Result<(), Error> {
        let mut state = self.state.clone();
        let reached = state.wait_for(|s| *s != State::Standby).await.map(|s| *s);
        match reached {
            Ok(State::Leading) => Ok(()),
            Ok(State::Lost) => Err(Error::Lost),
            Ok(State::Standby | State::Released) | Err(_) => Err(Error::Stopped),
        }
    }

    /// Resolves once leadership is lost (the renew deadline passed, or another candidate holds
    /// the Lease), or if the campaign ended unexpectedly. Never resolves while standing by or
    /// when leader election is disabled.
    pub async fn lost(&self) {
        let mut state = self.state.clone();
        let _ = state.wait_for(|s| *s == State::Lost).await;
    }

    /// Stops campaigning and, if this replica holds the Lease, hands it back by clearing
    /// `holderIdentity`, so that a standby takes over on its next attempt. Gives up after the
    /// renew deadline; the Lease then expires on its own.
    pub async fn release(mut self) {
        if let Some(tx) = self.disabled.take() {
            tx.send_replace(State::Released);
            tracing::info!("released");
            return;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What one attempt on the Lease found.
enum Outcome {
    /// The Lease is ours: just created, taken or renewed.
    Held,
    /// The Lease was not written: another candidate holds it, or won a race for it.
    NotHeld,
    /// Leadership must end.
    StepDown,
}

/// The Lease record as last seen, and when it was first seen in that form.
#[derive(Clone, Debug, PartialEq)]
struct Record {
    spec: LeaseSpec,
    changed_at: Instant,
}

/// Follows a Lease's record: `changed_at` moves only when the record differs from the previous
/// one, as client-go compares the raw record.
fn observe(previous: Option<Record>, current: Option<&LeaseSpec>, now: Instant) -> Option<Record> {
    let spec = current?;
    match previous {
        Some(previous) if previous.spec == *spec => Some(previous),
        _ => Some(Record { spec: spec.clone(), changed_at: now }),
    }
}

struct Campaign {
    elector: LeaderElector,
    api: Api<Lease>,
    /// `namespace/name`, for logs and errors.
    lease: String,
    observed: Option<Record>,
    /// When the last successful write while leading was sent; None while standing by.
    last_renew: Option<Instant>,
    last_holder_logged: Option<String>,
    state: watch::Sender<State>,
}

impl Campaign {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let retry_period = self.elector.retry_period;
        loop {
            let now = Instant::now();
            if renew_deadline_passed(self.last_renew, self.elector.renew_deadline, now) {
                self.lose("no renewal succeeded within the renew deadline");
                return;
            }
            let budget = match self.last_renew {
                Some(renewed) => (renewed + self.elector.renew_deadline).saturating_duration_since(now),
                None => self.elector.renew_deadline,
            };
            let attempt = tokio::select! {
                _ = &mut stop => {
                    self.release().await;
                    return;
                }
                attempt = tokio::time::timeout(budget, self.try_acquire_or_renew()) => attempt,
            };
            match attempt {
                Ok(Ok(Outcome::Held)) => {
                    if !self.state.borrow().is_leader() {
                        self.state.send_replace(State::Leading);
                        let transitions = self.observed.as_ref().and_then(|r| r.spec.lease_transitions).unwrap_or(0);
                        tracing::info!(transitions, "became leader");
                    }
                }
                Ok(Ok(Outcome::NotHeld)) => self.log_holder(),
                Ok(Ok(Outcome::StepDown)) => {
                    let holder = self.holder().unwrap_or_default().to_owned();
                    let reason = if renew_deadline_passed(self.last_renew, self.elector.renew_deadline, Instant::now())
                    {
                        "no renewal succeeded within the renew deadline".to_owned()
                    } else {
                        format!("the lease is held by {holder:?}")
                    };
                    self.lose(&reason);
                    return;
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "lease attempt failed");
                }
                Err(_) => {
                    let error = Error::Timeout { lease: self.lease.clone(), after: budget };
                    tracing::warn!(%error, "lease attempt failed");
                }
            }
            // A leader wakes up no later than its renew deadline, so that it steps down on time.
            let pause = match self.last_renew {
                Some(renewed) => {
                    retry_period.min((renewed + self.elector.renew_deadline).saturating_duration_since(Instant::now()))
                }
                None => retry_period,
            };
            tokio::select! {
                _ = &mut stop => {
                    self.release().await;
                    return;
                }
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    fn holder(&self) -> Option<&str> {
        self.observed.as_ref().and_then(|r| holder_of(&r.spec))
    }

    fn lose(&mut self, reason: &str) {
        self.state.send_replace(State::Lost);
        tracing::error!(reason, "lost leadership");
    }

    /// Logs the holder once per change of holder, while standing by.
    fn log_holder(&mut self) {
        let holder = self.holder().map(str::to_owned);
        let other = holder.as_deref().is_some_and(|h| h != self.elector.identity);
        if other && holder != self.last_holder_logged {
            tracing::info!(
                holder = holder.as_deref().unwrap_or_default(),
                "standing by: the lease is held by another candidate"
            );
            self.last_holder_logged = holder;
        }
    }

    fn kube_error(&self, source: kube::Error) -> Error {
        Error::Kube { lease: self.lease.clone(), source }
    }

    /// One round of client-go's `tryAcquireOrRenew`: read the Lease, decide, and write with the
    /// `resourceVersion` that was read.
    async fn try_acquire_or_renew(&mut self) -> Result<Outcome, Error> {
        let name = self.elector.lease_name.clone();
        let current = self.api.get_opt(&name).await.map_err(|e| self.kube_error(e))?;
        let now = Instant::now();
        self.observed =
            observe(self.observed.take(), current.as_ref().map(|l| l.spec.clone().unwrap_or_default()).as_ref(), now);
        let view = self.observed.as_ref().map(|r| View {
            holder: holder_of(&r.spec),
            lease_duration: declared_duration(&r.spec).unwrap_or(self.elector.lease_duration),
            changed_at: r.changed_at,
        });
        let decision = decide(&self.elector.identity, view.as_ref(), self.last_renew, self.elector.renew_deadline, now);
        let renewing = match decision {
            Decision::Wait => return Ok(Outcome::NotHeld),
            Decision::StepDown => return Ok(Outcome::StepDown),
            Decision::Acquire => false,
            Decision::Renew => true,
        };
        let previous = current.as_ref().and_then(|l| l.spec.as_ref());
        let spec = next_spec(previous, renewing, &self.elector.identity, self.elector.lease_duration, Timestamp::now());
        let written = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(self.elector.namespace.clone()),
                        ..Default::default()
                    },
                    spec: Some(spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                lease.spec = Some(spec);
                self.api.replace(&name, &PostParams::default(), &lease).await
            }
        };
        match written {
            Ok(lease) => {
                self.observed = observe(None, Some(&lease.spec.unwrap_or_default()), now);
                self.last_renew = Some(now);
                Ok(Outcome::Held)
            }
            // Another candidate wrote first; the next round reads what it wrote.
            Err(kube::Error::Api(status)) if status.is_conflict() || status.is_already_exists() => {
                tracing::debug!("another candidate wrote the lease first");
                Ok(Outcome::NotHeld)
            }
            Err(e) => Err(self.kube_error(e)),
        }
    }

    /// Hands the Lease back if this candidate holds it, giving up after the renew deadline.
    async fn release(&mut self) {
        // Writers stop before the Lease is handed back.
        self.state.send_replace(State::Released);
        let deadline = self.elector.renew_deadline;
        let error = match tokio::time::timeout(deadline, self.clear_holder()).await {
            Ok(Ok(held)) => {
                tracing::info!(held, "released");
                return;
            }
            Ok(Err(error)) => error,
            Err(_) => Error::Timeout { lease: self.lease.clone(), after: deadline },
        };
        tracing::warn!(%error, "released; the lease was not handed back and expires on its own");
    }

    /// Clears `holderIdentity` if it is this candidate's. Returns whether it was.
    async fn clear_holder(&self) -> Result<bool, Error> {
        let name = &self.elector.lease_name;
        for _ in 0..RELEASE_ATTEMPTS {
            let Some(mut lease) = self.api.get_opt(name).await.map_err(|e| self.kube_error(e))? else {
                return Ok(false);
            };
            let spec = lease.spec.unwrap_or_default();
            if holder_of(&spec) != Some(self.elector.identity.as_str()) {
                return Ok(false);
            }
            lease.spec = Some(released_spec(&spec, Timestamp::now()));
            match self.api.replace(name, &PostParams::default(), &lease).await {
                Ok(_) => return Ok(true),
                Err(kube::Error::Api(status)) if status.is_conflict() => continue,
                Err(e) => return Err(self.kube_error(e)),
            }
        }
        Ok(false)
    }
}

/// The Lease as one candidate sees it when deciding.
#[derive(Clone, Copy, Debug)]
struct View<'a> {
    /// `holderIdentity`; None when unset or empty (a released Lease).
    holder: Option<&'a str>,
    /// `leaseDurationSeconds` as declared by the holder.
    lease_duration: Duration,
    /// When this candidate last saw the record change, on its own clock.
    changed_at: Instant,
}

/// What to do with the Lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    /// Create the Lease, or write this candidate over an empty or expired one.
    Acquire,
    /// Extend this candidate's own hold.
    Renew,
    /// Another candidate holds a Lease that has not expired.
    Wait,
    /// Stop leading: no renewal succeeded within the renew deadline, or another candidate holds
    /// the Lease.
    StepDown,
}

fn renew_deadline_passed(last_renew: Option<Instant>, renew_deadline: Duration, now: Instant) -> bool {
    last_renew.is_some_and(|renewed| now >= renewed + renew_deadline)
}

/// client-go's decision, as a pure function of what is known: the Lease as observed (None when
/// there is no Lease object), when this candidate last renewed while leading (None while
/// standing by), and the time now.
fn decide(
    identity: &str,
    lease: Option<&View<'_>>,
    last_renew: Option<Instant>,
    renew_deadline: Duration,
    now: Instant,
) -> Decision {
    let leading = last_renew.is_some();
    if renew_deadline_passed(last_renew, renew_deadline, now) {
        return Decision::StepDown;
    }
    let Some(lease) = lease else {
        return Decision::Acquire;
    };
    match lease.holder {
        Some(holder) if holder == identity => Decision::Renew,
        Some(_) if leading => Decision::StepDown,
        None => Decision::Acquire,
        Some(_) if now >= lease.changed_at + lease.lease_duration => Decision::Acquire,
        Some(_) => Decision::Wait,
    }
}

fn holder_of(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity.as_deref().filter(|h| !h.is_empty())
}

fn declared_duration(spec: &LeaseSpec) -> Option<Duration> {
    spec.lease_duration_seconds.and_then(|s| u64::try_from(s).ok()).filter(|s| *s > 0).map(Duration::from_secs)
}

/// A duration in whole seconds, rounded up, at least one: the unit of `leaseDurationSeconds`.
fn whole_seconds(duration: Duration) -> i32 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
}

/// The record to write when taking (`renewing` false) or renewing the Lease. Taking it counts a
/// transition and sets `acquireTime`; renewing keeps both. Other fields are kept as they were.
fn next_spec(
    previous: Option<&LeaseSpec>,
    renewing: bool,
    identity: &str,
    lease_duration: Duration,
    now: Timestamp,
) -> LeaseSpec {
    let mut spec = previous.cloned().unwrap_or_default();
    let transitions = spec.lease_transitions.unwrap_or(0);
    if renewing {
        spec.lease_transitions = Some(transitions);
        spec.acquire_time = spec.acquire_time.or(Some(MicroTime(now)));
    } else {
        spec.lease_transitions = Some(if previous.is_some() { transitions.saturating_add(1) } else { 0 });
        spec.acquire_time = Some(MicroTime(now));
    }
    spec.holder_identity = Some(identity.to_owned());
    spec.lease_duration_seconds = Some(whole_seconds(lease_duration));
    spec.renew_time = Some(MicroTime(now));
    spec
}

/// The record a leader writes when it hands the Lease back, as client-go does: no holder, a
/// one-second duration, the transitions kept.
fn released_spec(previous: &LeaseSpec, now: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: previous.lease_transitions,
        ..previous.clone()
    }
}

/// The namespace of the configured Lease (and of the instance's other objects): the configured
/// one, else the one the operator runs in (`$POD_NAMESPACE`, else the service account's
/// namespace file), else `default`.
pub fn namespace_of(config: &LeaderElection) -> String {
    resolve_namespace(
        config.lease_namespace.clone(),
        std::env::var(POD_NAMESPACE_ENV).ok(),
        std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE_FILE).ok(),
    )
}

/// The Lease's namespace: the configured one, else `$POD_NAMESPACE`, else the service account's
/// namespace file, else `default`.
fn resolve_namespace(configured: Option<String>, env: Option<String>, file: Option<String>) -> String {
    [configured, env, file]
        .into_iter()
        .flatten()
        .map(|n| n.trim().to_owned())
        .find(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// `$POD_NAME`, else `<hostname>_<suffix>` (the suffix keeps two processes on one host apart).
fn default_identity(pod_name: Option<String>, hostname: Option<String>, suffix: &str) -> String {
    if let Some(pod) = pod_name.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()) {
        return pod;
    }
    let host =
        hostname.map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).unwrap_or_else(|| "spire-steward".to_owned());
    format!("{host}_{suffix}")
}

fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .chain(std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .find(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "me";
    const OTHER: &str = "other";
    const LEASE: Duration = Duration::from_secs(15);
    const DEADLINE: Duration = Duration::from_secs(10);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn decisions() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + secs(s);
        let view = |holder: Option<&'static str>, duration: u64, changed: u64| View {
            holder,
            lease_duration: secs(duration),
            changed_at: at(changed),
        };
        // (row, lease as observed, last renew while leading, now, decision)
        type Row = (&'static str, Option<View<'static>>, Option<Instant>, Instant, Decision);
        let rows: Vec<Row> = vec![
            ("no lease object", None, None, at(0), Decision::Acquire),
            ("empty lease", Some(view(None, 15, 0)), None, at(0), Decision::Acquire),
            ("expired lease", Some(view(Some(OTHER), 15, 0)), None, at(15), Decision::Acquire),
            ("long expired lease", Some(view(Some(OTHER), 15, 0)), None, at(100), Decision::Acquire),
            ("held by other and fresh", Some(view(Some(OTHER), 15, 0)), None, at(14), Decision::Wait),
            ("held by other, renewed since", Some(view(Some(OTHER), 15, 20)), None, at(30), Decision::Wait),
            (
                "held by other with a short declared duration",
                Some(view(Some(OTHER), 2, 0)),
                None,
                at(2),
                Decision::Acquire,
            ),
            ("held by self while leading", Some(view(Some(ME), 15, 5)), Some(at(5)), at(7), Decision::Renew),
            (
                "held by self while standing by (same identity after a restart)",
                Some(view(Some(ME), 15, 0)),
                None,
                at(1),
                Decision::Renew,
            ),
            ("renew deadline passed", Some(view(Some(ME), 15, 0)), Some(at(0)), at(10), Decision::StepDown),
            ("renew deadline passed, lease gone", None, Some(at(0)), at(11), Decision::StepDown),
            (
                "leading, but another candidate holds the lease",
                Some(view(Some(OTHER), 15, 3)),
                Some(at(2)),
                at(4),
                Decision::StepDown,
            ),
            ("leading, lease object deleted", None, Some(at(2)), at(4), Decision::Acquire),
            ("holder identity empty after release", Some(view(None, 1, 10)), None, at(10), Decision::Acquire),
        ];
        for (row, lease, last_renew, now, want) in rows {
            let got = decide(ME, lease.as_ref(), last_renew, DEADLINE, now);
            assert_eq!(got, want, "{row}");
        }
    }

    #[test]
    fn expiry_counts_from_the_observed_change_not_renew_time() {
        // A renewTime far in the past (another node's clock) does not expire a record that was
        // seen changing just now.
        let t0 = Instant::now();
        let spec = LeaseSpec {
            holder_identity: Some(OTHER.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(Timestamp::UNIX_EPOCH)),
            ..Default::default()
        };
        let record = observe(None, Some(&spec), t0).unwrap();
        let view = View {
            holder: holder_of(&record.spec),
            lease_duration: declared_duration(&record.spec).unwrap(),
            changed_at: record.changed_at,
        };
        assert_eq!(decide(ME, Some(&view), None, DEADLINE, t0 + secs(1)), Decision::Wait);
    }

    #[test]
    fn observation_moves_only_when_the_record_changes() {
        let t0 = Instant::now();
        let spec = |renew: i64| LeaseSpec {
            holder_identity: Some(OTHER.into()),
            renew_time: Some(MicroTime(Timestamp::from_second(renew).unwrap())),
            ..Default::default()
        };
        let first = observe(None, Some(&spec(1)), t0);
        assert_eq!(first.as_ref().unwrap().changed_at, t0);
        let same = observe(first.clone(), Some(&spec(1)), t0 + secs(5));
        assert_eq!(same.as_ref().unwrap().changed_at, t0, "unchanged record");
        let renewed = observe(same, Some(&spec(2)), t0 + secs(6));
        assert_eq!(renewed.as_ref().unwrap().changed_at, t0 + secs(6));
        assert_eq!(observe(renewed, None, t0 + secs(7)), None, "lease deleted");
    }

    #[test]
    fn records_written() {
        let t1 = Timestamp::from_second(1_000).unwrap();
        let t2 = Timestamp::from_second(2_000).unwrap();

        let created = next_spec(None, false, ME, LEASE, t1);
        assert_eq!(created.holder_identity.as_deref(), Some(ME));
        assert_eq!(created.lease_transitions, Some(0));
        assert_eq!(created.lease_duration_seconds, Some(15));
        assert_eq!(created.acquire_time, Some(MicroTime(t1)));
        assert_eq!(created.renew_time, Some(MicroTime(t1)));

        let renewed = next_spec(Some(&created), true, ME, LEASE, t2);
        assert_eq!(renewed.lease_transitions, Some(0));
        assert_eq!(renewed.acquire_time, Some(MicroTime(t1)), "acquireTime kept");
        assert_eq!(renewed.renew_time, Some(MicroTime(t2)));

        let taken = next_spec(Some(&renewed), false, OTHER, secs(2), t2);
        assert_eq!(taken.holder_identity.as_deref(), Some(OTHER));
        assert_eq!(taken.lease_transitions, Some(1));
        assert_eq!(taken.lease_duration_seconds, Some(2));
        assert_eq!(taken.acquire_time, Some(MicroTime(t2)));

        let released = released_spec(&taken, t2);
        assert_eq!(released.holder_identity, None);
        assert_eq!(holder_of(&released), None);
        assert_eq!(released.lease_transitions, Some(1), "transitions kept");
        assert_eq!(released.lease_duration_seconds, Some(1));

        let retaken = next_spec(Some(&released), false, ME, LEASE, t2);
        assert_eq!(retaken.lease_transitions, Some(2));

        let empty_holder = LeaseSpec { holder_identity: Some(String::new()), ..Default::default() };
        assert_eq!(holder_of(&empty_holder), None);
    }

    #[test]
    fn lease_duration_in_whole_seconds() {
        assert_eq!(whole_seconds(secs(15)), 15);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(100)), 1);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        let declared = |s| LeaseSpec { lease_duration_seconds: Some(s), ..Default::default() };
        assert_eq!(declared_duration(&declared(7)), Some(secs(7)));
        assert_eq!(declared_duration(&declared(0)), None);
        assert_eq!(declared_duration(&declared(-1)), None);
    }

    #[test]
    fn namespace_resolution() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(resolve_namespace(s("cfg"), s("env"), s("file")), "cfg");
        assert_eq!(resolve_namespace(None, s("env"), s("file")), "env");
        assert_eq!(resolve_namespace(None, s(""), s("spire-system\n")), "spire-system");
        assert_eq!(resolve_namespace(None, None, None), "default");
        assert_eq!(resolve_namespace(None, None, s(" ")), "default");
    }

    #[test]
    fn identities() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(default_identity(s("pod-1"), s("host"), "abc"), "pod-1");
        assert_eq!(default_identity(s(""), s("host\n"), "abc"), "host_abc");
        assert_eq!(default_identity(None, None, "abc"), "spire-steward_abc");
    }

    #[test]
    fn elector_from_config() {
        let config = LeaderElection {
            enabled: true,
            lease_name: "spire-steward".into(),
            lease_namespace: Some("spire-system".into()),
            lease_duration: LEASE,
            renew_deadline: DEADLINE,
            retry_period: secs(2),
        };
        let a = LeaderElector::new(&config);
        let b = LeaderElector::new(&config);
        assert_eq!(a.namespace(), "spire-system");
        assert_eq!(a.lease_name(), "spire-steward");
        assert!(!a.identity().is_empty());
        if std::env::var(POD_NAME_ENV).is_err() {
            assert_ne!(a.identity(), b.identity(), "random suffix");
        }
        assert_eq!(a.clone().with_identity("x").identity(), "x");
        assert_eq!(a.clone().with_identity("").identity(), a.identity());
    }
}
