//! The classification rule, table by table: with the worker's ledger and without memory.

use super::*;
use crate::{
    reconcile::{Create, Declaration, Delete, DeleteReason, SourceKind, Update},
    spiffe::Selector,
};

fn source() -> Source {
    Source { kind: SourceKind::ClusterSPIFFEID, name: "web".into(), uid: "u1".into(), created_at: 1, deleting_at: None }
}

fn entry(path: &str, id: &str) -> Entry {
    let mut e = Entry::new(
        SpiffeId::parse(&format!("spiffe://example.org/{path}")).unwrap(),
        SpiffeId::parse("spiffe://example.org/spire/agent/n").unwrap(),
        vec![Selector::parse("k8s:pod-uid:p1").unwrap()],
    );
    e.id = Some(EntryId::parse(id).unwrap());
    e.x509_svid_ttl = 3600;
    e
}

/// A plan with one write of each kind: an update of `ss.1` (x509 TTL), a create of `ss.2`, a
/// delete of `ss.3`.
fn plan() -> Plan {
    let mask = EntryMask::default().with(EntryField::X509SvidTtl);
    Plan {
        updates: vec![Update { entry: entry("web", "ss.1"), mask, source: source(), drift: None }],
        creates: vec![Create { entry: entry("db", "ss.2"), source: source(), drift: None }],
        deletes: vec![Delete { entry: entry("old", "ss.3"), reason: DeleteReason::Undeclared, drift: None }],
        ..Default::default()
    }
}

fn none(_: &SpiffeId) -> Option<String> {
    None
}

fn nobody(_: &EntryId) -> Option<Source> {
    None
}

fn classes(findings: &[Finding]) -> Vec<(DriftClass, &str)> {
    findings.iter().map(|f| (f.class, f.entry_id.as_ref().map_or("", EntryId::as_str))).collect()
}

#[test]
fn without_memory_every_difference_is_drift() {
    let findings = classify(&plan(), Memory::Stateless, &[], &none, &nobody);
    assert_eq!(
        classes(&findings),
        [(DriftClass::Modified, "ss.1"), (DriftClass::Missing, "ss.2"), (DriftClass::Unexpected, "ss.3")]
    );
    assert_eq!(findings[0].fields, EntryMask::default().with(EntryField::X509SvidTtl), "the update's mask");
    assert_eq!(findings[0].source, Some(source()));
}

#[test]
fn with_an_empty_ledger_writes_are_the_declarations_own() {
    assert!(classify(&plan(), Memory::Ledger(&Ledger::default()), &[], &none, &nobody).is_empty());
}

#[test]
fn with_the_ledger_only_writes_undoing_a_detected_change_are_drift() {
    let mut ledger = Ledger::default();
    ledger.modified(entry("web", "ss.1"));
    ledger.missing(entry("db", "ss.2"));
    ledger.unexpected(entry("old", "ss.3"));
    let owner = |_: &EntryId| Some(source());
    let findings = classify(&plan(), Memory::Ledger(&ledger), &[], &none, &owner);
    assert_eq!(
        classes(&findings),
        [(DriftClass::Modified, "ss.1"), (DriftClass::Missing, "ss.2"), (DriftClass::Unexpected, "ss.3")]
    );
    assert_eq!(findings[2].source, Some(source()), "the last declaring resource, when known");
}

#[test]
fn a_changed_declaration_is_no_repair() {
    // Recorded at detection with another TTL than declared now: the user changed the spec.
    let mut ledger = Ledger::default();
    let mut then = entry("web", "ss.1");
    then.x509_svid_ttl = 60;
    ledger.modified(then);
    let mut declared_then = entry("db", "ss.2");
    declared_then.hint = "before".into();
    ledger.missing(declared_then);
    assert!(classify(&plan(), Memory::Ledger(&ledger), &[], &none, &nobody).is_empty());
}

#[test]
fn foreign_entries_colliding_or_in_a_governed_space_are_foreign() {
    let mut declared = entry("web", "ss.9");
    declared.id = None;
    let mut colliding = entry("web", "manual.1");
    colliding.x509_svid_ttl = 60;
    let governed = entry("billing/x", "manual.2");
    let ungoverned = entry("other", "manual.3");
    let plan = Plan {
        foreign_conflicts: vec![(
            Declaration { entry: declared, source: source() },
            EntryId::parse("manual.1").unwrap(),
        )],
        ..Default::default()
    };
    let governs = |id: &SpiffeId| id.path().starts_with("/billing/").then(|| "billing".to_string());
    let foreign = [colliding, governed, ungoverned];
    let findings = classify(&plan, Memory::Stateless, &foreign, &governs, &nobody);
    assert_eq!(classes(&findings), [(DriftClass::Foreign, "manual.1"), (DriftClass::Foreign, "manual.2")]);
    assert_eq!(findings[0].source, Some(source()));
    assert_eq!(findings[0].fields, EntryMask::default().with(EntryField::X509SvidTtl));
    assert_eq!(findings[1].policy.as_deref(), Some("billing"));
    assert_eq!(findings[1].source, None);
}

#[test]
fn settling_keeps_only_what_stands_unrepaired_in_the_scope() {
    let mut ledger = Ledger::default();
    ledger.modified(entry("web", "ss.1"));
    ledger.unexpected(entry("old", "ss.3"));
    let mut elsewhere = entry("x", "ss.7");
    elsewhere.selectors = vec![Selector::parse("k8s:pod-uid:p2").unwrap()];
    ledger.missing(elsewhere);
    let mut findings = classify(&plan(), Memory::Ledger(&ledger), &[], &none, &nobody);
    findings.iter_mut().filter(|f| f.class == DriftClass::Unexpected).for_each(|f| f.repaired = true);
    ledger.settle(&Scope::Pod("p1".into()), &findings);
    let after = classify(&plan(), Memory::Ledger(&ledger), &[], &none, &nobody);
    assert_eq!(classes(&after), [(DriftClass::Modified, "ss.1")], "the repaired delete is forgotten");
    ledger.settle(&Scope::Pod("p1".into()), &[]);
    assert!(!ledger.is_empty(), "another scope's record stays");
    ledger.settle(&Scope::Pod("p2".into()), &[]);
    assert!(ledger.is_empty());
}

#[test]
fn a_planned_repair_of_an_edit_keeps_its_record_until_spire_takes_it() {
    let mut ledger = Ledger::default();
    ledger.modified(entry("web", "ss.1"));
    let mut findings = classify(&plan(), Memory::Ledger(&ledger), &[], &none, &nobody);
    assert_eq!(classes(&findings), [(DriftClass::Modified, "ss.1")]);
    findings.iter_mut().for_each(|f| f.repaired = true);
    ledger.settle(&Scope::Pod("p1".into()), &findings);
    assert_eq!(ledger.written().count(), 1, "kept while the write is pending: a restart still knows it");
    ledger.written_back(&crate::spiffe::EntryId::parse("ss.1").unwrap());
    assert!(ledger.is_empty());
}

#[test]
fn the_summary_counts_per_class() {
    let findings = classify(&plan(), Memory::Stateless, &[], &none, &nobody);
    assert_eq!(summary(&findings), "1 entry Modified (x509SVIDTTL), 1 Missing, 1 Unexpected");
    assert_eq!(summary(&findings[1..2]), "1 entry Missing");
}

#[test]
fn an_entry_edited_then_deleted_is_compared_with_what_the_operator_wrote() {
    let mut ledger = Ledger::default();
    ledger.modified(entry("db", "ss.2"));
    let mut edited = entry("db", "ss.2");
    edited.x509_svid_ttl = 77;
    ledger.modified(edited.clone());
    ledger.missing(edited);
    let findings = classify(&plan(), Memory::Ledger(&ledger), &[], &none, &nobody);
    assert_eq!(classes(&findings), [(DriftClass::Missing, "ss.2")], "the create undoes the deletion");
}
