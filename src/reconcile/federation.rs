//! Planning federation relationships: from ClusterFederatedTrustDomains and the relationships
//! SPIRE holds to the changes to make.
//!
//! Relationships carry no owner marker in SPIRE, so the operator deletes only what it can prove
//! is its own: the relationship of a resource it is finalizing, when no other resource declares
//! the same trust domain. A relationship nothing declares is left alone.

use std::collections::BTreeMap;

use super::Source;
use crate::spiffe::{FederationRelationship, RelationshipMask, TrustDomain};

/// One ClusterFederatedTrustDomain as the planner sees it.
#[derive(Clone, Debug)]
pub struct DeclaredRelationship {
    pub source: Source,
    /// The rendered relationship, or why the spec does not render.
    pub relationship: Result<FederationRelationship, crate::render::Error>,
    /// The resource's bundle document, compared with the last one written to notice bundle edits.
    pub bundle_document: Option<String>,
}

/// What planning decided for one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelationshipOutcome {
    InSync,
    Create,
    Update(RelationshipMask),
    /// An older resource declares the same trust domain.
    Conflict {
        winner: String,
    },
    Invalid(crate::render::Error),
    /// Being deleted: its relationship is deleted, then the finalizer released.
    Delete,
    /// Being deleted while another resource still declares the trust domain: only the finalizer
    /// is released.
    Release,
}

#[derive(Clone, Debug, Default)]
pub struct FederationPlan {
    pub creates: Vec<FederationRelationship>,
    pub updates: Vec<(FederationRelationship, RelationshipMask)>,
    pub deletes: Vec<TrustDomain>,
    /// Per resource UID.
    pub outcomes: BTreeMap<String, RelationshipOutcome>,
}

impl FederationPlan {
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }
}

/// Plans the relationships. `pushed` holds, per resource UID, the bundle document last written
/// to SPIRE: a declared bundle is written when it differs, so a bundle-only edit reaches SPIRE,
/// while the bundles SPIRE itself refreshes from the endpoint are not overwritten.
pub fn plan_federation(
    declared: &[DeclaredRelationship],
    actual: &[FederationRelationship],
    pushed: &BTreeMap<String, String>,
) -> FederationPlan {
    let mut plan = FederationPlan::default();
    let actual: BTreeMap<&TrustDomain, &FederationRelationship> = actual.iter().map(|r| (&r.trust_domain, r)).collect();
    let mut live: BTreeMap<&TrustDomain, Vec<&DeclaredRelationship>> = BTreeMap::new();
    for d in declared {
        match &d.relationship {
            Err(why) => {
                plan.outcomes.insert(d.source.uid.clone(), RelationshipOutcome::Invalid(why.clone()));
            }
            Ok(r) if d.source.deleting_at.is_none() => live.entry(&r.trust_domain).or_default().push(d),
            Ok(_) => {}
        }
    }
    for (trust_domain, mut group) in live.iter().map(|(td, g)| (*td, g.clone())) {
        group.sort_by(|a, b| a.source.precedence(&b.source));
        let winner = group[0];
        for loser in &group[1..] {
            plan.outcomes
                .insert(loser.source.uid.clone(), RelationshipOutcome::Conflict { winner: winner.source.name.clone() });
        }
        let wanted = winner.relationship.as_ref().expect("live declarations rendered");
        let bundle_changed =
            winner.bundle_document.is_some() && winner.bundle_document.as_ref() != pushed.get(&winner.source.uid);
        let outcome = match actual.get(trust_domain) {
            None => {
                plan.creates.push(wanted.clone());
                RelationshipOutcome::Create
            }
            Some(current) => {
                let mask = RelationshipMask {
                    bundle_endpoint_url: current.bundle_endpoint_url != wanted.bundle_endpoint_url,
                    bundle_endpoint_profile: current.profile != wanted.profile,
                    trust_domain_bundle: bundle_changed,
                };
                if mask == RelationshipMask::default() {
                    RelationshipOutcome::InSync
                } else {
                    plan.updates.push((wanted.clone(), mask));
                    RelationshipOutcome::Update(mask)
                }
            }
        };
        plan.outcomes.insert(winner.source.uid.clone(), outcome);
    }
    for d in declared.iter().filter(|d| d.source.deleting_at.is_some()) {
        let Ok(r) = &d.relationship else { continue };
        let outcome = if live.contains_key(&r.trust_domain) || !actual.contains_key(&r.trust_domain) {
            RelationshipOutcome::Release
        } else {
            if !plan.deletes.contains(&r.trust_domain) {
                plan.deletes.push(r.trust_domain.clone());
            }
            RelationshipOutcome::Delete
        };
        plan.outcomes.insert(d.source.uid.clone(), outcome);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{reconcile::SourceKind, spiffe::BundleEndpointProfile};

    fn relationship(td: &str, url: &str) -> FederationRelationship {
        FederationRelationship {
            trust_domain: TrustDomain::parse(td).unwrap(),
            bundle_endpoint_url: url.into(),
            profile: BundleEndpointProfile::HttpsWeb,
            trust_domain_bundle: None,
        }
    }

    fn declared(uid: &str, created_at: i64, r: FederationRelationship) -> DeclaredRelationship {
        DeclaredRelationship {
            source: Source {
                kind: SourceKind::ClusterStaticEntry,
                name: uid.into(),
                uid: uid.into(),
                created_at,
                deleting_at: None,
            },
            relationship: Ok(r),
            bundle_document: None,
        }
    }

    #[test]
    fn creates_updates_and_leaves_in_sync() {
        let plan = plan_federation(
            &[
                declared("a", 1, relationship("a.org", "https://127.0.0.1:1")),
                declared("b", 1, relationship("b.org", "https://127.0.0.1:2")),
                declared("c", 1, relationship("c.org", "https://127.0.0.1:3")),
            ],
            &[relationship("b.org", "https://127.0.0.1:9"), relationship("c.org", "https://127.0.0.1:3")],
            &BTreeMap::new(),
        );
        assert_eq!(plan.creates, vec![relationship("a.org", "https://127.0.0.1:1")]);
        assert_eq!(plan.updates.len(), 1);
        assert!(plan.updates[0].1.bundle_endpoint_url && !plan.updates[0].1.bundle_endpoint_profile);
        assert_eq!(plan.outcomes["c"], RelationshipOutcome::InSync);
        assert!(plan.deletes.is_empty());
    }

    #[test]
    fn undeclared_relationships_are_never_deleted() {
        let plan = plan_federation(&[], &[relationship("other.org", "https://127.0.0.1:1")], &BTreeMap::new());
        assert!(plan.is_empty());
    }

    #[test]
    fn the_oldest_declaration_wins_a_trust_domain() {
        let plan = plan_federation(
            &[
                declared("young", 5, relationship("a.org", "https://127.0.0.1:2")),
                declared("old", 1, relationship("a.org", "https://127.0.0.1:1")),
            ],
            &[],
            &BTreeMap::new(),
        );
        assert_eq!(plan.creates, vec![relationship("a.org", "https://127.0.0.1:1")]);
        assert_eq!(plan.outcomes["young"], RelationshipOutcome::Conflict { winner: "old".into() });
    }

    #[test]
    fn a_bundle_is_written_when_its_document_changes() {
        let mut d = declared("a", 1, relationship("a.org", "https://127.0.0.1:1"));
        d.bundle_document = Some("v2".into());
        let actual = [relationship("a.org", "https://127.0.0.1:1")];
        let stale = BTreeMap::from([("a".to_owned(), "v1".to_owned())]);
        let plan = plan_federation(std::slice::from_ref(&d), &actual, &stale);
        assert_eq!(
            plan.outcomes["a"],
            RelationshipOutcome::Update(RelationshipMask { trust_domain_bundle: true, ..Default::default() })
        );
        let current = BTreeMap::from([("a".to_owned(), "v2".to_owned())]);
        assert_eq!(plan_federation(&[d], &actual, &current).outcomes["a"], RelationshipOutcome::InSync);
    }

    #[test]
    fn deletion_removes_only_what_no_one_else_declares() {
        let mut going = declared("going", 1, relationship("a.org", "https://127.0.0.1:1"));
        going.source.deleting_at = Some(10);
        let actual = [relationship("a.org", "https://127.0.0.1:1")];
        let alone = plan_federation(std::slice::from_ref(&going), &actual, &BTreeMap::new());
        assert_eq!(alone.deletes, vec![TrustDomain::parse("a.org").unwrap()]);
        assert_eq!(alone.outcomes["going"], RelationshipOutcome::Delete);
        let shared = plan_federation(
            &[going.clone(), declared("stays", 2, relationship("a.org", "https://127.0.0.1:1"))],
            &actual,
            &BTreeMap::new(),
        );
        assert!(shared.deletes.is_empty());
        assert_eq!(shared.outcomes["going"], RelationshipOutcome::Release);
        let gone_already = plan_federation(&[going], &[], &BTreeMap::new());
        assert_eq!(gone_already.outcomes["going"], RelationshipOutcome::Release);
    }

    #[test]
    fn an_invalid_declaration_changes_nothing() {
        let mut d = declared("bad", 1, relationship("a.org", "https://127.0.0.1:1"));
        let bad = crate::render::Error::Invalid { field: "trustDomain", message: "bad".into() };
        d.relationship = Err(bad.clone());
        let plan = plan_federation(&[d], &[relationship("a.org", "https://127.0.0.1:1")], &BTreeMap::new());
        assert!(plan.is_empty());
        assert_eq!(plan.outcomes["bad"], RelationshipOutcome::Invalid(bad));
    }
}
