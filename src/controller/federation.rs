//! Federation relationships at run time: finalizers on ClusterFederatedTrustDomains, the SPIRE
//! writes their plan calls for, and the outcomes status reports.

use std::collections::BTreeMap;

use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use super::{sources::source_of, stores::Stores};
use crate::{
    api::v1alpha1::ClusterFederatedTrustDomain,
    config::Config,
    reconcile::{DeclaredRelationship, FederationPlan, RelationshipOutcome, SourceKind, plan_federation},
    render::render_federation,
    selection::handles_class,
    spire::SpireClient,
};

/// The finalizer that lets the operator delete a relationship before its resource goes.
pub const FINALIZER: &str = "spire-steward.io/federation-relationship";

/// What the operator knows about federation between passes.
#[derive(Default)]
pub struct Federation {
    /// Per resource UID, the bundle document last written to SPIRE.
    pushed: BTreeMap<String, String>,
    pub outcomes: BTreeMap<String, RelationshipOutcome>,
    /// Per resource UID, the generation its outcome describes.
    pub generations: BTreeMap<String, Option<i64>>,
    /// Per resource UID, why SPIRE refused its relationship.
    pub failures: BTreeMap<String, String>,
    pub unavailable: Option<std::sync::Arc<crate::spire::Error>>,
    /// Trust domains of the relationships in SPIRE's last listing the operator could not read.
    pub unparsed: std::collections::BTreeSet<String>,
}

impl Federation {
    /// One pass: finalizers, plan, SPIRE writes, finalizer release.
    pub async fn reconcile(&mut self, client: &Client, stores: &Stores, config: &Config, spire: &SpireClient) {
        let api: Api<ClusterFederatedTrustDomain> = Api::all(client.clone());
        let objects: Vec<_> = stores
            .federations()
            .objects
            .into_iter()
            .filter(|o| {
                handles_class(o.spec.class_name.as_deref(), config.class_name.as_deref(), config.watch_classless)
            })
            .collect();
        for object in objects.iter().filter(|o| o.metadata.deletion_timestamp.is_none()) {
            if !object.finalizers().iter().any(|f| f == FINALIZER) {
                let mut finalizers = object.finalizers().to_vec();
                finalizers.push(FINALIZER.to_owned());
                set_finalizers(&api, object, finalizers).await;
            }
        }
        let declared: Vec<DeclaredRelationship> = objects
            .iter()
            .map(|o| DeclaredRelationship {
                source: source_of(SourceKind::ClusterFederatedTrustDomain, o.as_ref()),
                relationship: render_federation(&o.spec),
                bundle_document: o.spec.trust_domain_bundle.clone(),
            })
            .collect();
        let Some(synced) = self.sync(&declared, config, spire).await else {
            return;
        };
        let (plan, deleted) = (synced.plan, synced.deleted);
        if synced.written {
            self.release(&api, &objects, &plan, deleted).await;
        }
        self.outcomes = plan.outcomes;
        self.generations = objects.iter().map(|o| (o.uid().unwrap_or_default(), o.metadata.generation)).collect();
    }

    /// Releases the finalizers of the resources being deleted whose relationship is gone.
    async fn release(
        &mut self,
        api: &Api<ClusterFederatedTrustDomain>,
        objects: &[std::sync::Arc<ClusterFederatedTrustDomain>],
        plan: &FederationPlan,
        deleted: bool,
    ) {
        for object in objects.iter().filter(|o| o.metadata.deletion_timestamp.is_some()) {
            let uid = object.uid().unwrap_or_default();
            let releasable = match plan.outcomes.get(&uid) {
                Some(RelationshipOutcome::Release) => true,
                Some(RelationshipOutcome::Delete) => deleted,
                // A resource that does not render never had a relationship this operator wrote.
                Some(RelationshipOutcome::Invalid(_)) => true,
                _ => false,
            };
            if releasable && object.finalizers().iter().any(|f| f == FINALIZER) {
                let finalizers = object.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
                set_finalizers(api, object, finalizers).await;
                self.pushed.remove(&uid);
            }
        }
    }

    /// Lists SPIRE's relationships, plans `declared` against them and, unless in observe mode,
    /// writes the plan. None when SPIRE could not be listed or a write call failed as a whole
    /// (`unavailable` says why).
    pub async fn sync(
        &mut self,
        declared: &[DeclaredRelationship],
        config: &Config,
        spire: &SpireClient,
    ) -> Option<Synced> {
        let actual = match spire.list_federation_relationships_lenient().await {
            Ok(listing) => {
                // A relationship the operator cannot read is left out: never updated or deleted.
                // Each is logged when it first appears.
                let now: std::collections::BTreeSet<String> =
                    listing.unparsed.iter().map(|u| u.trust_domain.clone()).collect();
                for item in listing.unparsed.iter().filter(|u| !self.unparsed.contains(&u.trust_domain)) {
                    tracing::warn!(trust_domain = %item.trust_domain, error = %item.reason,
                        "left out a federation relationship the operator cannot read");
                }
                self.unparsed = now;
                listing.relationships
            }
            Err(e) => {
                self.unavailable = Some(std::sync::Arc::new(e));
                return None;
            }
        };
        self.unavailable = None;
        let plan = plan_federation(declared, &actual, &self.pushed);
        if config.mode == crate::config::Mode::Observe {
            // Nothing is written, so no relationship is deleted and no finalizer released.
            if !plan.is_empty() {
                tracing::info!(
                    create = plan.creates.len(),
                    update = plan.updates.len(),
                    delete = plan.deletes.len(),
                    "observe mode: federation relationship writes planned and not made"
                );
            }
            self.failures.clear();
            return Some(Synced { plan, deleted: false, written: false });
        }
        let by_trust_domain: BTreeMap<String, &DeclaredRelationship> = declared
            .iter()
            .filter(|d| d.source.deleting_at.is_none())
            .filter_map(|d| d.relationship.as_ref().ok().map(|r| (r.trust_domain.to_string(), d)))
            .collect();
        self.failures.clear();
        let record = |result: Result<crate::spire::FederationRelationship, crate::spire::ItemError>,
                      td: &str,
                      this: &mut Self| {
            let Some(d) = by_trust_domain.get(td) else {
                return;
            };
            match result {
                Ok(_) => {
                    tracing::info!(trust_domain = td, owner = %d.source.name, "wrote federation relationship");
                    if let Some(doc) = &d.bundle_document {
                        this.pushed.insert(d.source.uid.clone(), doc.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(trust_domain = td, error = %e, "SPIRE refused the federation relationship");
                    this.failures.insert(d.source.uid.clone(), e.message);
                }
            }
        };
        if !plan.creates.is_empty() {
            match spire.batch_create_federation_relationships(&plan.creates).await {
                Ok(results) => {
                    for (r, result) in plan.creates.iter().zip(results) {
                        record(result, r.trust_domain.as_str(), self);
                    }
                }
                Err(e) => {
                    self.unavailable = Some(std::sync::Arc::new(e));
                    return None;
                }
            }
        }
        for (relationship, mask) in &plan.updates {
            match spire.batch_update_federation_relationships(std::slice::from_ref(relationship), *mask).await {
                Ok(mut results) => record(results.remove(0), relationship.trust_domain.as_str(), self),
                Err(e) => {
                    self.unavailable = Some(std::sync::Arc::new(e));
                    return None;
                }
            }
        }
        let mut deleted = true;
        if !plan.deletes.is_empty() {
            match spire.batch_delete_federation_relationships(&plan.deletes).await {
                Ok(results) => {
                    for (td, result) in plan.deletes.iter().zip(results) {
                        match result {
                            Ok(()) => {
                                tracing::info!(trust_domain = %td, "deleted federation relationship")
                            }
                            Err(e) if e.code == tonic::Code::NotFound => {}
                            Err(e) => {
                                tracing::warn!(trust_domain = %td, error = %e, "failed to delete federation relationship");
                                deleted = false;
                            }
                        }
                    }
                }
                Err(e) => {
                    self.unavailable = Some(std::sync::Arc::new(e));
                    deleted = false;
                }
            }
        }
        Some(Synced { plan, deleted, written: true })
    }
}

/// What one [`Federation::sync`] planned and did.
pub struct Synced {
    pub plan: FederationPlan,
    /// Every planned deletion went through.
    pub deleted: bool,
    /// The plan was written (not in observe mode).
    pub written: bool,
}

async fn set_finalizers(
    api: &Api<ClusterFederatedTrustDomain>,
    object: &ClusterFederatedTrustDomain,
    finalizers: Vec<String>,
) {
    let patch = json!({
        "metadata": { "finalizers": finalizers, "resourceVersion": object.resource_version() }
    });
    if let Err(e) = api.patch(&object.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
        tracing::warn!(name = %object.name_any(), error = %e, "failed to update finalizers");
    }
}
