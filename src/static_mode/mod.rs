//! Static manifest mode (`staticManifestPath`): the operator reads ClusterStaticEntry and
//! ClusterFederatedTrustDomain manifests (and IdentityPolicy and IdentityException) from files
//! instead of the Kubernetes API server, for SPIRE servers outside Kubernetes and for
//! configuration management. It needs no Kubernetes client: there are no pods, no status, no
//! Events and no leader election.
//!
//! At start and at every `gcInterval` it reads the directory ([`files`]), lists SPIRE and runs
//! the same pass as the controller and `plan` over every scope, then writes the plans. A file
//! that does not parse stops the pass before anything is written, so a broken file never
//! deletes the entries it declares; the error names the file, the document and the field.
//! Deletions go through the same circuit breaker as in Kubernetes mode; with no resource to
//! annotate, held deletions are let through by restarting with `deletionBreaker` raised. A
//! directory without any `*.yaml` file (empty, or not mounted) stops the pass too: to remove
//! every entry, leave an empty `.yaml` file.
//! A federation relationship is deleted when the file that declared it goes while the operator
//! runs; one whose file went while it was stopped is left in SPIRE (nothing marks it as the
//! operator's).

pub mod files;

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    sync::Arc,
};

use k8s_openapi::jiff::Timestamp;

use crate::{
    admin::{self, Readiness},
    cli::snapshot::{Evaluation, Listing},
    config::{Config, Mode, StaticManifests},
    controller::{
        Readable,
        apply::{WriteLog, apply},
        audit_trail::{Trail, written},
        federation::Federation,
        sources::source_of,
    },
    metrics::{Metrics, SpireCalls},
    reconcile::{DeclaredRelationship, DeleteReason, Plan, Scope, SourceKind},
    render::render_federation,
    selection::handles_class,
    spire::{LIST_PAGE_SIZE, SpireClient},
};

/// Why static manifest mode stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Audit(#[from] crate::audit::OpenError),
}

/// Runs static manifest mode until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let manifests = config.static_manifests.clone().expect("static manifest mode is configured");
    let metrics = Arc::new(Metrics::new());
    // The only instance: it writes, as a leader would.
    metrics.leader(true);
    metrics.periodic_check_interval(config.gc_interval);
    let readiness = Readiness::default();
    let (metrics_address, health_address) = (config.metrics_address, config.health_address);
    let (admin_metrics, admin_readiness) = (metrics.clone(), readiness.clone());
    let admin = tokio::spawn(async move {
        if let Err(e) = admin::serve(metrics_address, health_address, admin_metrics, admin_readiness).await {
            tracing::error!(error = %e, "the admin endpoints stopped");
        }
    });
    let spire = SpireClient::new(config.spire_client()).with_observer(Arc::new(SpireCalls(metrics.clone())));
    let trail = Trail::new(Arc::new(crate::audit::Sink::open(&config.audit)?));
    let mut runner = Runner {
        config,
        manifests,
        spire,
        metrics,
        trail,
        federation: Federation::default(),
        declared: BTreeMap::new(),
        warnings: Vec::new(),
        failures_logged: Default::default(),
    };
    tracing::info!(path = %runner.manifests.path.display(), interval = ?runner.config.gc_interval,
        "static manifest mode: reading resources from files, not from the Kubernetes API");
    let work = async {
        loop {
            if runner.pass().await {
                readiness.set(true);
            }
            tokio::time::sleep(runner.config.gc_interval).await;
        }
    };
    tokio::select! {
        () = work => {}
        () = shutdown => {}
    }
    admin.abort();
    Ok(())
}

struct Runner {
    config: Config,
    manifests: StaticManifests,
    spire: SpireClient,
    metrics: Arc<Metrics>,
    trail: Trail,
    federation: Federation,
    /// The relationships declared at the last pass, by resource UID: one whose file goes is
    /// deleted.
    declared: BTreeMap<String, DeclaredRelationship>,
    /// The documents left out at the last pass, logged when they change.
    warnings: Vec<String>,
    /// Write failures logged, so that one that keeps failing is logged once.
    failures_logged: std::collections::HashMap<crate::spiffe::EntryId, String>,
}

impl Runner {
    /// One pass; whether it ran to the end.
    async fn pass(&mut self) -> bool {
        // Set again below when this pass holds deletions.
        self.metrics.deletions_held(0);
        let expand_env = self.manifests.expand_env;
        let read = files::read(&self.manifests.path, |text| {
            if expand_env { crate::config::expand_env(text, |name| std::env::var(name).ok()) } else { text.to_owned() }
        });
        let read = match read {
            Ok(read) => read,
            Err(e) => {
                tracing::error!(error = %crate::cli::manifests::chain(&e), "a static manifest cannot be used; nothing is written until it is fixed");
                self.metrics.error("render_failed");
                return false;
            }
        };
        if read.warnings != self.warnings {
            for warning in &read.warnings {
                tracing::warn!("{warning}");
            }
            self.warnings = read.warnings.clone();
        }
        let handled =
            |class: Option<&str>| handles_class(class, self.config.class_name.as_deref(), self.config.watch_classless);
        let federations: Vec<_> =
            read.federations.iter().filter(|o| handled(o.spec.class_name.as_deref())).cloned().collect();
        let entries = self.entries(read).await;
        let federated = if self.config.reconcile.cluster_federated_trust_domains {
            self.federate(&federations).await
        } else {
            true
        };
        entries && federated
    }

    /// Lists SPIRE, runs the pass over every scope and writes the plans.
    async fn entries(&mut self, read: files::Manifests) -> bool {
        let listing = match self.spire.list_entries_lenient(&Default::default(), LIST_PAGE_SIZE).await {
            Ok(listing) => listing,
            Err(e) => {
                tracing::warn!(error = %e, "SPIRE cannot be used; retrying at the next pass");
                self.metrics.error("spire_unavailable");
                return false;
            }
        };
        self.metrics.periodic_check(Timestamp::now().as_millisecond() as f64 / 1000.0);
        self.metrics.unparsed(crate::spire::EntryListing::KIND, listing.unparsed.len());
        let listing = Listing {
            pods: vec![],
            nodes: vec![],
            namespaces: vec![],
            slices: vec![],
            identities: Readable { objects: vec![], unreadable: vec![] },
            tenant_identities: Readable { objects: vec![], unreadable: vec![] },
            static_entries: readable(read.static_entries),
            policies: readable(read.policies),
            exceptions: readable(read.exceptions),
            entries: listing,
        };
        let mut evaluation = Evaluation::run(&listing, &self.config, Timestamp::now());
        let mut plans: Vec<(Scope, Plan)> = evaluation
            .scopes
            .iter()
            .map(|judged| (judged.outcome.scope.clone(), judged.outcome.plan.clone()))
            .filter(|(_, plan)| !plan.is_empty())
            .collect();
        self.metrics.managed_entries(evaluation.index.len());
        if plans.is_empty() {
            return true;
        }
        if self.config.mode == Mode::Observe {
            let count = |f: fn(&Plan) -> usize| plans.iter().map(|(_, p)| f(p)).sum::<usize>();
            tracing::info!(
                create = count(|p| p.creates.len()),
                update = count(|p| p.updates.len()),
                delete = count(|p| p.deletes.len()),
                "observe mode: writes planned and not made"
            );
            self.trail.withhold(written(&plans), crate::audit::Outcome::Observed);
            return true;
        }
        self.hold_mass_deletion(&mut plans, evaluation.index.len());
        let teams: BTreeMap<String, String> = listing
            .static_entries
            .objects
            .iter()
            .filter_map(|o| Some((o.metadata.uid.clone()?, o.spec.owner.as_ref()?.team.clone())))
            .collect();
        let team = |uid: &str| teams.get(uid).cloned();
        let mut log = WriteLog { pod: &|_| None, team: &team, failed: &mut self.failures_logged };
        let applied = apply(&self.spire, &mut evaluation.index, &evaluation.ownership, &plans, &mut log).await;
        self.trail.settle(&plans, &applied);
        self.metrics.written("create", applied.created);
        self.metrics.written("update", applied.updated);
        self.metrics.written("delete", applied.deleted);
        // Each refusal was logged by the write (once while it keeps failing); it is tried again
        // at the next pass.
        for _ in &applied.failures {
            self.metrics.error("spire_rejected");
        }
        if applied.unavailable.is_some() {
            self.metrics.error("spire_unavailable");
        }
        applied.unavailable.is_none()
    }

    /// Takes the deletions of entries nothing declares out of `plans` when the circuit breaker
    /// holds them: the rule of [`crate::breaker::Breaker::assess`], over the owned entries.
    fn hold_mass_deletion(&mut self, plans: &mut [(Scope, Plan)], owned: usize) {
        let undeclared = |plan: &Plan| plan.deletes.iter().filter(|d| d.reason == DeleteReason::Undeclared).count();
        let deletes: usize = plans.iter().map(|(_, p)| undeclared(p)).sum();
        let assessment = self.config.deletion_breaker.assess(deletes, owned, None);
        if let crate::breaker::Assessment::Held { deletes, owned } = assessment {
            let held: Vec<_> = plans
                .iter()
                .flat_map(|(scope, p)| {
                    p.deletes
                        .iter()
                        .filter(|d| d.reason == DeleteReason::Undeclared)
                        .filter_map(move |d| Some((scope, d.entry.id.as_ref()?, crate::audit::Action::Delete)))
                })
                .collect();
            self.trail.withhold(held, crate::audit::Outcome::Held);
            tracing::error!(
                deletes,
                owned,
                "the deletion circuit breaker holds the deletion of entries no manifest declares any more; \
                 if they are meant to go, raise deletionBreaker (maxSharePercent: 100 turns it off) for one pass"
            );
            self.metrics.deletions_held(deletes);
            for (_, plan) in plans.iter_mut() {
                plan.deletes.retain(|d| d.reason != DeleteReason::Undeclared);
            }
        }
    }

    /// Plans and writes the federation relationships the files declare.
    async fn federate(&mut self, federations: &[crate::api::v1alpha1::ClusterFederatedTrustDomain]) -> bool {
        let now: Vec<DeclaredRelationship> = federations
            .iter()
            .map(|o| DeclaredRelationship {
                source: source_of(SourceKind::ClusterFederatedTrustDomain, o),
                relationship: render_federation(&o.spec),
                bundle_document: o.spec.trust_domain_bundle.clone(),
            })
            .collect();
        let live: BTreeSet<&str> = now.iter().map(|d| d.source.uid.as_str()).collect();
        let gone: Vec<DeclaredRelationship> = self
            .declared
            .values()
            .filter(|d| !live.contains(d.source.uid.as_str()))
            .map(|d| {
                let mut d = d.clone();
                d.source.deleting_at = Some(Timestamp::now().as_second());
                d
            })
            .collect();
        for d in &now {
            if let Err(why) = &d.relationship {
                tracing::error!(name = %d.source.name, error = %why, "a ClusterFederatedTrustDomain manifest does not render");
            }
        }
        let declared: Vec<DeclaredRelationship> = now.iter().chain(&gone).cloned().collect();
        let Some(synced) = self.federation.sync(&declared, &self.config, &self.spire).await else {
            if let Some(e) = &self.federation.unavailable {
                tracing::warn!(error = %e, "SPIRE cannot be used for federation; retrying at the next pass");
            }
            // Some writes may have gone before the call that failed: what is declared now is
            // remembered with what was, so that a file removed next time takes its relationship.
            for d in now {
                self.declared.insert(d.source.uid.clone(), d);
            }
            return false;
        };
        // A gone file's relationship is forgotten once deleted; until then it is tried again.
        let kept_gone = gone.into_iter().filter(|_| !(synced.written && synced.deleted));
        self.declared = now.into_iter().chain(kept_gone).map(|d| (d.source.uid.clone(), d)).collect();
        for d in self.declared.values_mut() {
            d.source.deleting_at = None;
        }
        // In observe mode nothing is deleted, and the pass is still complete.
        !synced.written || synced.deleted
    }
}

/// Objects read from files: all of them parse (one that does not stops the pass).
fn readable<K>(objects: Vec<K>) -> Readable<K> {
    Readable { objects: objects.into_iter().map(Arc::new).collect(), unreadable: vec![] }
}
