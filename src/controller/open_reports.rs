//! OpenReports kept current in the cluster (`openReports.enabled`): at a periodic check, when
//! `openReports.interval` has passed, the report `spire-steward report -o openreports` prints is
//! computed from the caches and that check's SPIRE listing (no call of its own), and applied.
//! Reports of this instance that are no longer produced (a namespace without identities any
//! more) are deleted.

use std::{collections::BTreeSet, time::Instant};

use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams},
    core::{ApiResource, GroupVersionKind},
};

use super::worker::Worker;
use crate::{
    cli::{
        catalog::Catalog,
        openreports::{self, SOURCE},
        report,
        snapshot::{Evaluation, Listing},
    },
    spire::EntryListing,
};

/// When reports were last published, and which.
#[derive(Debug, Default)]
pub struct Published {
    at: Option<Instant>,
    /// The CRDs are not installed: said once.
    missing_said: bool,
}

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("openreports.io", "v1alpha1", kind))
}

impl Worker {
    /// Publishes the reports if they are switched on and due; `listing` is the periodic
    /// check's SPIRE listing.
    pub(super) async fn publish_reports(&mut self, listing: &EntryListing) {
        let settings = self.config.open_reports;
        if !settings.enabled || self.published.at.is_some_and(|at| at.elapsed() < settings.interval) {
            return;
        }
        self.published.at = Some(Instant::now());
        let objects = self.report_objects(listing);
        let name = openreports::report_name(&self.config);
        let apply = PatchParams::apply(SOURCE).force();
        let mut namespaces = BTreeSet::new();
        let mut applied = 0;
        for object in objects {
            let object: DynamicObject = match serde_json::from_value(object) {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "an OpenReports object does not encode");
                    continue;
                }
            };
            let (api, kind) = match object.namespace() {
                Some(ns) => {
                    namespaces.insert(ns.clone());
                    (Api::<DynamicObject>::namespaced_with(self.kube().clone(), &ns, &resource("Report")), "Report")
                }
                None => {
                    (Api::<DynamicObject>::all_with(self.kube().clone(), &resource("ClusterReport")), "ClusterReport")
                }
            };
            match api.patch(&name, &apply, &Patch::Apply(&object)).await {
                Ok(_) => applied += 1,
                Err(kube::Error::Api(e)) if e.code == 404 => {
                    if !self.published.missing_said {
                        tracing::warn!(
                            "openReports.enabled, but the OpenReports CRDs (openreports.io) are not installed"
                        );
                        self.published.missing_said = true;
                    }
                    return;
                }
                Err(e) => tracing::warn!(error = %e, kind, namespace = ?object.namespace(), "could not apply a report"),
            }
        }
        self.published.missing_said = false;
        // Reports of namespaces this instance no longer reports on.
        let api: Api<DynamicObject> = Api::all_with(self.kube().clone(), &resource("Report"));
        let selector = format!("app.kubernetes.io/managed-by={SOURCE}");
        match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => {
                for stale in list.items.iter().filter(|r| r.name_any() == name) {
                    let Some(ns) = stale.namespace().filter(|ns| !namespaces.contains(ns)) else { continue };
                    let api: Api<DynamicObject> = Api::namespaced_with(self.kube().clone(), &ns, &resource("Report"));
                    if let Err(e) = api.delete(&name, &DeleteParams::default()).await {
                        tracing::warn!(error = %e, namespace = %ns, "could not delete a stale report");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list the reports"),
        }
        tracing::debug!(applied, "published the OpenReports");
    }

    /// The report objects for the caches and `listing`, as `report -o openreports` prints them.
    fn report_objects(&self, listing: &EntryListing) -> Vec<serde_json::Value> {
        let listing = Listing {
            pods: self.stores.pods.state().iter().map(|p| p.as_ref().clone()).collect(),
            nodes: self.stores.nodes.state().iter().map(|n| n.as_ref().clone()).collect(),
            namespaces: self.stores.namespaces.state().iter().map(|n| n.as_ref().clone()).collect(),
            slices: self.stores.endpoint_slices.state().iter().map(|s| s.as_ref().clone()).collect(),
            identities: self.stores.identities(),
            tenant_identities: self.stores.tenant_identities(),
            static_entries: self.stores.static_entries(),
            policies: self.stores.policies(),
            exceptions: self.stores.exceptions(),
            entries: listing.clone(),
        };
        let evaluation = Evaluation::run(&listing, &self.config, Timestamp::now());
        let catalog = Catalog::of(&listing);
        let reported = report::report(&evaluation, &catalog, listing.entries.unparsed.len());
        openreports::reports(&reported, &evaluation, &self.config)
    }
}
