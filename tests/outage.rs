//! SPIRE going away and coming back: pending work resumes promptly and nothing is lost.

mod support;

use std::time::{Duration, Instant};

use support::{
    PrivateSpireServer,
    audit::{AuditLog, is},
    eventually,
    operator::{Operator, World, entries},
    testbed,
};

/// The longest a test accepts between SPIRE answering again and the pending entries being in
/// it. The operator's backoff never waits more than two seconds; the rest is margin for a
/// loaded machine.
const RESUME: Duration = Duration::from_secs(5);

#[tokio::test]
async fn writes_resume_within_seconds_of_spire_answering_again() {
    let bed = testbed();
    let server = PrivateSpireServer::start(bed);
    let spire = spire_steward::spire::SpireClient::new(spire_steward::spire::ClientConfig::new(server.socket()));
    let world = World::with_one_pod(bed, "resume").await;
    let audit = AuditLog::new(&world);
    let operator = Operator::start(bed, &world, &server.socket(), &audit.config());
    let first = eventually(Duration::from_secs(30), || async {
        (entries(&spire, &world.prefix).await.len() == 1).then_some(())
    })
    .await;
    assert!(first.is_some(), "no first entry\n{}", operator.log_text());

    // Ten seconds without SPIRE while pods keep arriving: every write attempt fails and the
    // backoff grows.
    server.run("stop");
    for i in 2..=4 {
        world.pod(&format!("p-{i}"), &[], Some("node")).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.run("start");
    let back = Instant::now();
    let resumed = eventually(Duration::from_secs(60), || async {
        (entries(&spire, &world.prefix).await.len() == 4).then(|| back.elapsed())
    })
    .await;
    let Some(took) = resumed else {
        panic!("the pending entries never reached SPIRE\n{}", operator.log_text());
    };
    assert!(
        took <= RESUME,
        "the pending entries took {took:?} to reach SPIRE once it answered\n{}",
        operator.log_text()
    );
    // The audit: each write tried while SPIRE was away is a failed record with the code SPIRE's
    // absence gave; each pending entry then has its success.
    for i in 2..=4 {
        let path = format!("/pod/p-{i}");
        let tries = audit
            .wait(&operator, "the create that went", |r| is(r, "create", &path) && r["outcome"] == "success")
            .await;
        assert_eq!(tries["reason"], "pod-created", "{tries}");
        let all = audit.matching(|r| is(r, "create", &path));
        assert_eq!(all.iter().filter(|r| r["outcome"] == "success").count(), 1, "{all:#?}");
    }
    let failed = audit.matching(|r| r["action"] == "create" && r["outcome"] == "failed");
    assert!(!failed.is_empty(), "no failed write recorded during the outage: {:#?}", audit.records());
    for record in &failed {
        let code = record["error"]["code"].as_str().unwrap_or_default();
        assert!(["Unavailable", "DeadlineExceeded"].contains(&code), "{record}");
    }
    world.clean_up().await;
}
