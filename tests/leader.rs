//! Leader election against the real kube-apiserver: one leader among candidates, handover on
//! release, takeover after a crashed leader's Lease expires, stepping down when the Lease is
//! taken or cannot be renewed, and no Lease at all when leader election is disabled.
//!
//! Every test uses a Lease of its own in `default`, with short durations (lease 2s, renew
//! deadline 1s, retry 200ms), and deletes it at the end, even when it fails.

mod support;

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    path::Path,
    time::{Duration, Instant},
};

use futures::FutureExt;
use k8s_openapi::{api::coordination::v1::Lease, apimachinery::pkg::apis::meta::v1::MicroTime, jiff::Timestamp};
use kube::{
    Api,
    api::{DeleteParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use spire_steward::{
    config::LeaderElection,
    lease::{Error, LeaderElector, Leadership, State},
};
use support::{testbed, unique};
use tokio::{net::TcpListener, task::JoinSet};

const NAMESPACE: &str = "default";
const LEASE_DURATION: Duration = Duration::from_secs(2);
const RENEW_DEADLINE: Duration = Duration::from_secs(1);
const RETRY_PERIOD: Duration = Duration::from_millis(200);
/// Long enough for any single step to happen, short enough that a hung test fails quickly.
const WAIT: Duration = Duration::from_secs(8);

fn config(lease_name: &str, enabled: bool) -> LeaderElection {
    LeaderElection {
        enabled,
        lease_name: lease_name.to_owned(),
        lease_namespace: Some(NAMESPACE.to_owned()),
        lease_duration: LEASE_DURATION,
        renew_deadline: RENEW_DEADLINE,
        retry_period: RETRY_PERIOD,
    }
}

fn candidate(lease_name: &str, identity: &str) -> LeaderElector {
    LeaderElector::new(&config(lease_name, true)).with_identity(format!("{identity}-{lease_name}"))
}

fn leases(client: &kube::Client) -> Api<Lease> {
    Api::namespaced(client.clone(), NAMESPACE)
}

async fn lease(client: &kube::Client, name: &str) -> Lease {
    leases(client).get_opt(name).await.unwrap().unwrap_or_else(|| panic!("no lease {name}"))
}

fn holder(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref().filter(|h| !h.is_empty())
}

fn transitions(lease: &Lease) -> Option<i32> {
    lease.spec.as_ref()?.lease_transitions
}

/// Waits until `leadership` leads, failing the test after [`WAIT`].
async fn acquired(leadership: &Leadership, who: &str) {
    tokio::time::timeout(WAIT, leadership.acquired())
        .await
        .unwrap_or_else(|_| panic!("{who} did not become leader within {WAIT:?}"))
        .unwrap_or_else(|e| panic!("{who} did not become leader: {e}"));
}

/// Runs a test with a fresh Lease name and deletes that Lease afterwards, even when the test
/// fails (its electors are dropped, and so stopped, before the deletion).
async fn with_lease<F, Fut>(test: F)
where
    F: FnOnce(kube::Client, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "spire_steward=info".into()),
        )
        .with_ansi(false)
        .with_test_writer()
        .try_init();
    let client = testbed().kube_admin().await;
    let name = unique("lease");
    let outcome = AssertUnwindSafe(test(client.clone(), name.clone())).catch_unwind().await;
    let _ = leases(&client).delete(&name, &DeleteParams::default()).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_candidates_one_leader() {
    with_lease(|client, name| async move {
        let a = candidate(&name, "a").spawn(client.clone());
        let b = candidate(&name, "b").spawn(client.clone());
        let first = tokio::time::timeout(WAIT, async {
            tokio::select! {
                r = a.acquired() => r.map(|()| "a"),
                r = b.acquired() => r.map(|()| "b"),
            }
        })
        .await
        .expect("nobody became leader")
        .unwrap();

        // Over more than a lease duration of renewals, the same single candidate leads.
        for _ in 0..15 {
            assert!(a.is_leader() != b.is_leader(), "a leads: {}, b leads: {}", a.is_leader(), b.is_leader());
            assert_eq!(if a.is_leader() { "a" } else { "b" }, first);
            tokio::time::sleep(RETRY_PERIOD).await;
        }
        let standby = if first == "a" { &b } else { &a };
        assert_eq!(standby.state(), State::Standby);

        let lease = lease(&client, &name).await;
        let spec = lease.spec.as_ref().unwrap();
        assert_eq!(holder(&lease), Some(format!("{first}-{name}").as_str()));
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(spec.lease_duration_seconds, Some(2));
        assert!(spec.acquire_time.is_some() && spec.renew_time.is_some());
        assert!(spec.renew_time >= spec.acquire_time);

        a.release().await;
        b.release().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_hands_over_within_a_retry_period() {
    with_lease(|client, name| async move {
        let a = candidate(&name, "a").spawn(client.clone());
        acquired(&a, "a").await;
        let b = candidate(&name, "b").spawn(client.clone());
        tokio::time::sleep(3 * RETRY_PERIOD).await;
        assert_eq!(b.state(), State::Standby, "b must wait while a leads");

        let a_state = a.subscribe();
        a.release().await;
        let released = Instant::now();
        assert_eq!(*a_state.borrow(), State::Released);

        acquired(&b, "b").await;
        let took = released.elapsed();
        // An expired (not released) Lease would take about the lease duration (2s).
        assert!(took < Duration::from_secs(1), "b took over {took:?} after the release");
        let held = lease(&client, &name).await;
        assert_eq!(holder(&held), Some(format!("b-{name}").as_str()));
        assert_eq!(transitions(&held), Some(1));

        b.release().await;
        let released = lease(&client, &name).await;
        assert_eq!(holder(&released), None, "released lease keeps no holder");
        assert_eq!(transitions(&released), Some(1));
        assert_eq!(released.spec.unwrap().lease_duration_seconds, Some(1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_leader_is_replaced_after_the_lease_expires() {
    with_lease(|client, name| async move {
        let a = candidate(&name, "a").spawn(client.clone());
        acquired(&a, "a").await;
        let b = candidate(&name, "b").spawn(client.clone());
        tokio::time::sleep(3 * RETRY_PERIOD).await;
        assert_eq!(b.state(), State::Standby);

        // Dropping the handle stops a's campaign without a release, as a crash would.
        drop(a);
        let crashed = Instant::now();
        acquired(&b, "b").await;
        let took = crashed.elapsed();
        // a renewed at most one retry period before it stopped; b counts the lease duration
        // from when it saw that renewal.
        assert!(took >= LEASE_DURATION - 2 * RETRY_PERIOD, "b took over after {took:?}, before the lease expired");
        assert!(took <= LEASE_DURATION + 5 * RETRY_PERIOD + Duration::from_secs(1), "b took over only after {took:?}");
        let held = lease(&client, &name).await;
        assert_eq!(holder(&held), Some(format!("b-{name}").as_str()));
        assert_eq!(transitions(&held), Some(1));

        b.release().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_steps_down_when_another_holds_the_lease() {
    with_lease(|client, name| async move {
        let a = candidate(&name, "a").spawn(client.clone());
        acquired(&a, "a").await;

        // Overwrite the holder, reading again whenever a renewal of a's came in between.
        let mut attempts = 0;
        loop {
            let mut taken = lease(&client, &name).await;
            let spec = taken.spec.as_mut().unwrap();
            spec.holder_identity = Some("intruder".into());
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            match leases(&client).replace(&name, &PostParams::default(), &taken).await {
                Ok(_) => break,
                Err(kube::Error::Api(status)) if status.is_conflict() && attempts < 10 => {
                    attempts += 1;
                }
                Err(e) => panic!("overwriting the lease: {e}"),
            }
        }

        tokio::time::timeout(RENEW_DEADLINE + RETRY_PERIOD, a.lost())
            .await
            .expect("a kept leading after the lease was taken");
        assert_eq!(a.state(), State::Lost);
        assert!(matches!(a.acquired().await, Err(Error::Lost)));
        // The elector stops for good and leaves the lease to its holder.
        tokio::time::sleep(3 * RETRY_PERIOD).await;
        assert_eq!(holder(&lease(&client, &name).await), Some("intruder"));
        a.release().await;
        assert_eq!(holder(&lease(&client, &name).await), Some("intruder"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_steps_down_before_a_standby_can_take_over() {
    with_lease(|client, name| async move {
        // a reaches the API server through a proxy that the test cuts.
        let proxy = Proxy::start().await;
        let a = candidate(&name, "a").spawn(proxy.client().await);
        acquired(&a, "a").await;
        let b = candidate(&name, "b").spawn(client.clone());
        tokio::time::sleep(3 * RETRY_PERIOD).await;
        assert_eq!(b.state(), State::Standby);

        proxy.cut();
        let cut = Instant::now();
        tokio::time::timeout(WAIT, a.lost()).await.expect("a kept leading without renewing");
        let lost_after = cut.elapsed();
        assert!(
            lost_after <= RENEW_DEADLINE + RETRY_PERIOD,
            "a stepped down only {lost_after:?} after renewals started failing"
        );
        assert_eq!(a.state(), State::Lost);

        acquired(&b, "b").await;
        let taken_after = cut.elapsed();
        assert!(
            lost_after < taken_after,
            "b took over after {taken_after:?}, before a stepped down after {lost_after:?}"
        );
        assert_eq!(holder(&lease(&client, &name).await), Some(format!("b-{name}").as_str()));
        b.release().await;
        a.release().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_leads_at_once_without_a_lease() {
    with_lease(|client, name| async move {
        let leadership = LeaderElector::new(&config(&name, false)).spawn(client.clone());
        assert!(leadership.is_leader());
        tokio::time::timeout(Duration::from_millis(100), leadership.acquired())
            .await
            .expect("leadership without election is immediate")
            .unwrap();
        assert!(
            tokio::time::timeout(3 * RETRY_PERIOD, leadership.lost()).await.is_err(),
            "leadership without election is never lost"
        );
        assert!(leases(&client).get_opt(&name).await.unwrap().is_none());
        let state = leadership.subscribe();
        leadership.release().await;
        assert_eq!(*state.borrow(), State::Released);
        assert!(leases(&client).get_opt(&name).await.unwrap().is_none());
    })
    .await;
}

/// A TCP proxy on 127.0.0.1 in front of the testbed's kube-apiserver, which a test can cut to
/// make every request through it fail.
struct Proxy {
    port: u16,
    tasks: std::sync::Mutex<JoinSet<()>>,
}

impl Proxy {
    async fn start() -> Self {
        let upstream =
            testbed().var("KUBE_APISERVER_URL").trim_start_matches("https://").trim_end_matches('/').to_owned();
        assert!(upstream.starts_with("127.0.0.1:"), "{upstream}");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { port, tasks: std::sync::Mutex::new(tasks) }
    }

    /// An admin client that reaches the API server through the proxy.
    async fn client(&self) -> kube::Client {
        let path = testbed().var("KUBECONFIG_ADMIN").to_owned();
        let kubeconfig = Kubeconfig::read_from(Path::new(&path)).unwrap();
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
        config.cluster_url = format!("https://127.0.0.1:{}", self.port).parse().unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// Closes the listener and every connection through it.
    fn cut(&self) {
        self.tasks.lock().unwrap().abort_all();
    }
}
