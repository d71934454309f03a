//! Drift in the pass: repairs marked under Enforce, withheld under Report, a user's own change
//! of the declaration never withheld, and the ledger-less mode agreeing at steady state.

use super::*;
use crate::{
    drift::{DriftClass, DriftPolicy, Finding, Ledger},
    spiffe::Entry,
};

/// Runs the pass on one pod's scope with `ledger` (None: no memory); the plan and the drift.
fn review(world: &World, uid: &str, ledger: Option<&Ledger>) -> (Plan, Vec<Finding>) {
    let scope = Scope::Pod(uid.into());
    let snapshot = Snapshot {
        inputs: world,
        identities: &world.identities,
        statics: &NoStatics,
        index: &world.index,
        ownership: &world.ownership,
        config: &world.config,
        governance: &world.governance,
        now: world.now,
        ledger,
    };
    let outcome = run(&snapshot, [&scope]).remove(0);
    (outcome.plan, outcome.drift)
}

/// A world with identity `web` and its entry for pod `p1` in SPIRE.
fn settled(config: &str) -> (World, Entry) {
    let mut world = World::new(config);
    world.identity("web", "spiffe://example.org/web/{{ .PodMeta.Name }}", "web", 1);
    world.add_pod("p1", &[("app", "web")]);
    let plan = world.pass("p1");
    world.write(&plan);
    let written = world.index.scope(&Scope::Pod("p1".into())).remove(0);
    (world, written)
}

/// Edits the entry in SPIRE behind the operator's back, as the periodic check finds it.
fn edit_behind(world: &mut World, written: &Entry) {
    let mut edited = written.clone();
    edited.x509_svid_ttl = 60;
    edited.dns_names = vec!["evil.example".into()];
    world.index.insert(edited);
    world.ledger.modified(written.clone());
}

/// An entry under the prefix in `written`'s scope that nothing declares, in the index beside it.
fn stray_beside(world: &mut World, written: &Entry) -> Entry {
    let mut stray = written.clone();
    stray.id = Some(crate::spiffe::EntryId::parse("ss.stray").unwrap());
    stray.spiffe_id = crate::spiffe::SpiffeId::parse("spiffe://example.org/stray").unwrap();
    world.index.insert(written.clone());
    world.index.insert(stray.clone());
    stray
}

#[test]
fn under_enforce_a_modified_entry_is_repaired_and_marked() {
    let (mut world, written) = settled("");
    edit_behind(&mut world, &written);
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert_eq!(plan.updates.len(), 1);
    assert_eq!(plan.updates[0].drift, Some(DriftClass::Modified));
    assert_eq!(drift.len(), 1);
    assert!(drift[0].repaired);
    assert_eq!(crate::drift::field_names(drift[0].fields), "x509SVIDTTL, dnsNames");
}

#[test]
fn under_report_the_repairs_are_withheld_and_reported() {
    let (mut world, written) = settled("driftPolicy: Report\n");
    edit_behind(&mut world, &written);
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.is_empty(), "the update is withheld: {plan:?}");
    assert_eq!((drift.len(), drift[0].class, drift[0].repaired), (1, DriftClass::Modified, false));
    assert_eq!(drift[0].source.as_ref().map(|s| s.uid.as_str()), Some("web"));

    // Deleted behind the operator's back: the create is withheld too.
    world.index.remove(written.id.as_ref().unwrap());
    world.ledger = Ledger::default();
    world.ledger.missing(written.clone());
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.creates.is_empty(), "{plan:?}");
    assert_eq!((drift[0].class, drift[0].repaired), (DriftClass::Missing, false));

    // An entry under the prefix that nothing declares stays.
    let stray = stray_beside(&mut world, &written);
    world.ledger = Ledger::default();
    world.ledger.unexpected(stray);
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.deletes.is_empty(), "{plan:?}");
    assert_eq!((drift.len(), drift[0].class), (1, DriftClass::Unexpected));
}

#[test]
fn a_resource_overrides_the_configuration_either_way() {
    let (mut world, written) = settled("driftPolicy: Report\n");
    edit_behind(&mut world, &written);
    world.identities[0].meta.drift_policy = Some(DriftPolicy::Enforce);
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert_eq!(plan.updates.len(), 1, "the resource says Enforce");
    assert!(drift[0].repaired);

    let (mut world, written) = settled("");
    edit_behind(&mut world, &written);
    world.identities[0].meta.drift_policy = Some(DriftPolicy::Report);
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.is_empty(), "the resource says Report");
    assert!(!drift[0].repaired);
}

#[test]
fn the_users_own_change_is_written_under_report() {
    let (mut world, written) = settled("driftPolicy: Report\n");
    edit_behind(&mut world, &written);
    // The user changes the identity's TTL after the edit was found.
    let spec = ClusterSPIFFEIDSpec {
        spiffe_id_template: "spiffe://example.org/web/{{ .PodMeta.Name }}".into(),
        ttl: Some("2h".into()),
        pod_selector: Some(LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() }),
        ..Default::default()
    };
    world.identities[0].identity = PodIdentity::parse(&spec).map(Arc::new).map_err(crate::reconcile::SpecError::from);
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert_eq!(plan.updates.len(), 1, "not withheld: {plan:?}");
    assert_eq!(plan.updates[0].drift, None, "not a repair");
    assert!(drift.is_empty(), "{drift:?}");
}

#[test]
fn with_and_without_memory_agree_at_steady_state() {
    let (mut world, written) = settled("driftPolicy: Report\n");
    let (_, with) = review(&world, "p1", Some(&world.ledger));
    let (_, without) = review(&world, "p1", None);
    assert!(with.is_empty() && without.is_empty());
    edit_behind(&mut world, &written);
    let (_, with) = review(&world, "p1", Some(&world.ledger));
    let (_, without) = review(&world, "p1", None);
    assert_eq!(with, without, "the reported drift is the same");
}

/// The SPIFFE ID edited behind the operator's back: the entry's key changed, so the plan would
/// create the declared entry and delete the edited one, both under the entry's ID.
fn rekey_behind(world: &mut World, written: &Entry) {
    let mut edited = written.clone();
    edited.spiffe_id = crate::spiffe::SpiffeId::parse("spiffe://example.org/hijacked").unwrap();
    world.index.insert(edited);
    world.ledger.modified(written.clone());
}

#[test]
fn a_key_field_edited_is_one_modified_entry_withheld_whole_under_report() {
    let (mut world, written) = settled("driftPolicy: Report\n");
    rekey_behind(&mut world, &written);
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.is_empty(), "neither the create nor the delete goes: {plan:?}");
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!((drift[0].class, drift[0].repaired), (DriftClass::Modified, false));
    assert_eq!(crate::drift::field_names(drift[0].fields), "spiffeID");
    assert_eq!(drift[0].entry_id, written.id);

    let (mut world, written) = settled("");
    rekey_behind(&mut world, &written);
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.creates.is_empty() && plan.deletes.is_empty(), "written back in place: {plan:?}");
    assert_eq!(plan.updates.len(), 1, "{plan:?}");
    assert_eq!(plan.updates[0].entry, written, "the entry as the operator wrote it, under its ID");
    assert_eq!(crate::drift::field_names(plan.updates[0].mask), "spiffeID");
    assert_eq!(plan.updates[0].drift, Some(DriftClass::Modified));
    assert!(drift[0].repaired);
}

/// The pod-uid selector edited behind the operator's back to another pod's: the entry now sits in
/// that pod's scope, and the index keeps it where the operator wrote it, as the periodic check
/// does.
fn move_behind(world: &mut World, written: &Entry) {
    let mut moved = written.clone();
    moved.selectors = vec![crate::spiffe::Selector::parse("k8s:pod-uid:p2").unwrap()];
    world.index.insert(moved);
    world.index.keep_home(written.id.as_ref().unwrap(), Scope::Pod("p1".into()));
    world.ledger.modified(written.clone());
}

#[test]
fn a_selector_edited_into_another_pods_scope_is_one_modified_entry_of_its_own_scope() {
    let (mut world, written) = settled("");
    world.add_pod("p2", &[("app", "other")]);
    move_behind(&mut world, &written);
    let (plan, drift) = review(&world, "p2", Some(&world.ledger));
    assert!(plan.is_empty() && drift.is_empty(), "the other pod's scope does not delete it: {plan:?} {drift:?}");
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.creates.is_empty() && plan.deletes.is_empty(), "{plan:?}");
    assert_eq!(plan.updates.len(), 1, "{plan:?}");
    assert_eq!(plan.updates[0].entry, written, "written back under its ID with its own pod's selector");
    assert_eq!(crate::drift::field_names(plan.updates[0].mask), "selectors");
    assert_eq!(plan.updates[0].drift, Some(DriftClass::Modified));
    assert_eq!((drift.len(), drift[0].class, drift[0].repaired), (1, DriftClass::Modified, true));

    let (mut world, written) = settled("driftPolicy: Report\n");
    world.add_pod("p2", &[("app", "other")]);
    move_behind(&mut world, &written);
    let (plan, _) = review(&world, "p2", Some(&world.ledger));
    assert!(plan.is_empty(), "{plan:?}");
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.is_empty(), "nothing is written under Report: {plan:?}");
    assert_eq!((drift.len(), drift[0].class, drift[0].repaired), (1, DriftClass::Modified, false));
    assert_eq!(crate::drift::field_names(drift[0].fields), "selectors");

    // Its pod gone, the entry goes with it, from the scope it was written to.
    let (mut world, written) = settled("driftPolicy: Report\n");
    move_behind(&mut world, &written);
    world.pods.remove("p1");
    let (plan, _) = review(&world, "p1", Some(&world.ledger));
    assert_eq!(plan.deletes.len(), 1, "{plan:?}");
    assert_eq!(plan.deletes[0].entry.id, written.id);
}

#[test]
fn in_observe_mode_drift_is_not_taken_for_repaired() {
    let (mut world, written) = settled("mode: Observe\n");
    edit_behind(&mut world, &written);
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert_eq!(plan.updates.len(), 1, "the write stays, for observe mode to count and record");
    assert_eq!(plan.updates[0].drift, Some(DriftClass::Modified));
    assert!(!drift[0].repaired, "nothing is written in observe mode");
}

#[test]
fn drift_restored_from_its_record_is_withheld_under_report_after_a_restart() {
    let (mut world, written) = settled("driftPolicy: Report\n");
    edit_behind(&mut world, &written);
    let record = world.ledger.record();
    // Restarted: the index is SPIRE as found (edited), the ledger knows nothing of the edit.
    world.ledger = Ledger::default();
    let (plan, _) = review(&world, "p1", Some(&world.ledger));
    assert_eq!(plan.updates.len(), 1, "without the record, the edit is taken for a change to write");

    world.ledger = Ledger::restore(&record).unwrap();
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.is_empty(), "the record kept the drift: {plan:?}");
    assert_eq!((drift[0].class, drift[0].repaired), (DriftClass::Modified, false));

    // Deleted behind the operator's back before the restart: not recreated after it.
    world.index.remove(written.id.as_ref().unwrap());
    let mut before = Ledger::default();
    before.missing(written.clone());
    world.ledger = Ledger::restore(&before.record()).unwrap();
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.creates.is_empty(), "{plan:?}");
    assert_eq!((drift[0].class, drift[0].repaired), (DriftClass::Missing, false));

    // A stray entry reported before the restart is not deleted after it.
    let stray = stray_beside(&mut world, &written);
    let mut before = Ledger::default();
    before.unexpected(stray);
    world.ledger = Ledger::default();
    let (plan, _) = review(&world, "p1", Some(&world.ledger));
    assert_eq!(plan.deletes.len(), 1, "without the record, the stray entry is deleted");
    world.ledger = Ledger::restore(&before.record()).unwrap();
    let (plan, drift) = review(&world, "p1", Some(&world.ledger));
    assert!(plan.deletes.is_empty(), "{plan:?}");
    assert_eq!((drift[0].class, drift[0].repaired), (DriftClass::Unexpected, false));
}
