//! What a real spire-agent serves a workload for an entry written straight into SPIRE (no
//! operator): the entry's SPIFFE ID and TTLs, a new X509-SVID once the TTL changes, and no
//! identity once the entry is gone.

mod support;

use std::{process::Command, time::Duration};

use spire_steward::{
    spiffe::{Entry, EntryField, EntryId, EntryMask, SpiffeId},
    spire::CreateOutcome,
};
use support::{
    agent::{Agent, X509Svid},
    testbed, unique,
};

/// Long enough for the server's entry cache (rebuilt every 5 s) and the agent's sync (every
/// second in the testbed) several times over.
const PROPAGATION: Duration = Duration::from_secs(45);

/// Deletes the entry through the spire-server CLI when the test ends early.
struct EntryGuard {
    id: Option<EntryId>,
    server_bin: String,
    socket: String,
}

impl Drop for EntryGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = Command::new(&self.server_bin)
                .args(["entry", "delete", "-socketPath", &self.socket, "-entryID", id.as_str()])
                .output();
        }
    }
}

#[tokio::test]
async fn the_agent_serves_an_entry_follows_its_ttl_and_stops_serving_it_once_deleted() {
    let bed = testbed();
    let spire = bed.spire();
    let agent = Agent::get();
    let workload = agent.workload("svid");
    let spiffe_id = SpiffeId::parse(&format!("spiffe://{}/{}", bed.trust_domain(), unique("svid"))).unwrap();
    let id_string = spiffe_id.to_string();
    assert_eq!(workload.fetch_x509().await.unwrap(), None, "no entry names the workload yet");

    let mut entry = Entry::new(spiffe_id, agent.id().clone(), vec![workload.selector()]);
    entry.x509_svid_ttl = 600;
    entry.jwt_svid_ttl = 600;
    let created = match spire.batch_create_entries(std::slice::from_ref(&entry)).await.unwrap().remove(0) {
        CreateOutcome::Created(created) => created,
        other => panic!("creating the entry: {other:?}"),
    };
    let mut guard = EntryGuard {
        id: created.id.clone(),
        server_bin: bed.var("SPIRE_SERVER_BIN").to_owned(),
        socket: bed.var("SPIRE_SERVER_SOCKET").to_owned(),
    };
    let entry_id = created.id.clone().unwrap();

    // Created: the agent picks the entry up and signs an SVID with the entry's TTL.
    let is_ours = |svid: Option<&X509Svid>| svid.is_some_and(|s| s.spiffe_id == id_string);
    let first = workload.wait_for_x509("new entry served", PROPAGATION, is_ours).await.unwrap().unwrap();
    assert_eq!(first.ttl(), Duration::from_secs(600), "{first:?}");
    assert_eq!(first.lifetime(), Duration::from_secs(610), "notBefore is backdated 10 s: {first:?}");
    let jwt = workload.fetch_jwt(&unique("aud")).await.unwrap().expect("a JWT-SVID");
    assert_eq!(jwt.spiffe_id, id_string);
    assert_eq!(jwt.ttl(), Duration::from_secs(600), "{jwt:?}");

    // A new TTL: the entry's revision changes, the agent marks its SVID stale and has a new one
    // signed, well before the old one would be rotated.
    let mut shorter = created.clone();
    shorter.x509_svid_ttl = 300;
    shorter.jwt_svid_ttl = 300;
    let mask = EntryMask::default().with(EntryField::X509SvidTtl).with(EntryField::JwtSvidTtl);
    let updated = spire.batch_update_entries(&[shorter], mask).await.unwrap().remove(0).unwrap();
    assert_eq!((updated.x509_svid_ttl, updated.jwt_svid_ttl), (300, 300));
    let second = workload
        .wait_for_x509("TTL change served", PROPAGATION, |s| {
            s.is_some_and(|s| s.spiffe_id == id_string && s.serial != first.serial)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.ttl(), Duration::from_secs(300), "the re-signed SVID has the new TTL: {second:?}");
    let jwt = workload.fetch_jwt(&unique("aud")).await.unwrap().expect("a JWT-SVID");
    assert_eq!(jwt.ttl(), Duration::from_secs(300), "{jwt:?}");

    // Deleted: the agent drops the entry at its next sync and serves no identity.
    let deleted = spire.batch_delete_entries(std::slice::from_ref(&entry_id)).await.unwrap();
    assert!(deleted[0].is_ok(), "deleting the entry: {deleted:?}");
    guard.id = None;
    workload.wait_for_x509("deletion served", PROPAGATION, |s| s.is_none()).await.unwrap();
    assert_eq!(workload.fetch_jwt(&unique("aud")).await.unwrap(), None, "no JWT-SVID either");
}
