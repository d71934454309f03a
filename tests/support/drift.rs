//! Drift tests' common steps: a settled one-pod world and its operator, edits made to SPIRE
//! behind the operator's back, and waits for what the operator shows of them.

use std::time::Duration;

use spire_steward::{
    spiffe::{Entry, EntryField, EntryId, EntryMask},
    spire::SpireClient,
};

use super::{
    audit::AuditLog,
    eventually,
    operator::{Operator, World, entries, free_port},
    testbed,
};

pub const WAIT: Duration = Duration::from_secs(30);

/// The operator with metrics on a free port and a periodic check every second.
pub fn start(world: &World, extra: &str) -> (Operator, u16) {
    let bed = testbed();
    let port = free_port();
    let config = format!("gcInterval: 1s\nmetrics: {{bindAddress: '127.0.0.1:{port}'}}\n{extra}");
    (Operator::start(bed, world, &bed.spire_socket(), &config), port)
}

/// The single owned entry of the world, once there is exactly one.
pub async fn the_entry(world: &World, operator: &Operator) -> Entry {
    let found = eventually(WAIT, || async {
        let mut all = entries(&testbed().spire(), &world.prefix).await;
        (all.len() == 1).then(|| all.remove(0))
    })
    .await;
    found.unwrap_or_else(|| panic!("never exactly one entry\nlog:\n{}", operator.log_text()))
}

/// Edits an entry's X509-SVID TTL and DNS names in SPIRE, as another client would.
pub async fn edit(spire: &SpireClient, entry: &Entry) {
    let mut edited = entry.clone();
    edited.x509_svid_ttl = 77;
    edited.dns_names = vec!["edited.example".into()];
    let mask = EntryMask::default().with(EntryField::X509SvidTtl).with(EntryField::DnsNames);
    let results = spire.batch_update_entries(&[edited], mask).await.unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
}

pub async fn delete(spire: &SpireClient, id: &EntryId) {
    let results = spire.batch_delete_entries(std::slice::from_ref(id)).await.unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
}

/// Creates `entry` with `id` in SPIRE.
pub async fn create(spire: &SpireClient, mut entry: Entry, id: &str) -> EntryId {
    let id = EntryId::parse(id).unwrap();
    entry.id = Some(id.clone());
    let outcome = spire.batch_create_entries(&[entry]).await.unwrap();
    assert!(matches!(outcome[0], spire_steward::spire::CreateOutcome::Created(_)), "{:?}", outcome[0]);
    id
}

pub async fn entry_by_id(id: &EntryId) -> Option<Entry> {
    let listing = testbed().spire().list_entries_lenient(&Default::default(), 1000).await.unwrap();
    listing.entries.into_iter().find(|e| e.id.as_ref() == Some(id))
}

/// Waits for an Event of `reason` about `name`; the count of such Events.
pub async fn wait_event(world: &World, operator: &Operator, name: &str, type_: &str, reason: &str) -> usize {
    let found = eventually(WAIT, || async {
        let n = world.events_about(name).await.iter().filter(|(t, r)| t == type_ && r == reason).count();
        (n > 0).then_some(n)
    })
    .await;
    found.unwrap_or_else(|| {
        panic!("no {type_} Event {reason} about {name}\nlog:\n{}", operator.log_text());
    })
}

/// Waits for the Drifted condition's message to contain `want` (None: for it to be absent).
pub async fn wait_drifted(world: &World, operator: &Operator, kind: &str, name: &str, want: Option<&str>) -> String {
    let found = eventually(WAIT, || async {
        let c = world.condition(kind, name, "Drifted").await;
        match (want, c) {
            (None, None) => Some(String::new()),
            (Some(want), Some((status, reason, message))) => {
                (status == "True" && reason == "DriftReported" && message.contains(want)).then_some(message)
            }
            _ => None,
        }
    })
    .await;
    match found {
        Some(message) => message,
        None => panic!("Drifted never {want:?}: {}\nlog:\n{}", world.status(kind, name).await, operator.log_text()),
    }
}

/// Periodic checks at 1 s: a few of them pass in this time.
pub async fn a_few_checks() {
    tokio::time::sleep(Duration::from_secs(4)).await;
}

/// A world with the one-pod identity `web`, its operator (metrics on, audit records kept,
/// `extra` configuration) and the entry it wrote, Synced.
pub struct Settled {
    pub world: World,
    pub name: String,
    pub audit: AuditLog,
    pub operator: Operator,
    pub port: u16,
    pub entry: Entry,
}

pub async fn settled(extra: &str) -> Settled {
    let bed = testbed();
    let world = World::with_one_pod(bed, "web").await;
    let name = world.identity_name("web");
    let audit = AuditLog::new(&world);
    let (operator, port) = start(&world, &format!("{extra}{}", audit.config()));
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    let entry = the_entry(&world, &operator).await;
    Settled { world, name, audit, operator, port, entry }
}
