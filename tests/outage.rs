//! SPIRE going away and coming back: pending work resumes promptly and nothing is lost.

mod support;

use std::time::{Duration, Instant};

use support::{
    PrivateSpireServer, eventually,
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
    let operator = Operator::start(bed, &world, &server.socket(), "");
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
    world.clean_up().await;
}
