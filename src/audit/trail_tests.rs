use std::collections::BTreeSet;

use super::*;
use crate::{
    policy::{Decision, Denial, Effective, Rule},
    reconcile::{Create, Delete, SourceKind, Update},
    spiffe::{Entry, EntryField, Selector, SpiffeId},
};

struct World {
    known_pods: BTreeSet<String>,
    existing: BTreeSet<String>,
    owners: BTreeMap<String, Source>,
}

impl Attribution for World {
    fn resource(&self, source: &Source) -> (Option<Resource>, Option<Owner>) {
        let resource = Resource {
            kind: super::super::kind_name(source.kind),
            namespace: None,
            name: source.name.clone(),
            uid: source.uid.clone(),
            generation: Some(2),
        };
        (Some(resource), Some(Owner { team: "shop".into(), contact: Some("#shop".into()) }))
    }
    fn declared_by(&self, id: &EntryId) -> Option<Source> {
        self.owners.get(id.as_str()).cloned()
    }
    fn exists(&self, uid: &str) -> bool {
        self.existing.contains(uid)
    }
    fn pod_known(&self, scope: &Scope) -> bool {
        matches!(scope, Scope::Pod(uid) if self.known_pods.contains(uid))
    }
}

fn source(uid: &str) -> Source {
    Source {
        kind: SourceKind::ClusterSPIFFEID,
        name: format!("{uid}-name"),
        uid: uid.into(),
        created_at: 1,
        deleting_at: None,
    }
}

fn entry(id: &str, path: &str) -> Entry {
    let mut e = Entry::new(
        SpiffeId::parse(&format!("spiffe://example.org/{path}")).unwrap(),
        SpiffeId::parse("spiffe://example.org/spire/agent/n").unwrap(),
        vec![Selector::parse("k8s:pod-uid:p1").unwrap()],
    );
    e.id = Some(EntryId::parse(id).unwrap());
    e
}

fn verdict(allowed: bool, clamp: Option<&str>) -> Verdict {
    let denials = if allowed {
        Vec::new()
    } else {
        vec![Denial { policy: "strict".into(), rule: Rule::SpiffeIdDenied, value: "/legacy".into(), enforced: true }]
    };
    let x509_ttl = Effective {
        seconds: Some(3600),
        requested: Some(172_800),
        bound_by: clamp.map(|p| (p.to_owned(), Bound::Max)),
    };
    Verdict {
        policies: vec!["strict".into()],
        decision: Decision {
            allowed,
            denials,
            x509_ttl,
            jwt_ttl: Effective::default(),
            exceptions_used: Vec::new(),
            exceptions_refused: Vec::new(),
        },
    }
}

fn world() -> World {
    World {
        known_pods: BTreeSet::from(["p1".to_string()]),
        existing: BTreeSet::from(["live".to_string(), "denied".to_string()]),
        owners: BTreeMap::from([
            ("ss.gone".to_string(), source("gone")),
            ("ss.denied".to_string(), source("denied")),
            ("ss.live".to_string(), source("live")),
        ]),
    }
}

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

#[test]
fn each_write_gets_the_reason_it_is_made_for() {
    let scope = Scope::Pod("p1".into());
    let plan = Plan {
        creates: vec![Create { entry: entry("ss.new", "web"), source: source("live"), drift: None }],
        updates: vec![Update {
            entry: entry("ss.ttl", "clamped"),
            mask: [EntryField::X509SvidTtl].into_iter().collect(),
            source: source("live"),
            drift: None,
        }],
        deletes: vec![
            Delete { entry: entry("ss.gone", "old"), reason: DeleteReason::Undeclared, drift: None },
            Delete { entry: entry("ss.denied", "legacy"), reason: DeleteReason::Undeclared, drift: None },
            Delete { entry: entry("ss.live", "relabelled"), reason: DeleteReason::Undeclared, drift: None },
            Delete { entry: entry("ss.dup", "web"), reason: DeleteReason::Duplicate, drift: None },
        ],
        ..Default::default()
    };
    let verdicts = vec![
        (Declaration { entry: entry("ss.ttl", "clamped"), source: source("live") }, verdict(true, Some("baseline"))),
        (Declaration { entry: entry("x", "legacy"), source: source("denied") }, verdict(false, None)),
    ];
    let facts = ScopeFacts { pod_present: true, verdicts: &verdicts, lapsed: &[], before: None };
    let pending = planned(&scope, &plan, facts, &world(), now());
    let got: Vec<(&str, Action, Reason, Option<&str>)> =
        pending.iter().map(|(id, r)| (id.as_str(), r.action, r.reason, r.policy.as_deref())).collect();
    assert_eq!(
        got,
        [
            ("ss.new", Action::Create, Reason::DeclarationChanged, None),
            ("ss.ttl", Action::Update, Reason::TtlClamped, Some("baseline")),
            ("ss.gone", Action::Delete, Reason::IdentityDeleted, None),
            ("ss.denied", Action::Delete, Reason::PolicyDenied, Some("strict")),
            ("ss.live", Action::Delete, Reason::DeclarationChanged, None),
            ("ss.dup", Action::Delete, Reason::Duplicate, None),
        ]
    );
    let deleted = &pending[2].1;
    assert_eq!(deleted.resource.as_ref().map(|r| r.name.as_str()), Some("gone-name"), "the last declarer");
    assert!(pending[5].1.resource.is_none(), "a duplicate's declarer is not known here");

    // A pod seen for the first time, and a pod that is gone.
    let new_pod = Scope::Pod("p2".into());
    let pending = planned(&new_pod, &plan, facts, &world(), now());
    assert_eq!(pending[0].1.reason, Reason::PodCreated);
    let gone = ScopeFacts { pod_present: false, ..facts };
    let pending = planned(&scope, &plan, gone, &world(), now());
    assert!(pending[2..5].iter().all(|(_, r)| r.reason == Reason::PodDeleted));
    let mut repair = plan.clone();
    repair.creates[0].drift = Some(crate::drift::DriftClass::Missing);
    repair.deletes[0].drift = Some(crate::drift::DriftClass::Unexpected);
    let pending = planned(&scope, &repair, facts, &world(), now());
    assert_eq!((pending[0].1.reason, pending[2].1.reason), (Reason::DriftRepaired, Reason::DriftRepaired));
    let lapsed = ["live".to_string()];
    let pending = planned(&scope, &plan, ScopeFacts { lapsed: &lapsed, ..facts }, &world(), now());
    assert_eq!(pending[4].1.reason, Reason::ExceptionLapsed);
}

#[test]
fn settling_records_what_spire_answered() {
    let record = || Record::new(now(), Action::Create, Outcome::Success, Reason::PodCreated);
    assert_eq!(settle(record(), Some(&Ok(())), None).outcome, Outcome::Success);
    let refused = ItemError { code: Code::InvalidArgument, message: "bad".into() };
    let failed = settle(record(), Some(&Err(refused)), None);
    assert_eq!(failed.outcome, Outcome::Failed);
    assert_eq!(failed.error.as_ref().map(|e| e.code.as_str()), Some("InvalidArgument"));
    let unsent = settle(record(), None, Some((Code::Unavailable, "connection refused")));
    assert_eq!(
        unsent.error.as_ref().map(|e| (e.code.as_str(), e.message.as_str())),
        Some(("Unavailable", "connection refused"))
    );
    assert_eq!(withheld(record(), Outcome::Observed).outcome, Outcome::Observed);
}

#[test]
fn a_decision_is_recorded_once_until_it_changes() {
    let verdicts = vec![
        (Declaration { entry: entry("x", "legacy"), source: source("denied") }, verdict(false, None)),
        (Declaration { entry: entry("y", "web"), source: source("live") }, verdict(true, Some("baseline"))),
    ];
    let (first, records) = decisions(None, &verdicts, &world(), now());
    let got: Vec<(Action, Outcome, Option<&str>)> =
        records.iter().map(|r| (r.action, r.outcome, r.policy.as_deref())).collect();
    assert_eq!(
        got,
        [(Action::Deny, Outcome::Denied, Some("strict")), (Action::Clamp, Outcome::Success, Some("baseline"))]
    );
    assert_eq!(records[0].message, "SpiffeIDDenied by IdentityPolicy strict: /legacy");
    assert_eq!(records[1].message, "x509 TTL 172800s set to 3600s by baseline Max");
    let (second, records) = decisions(Some(&first), &verdicts, &world(), now());
    assert!(records.is_empty(), "the same decisions again are not new: {records:?}");
    assert_eq!(first, second);
    let other = vec![(verdicts[1].0.clone(), verdict(true, Some("tighter")))];
    let (_, records) = decisions(Some(&second), &other, &world(), now());
    assert_eq!(records.len(), 1, "another bound is a new clamp");
    assert_eq!(records[0].policy.as_deref(), Some("tighter"));
}

#[test]
fn a_denial_of_what_an_exception_allowed_is_the_exception_lapsing() {
    let declaration = Declaration { entry: entry("ss.denied", "legacy"), source: source("denied") };
    let mut allowed = verdict(true, None);
    allowed.decision.exceptions_used = vec![("billing-legacy".into(), crate::policy::Relaxation::ExtraAllow)];
    let (before, _) = decisions(None, &[(declaration.clone(), allowed)], &world(), now());
    let verdicts = vec![(declaration, verdict(false, None))];
    let plan = Plan {
        deletes: vec![Delete { entry: entry("ss.denied", "legacy"), reason: DeleteReason::Undeclared, drift: None }],
        ..Default::default()
    };
    let facts = ScopeFacts { pod_present: true, verdicts: &verdicts, lapsed: &[], before: Some(&before) };
    let pending = planned(&Scope::Pod("p1".into()), &plan, facts, &world(), now());
    let record = &pending[0].1;
    assert_eq!(record.reason, Reason::ExceptionLapsed);
    assert_eq!((record.policy.as_deref(), record.exception.as_deref()), (Some("strict"), Some("billing-legacy")));
    let facts = ScopeFacts { before: None, ..facts };
    assert_eq!(planned(&Scope::Pod("p1".into()), &plan, facts, &world(), now())[0].1.reason, Reason::PolicyDenied);
}
