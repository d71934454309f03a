//! One pass of the worker as a pure function over a snapshot of its inputs. Each scope goes
//! through named stages in order:
//!
//! 1. [`declare`]: what every resource declares for the scope (ClusterSPIFFEIDs rendered for the
//!    pod, ClusterStaticEntries of the scope), and what missing inputs hold;
//! 2. [`govern`]: which declarations may stand: kinds the configuration switches off are left
//!    alone, static entries past their `expiresAt` lapse, and the policies judge every entry
//!    (denied entries are dropped, TTLs clamped);
//! 3. resolve: one winning declaration per entry key, the rest masked;
//! 4. plan: the writes that bring SPIRE's entries of the scope in line, and [`drift::review`]:
//!    which of them repair drift, withheld under `driftPolicy: Report`;
//! 5. [`report`]: what status and metrics need to know of the scope.
//!
//! The worker only executes what this returns; nothing here performs I/O.

pub mod drift;
mod govern;
mod record;
mod resync;
#[cfg(test)]
mod tests;

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::{
    api::{core::v1::Node, discovery::v1::EndpointSlice},
    jiff::Timestamp,
};

pub use govern::{apply as apply_verdict, expiry_of, govern};
pub use record::PodRecord;
pub use resync::{SliceMembers, stale_pods};

use crate::{
    config::Config,
    pod_view::PodView,
    policy::{Governance, Verdict},
    reconcile::{
        Declaration, EntryIndex, Hold, IdentitySource, NodeState, Ownership, Plan, PodOutcome, Resolved, Scope,
        SourceKind, SourceMeta, declare_pod, plan_scope, resolve,
    },
    render::PodContext,
    selection::is_ignored_namespace,
};

/// The caches as the pass reads them.
pub trait Inputs {
    /// A pod by UID.
    fn pod(&self, uid: &str) -> Option<Arc<PodView>>;
    fn node(&self, name: &str) -> Option<Arc<Node>>;
    /// A namespace's labels; None when the namespace is not known.
    fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>>;
    /// The EndpointSlices of a namespace.
    fn slices_in(&self, namespace: &str) -> Vec<Arc<EndpointSlice>>;
}

/// What ClusterStaticEntries declare, by scope.
pub trait StaticDeclarations {
    /// The declarations of a scope, and what static entries that do not render hold in it.
    fn declarations(&self, scope: &Scope) -> (Vec<Declaration>, Hold);
    /// Whether any ClusterStaticEntry falls in the scope.
    fn declares_in(&self, scope: &Scope) -> bool;
    /// What policies read of a ClusterStaticEntry besides its spec.
    fn meta(&self, uid: &str) -> Option<&SourceMeta>;
}

/// Everything one pass reads.
pub struct Snapshot<'a> {
    pub inputs: &'a dyn Inputs,
    /// Every ClusterSPIFFEID this instance handles, oldest first.
    pub identities: &'a [IdentitySource],
    pub statics: &'a dyn StaticDeclarations,
    pub index: &'a EntryIndex,
    pub ownership: &'a Ownership,
    pub config: &'a Config,
    /// The policies and exceptions in force.
    pub governance: &'a Governance,
    /// The instant the pass decides for: exceptions and expiries are judged at it.
    pub now: Timestamp,
    /// What the worker found changed behind its back. None: no memory, every difference the
    /// plan finds counts as drift (a one-off report).
    pub ledger: Option<&'a crate::drift::Ledger>,
}

/// What the pass decided for one scope.
#[derive(Clone, Debug)]
pub struct ScopeOutcome {
    pub scope: Scope,
    pub plan: Plan,
    /// The pod's record for status, or None when the pod is gone (for pod scopes).
    pub record: Option<PodRecord>,
    /// Per ClusterStaticEntry (by UID) declaring in the scope: whether it won its entry key.
    pub static_winners: Vec<(String, bool)>,
    /// Identities that failed to render for the pod, for the metrics.
    pub render_failures: usize,
    /// Per ClusterStaticEntry (by UID) declaring in the scope: the policies' verdict, if any
    /// policy governs it.
    pub static_verdicts: Vec<(String, Option<Verdict>)>,
    /// ClusterStaticEntries of the scope whose `expiresAt` has passed.
    pub lapsed: Vec<String>,
    /// Every declaration the policies judged, as written (TTLs clamped) or as denied, with its
    /// verdict.
    pub judged: Vec<(Declaration, Verdict)>,
    /// Whether the pod of a pod scope is in the cache.
    pub pod_present: bool,
    /// The scope's drift: repaired by the plan, or withheld and only reported.
    pub drift: Vec<crate::drift::Finding>,
}

/// What the scope's resources declare, before governance.
#[derive(Clone, Debug, Default)]
pub struct Declared {
    pub declarations: Vec<Declaration>,
    pub hold: Hold,
    pub record: Option<PodRecord>,
    /// Set by [`govern`]: the verdicts on static entries.
    pub static_verdicts: Vec<(String, Option<Verdict>)>,
    /// Set by [`govern`]: static entries past their `expiresAt`.
    pub lapsed: Vec<String>,
    /// Set by [`govern`]: the judged declarations with their verdicts.
    pub judged: Vec<(Declaration, Verdict)>,
}

/// Runs the pass over `scopes`.
pub fn run<'s>(snapshot: &Snapshot<'_>, scopes: impl IntoIterator<Item = &'s Scope>) -> Vec<ScopeOutcome> {
    let toggles = snapshot.config.reconcile;
    scopes
        .into_iter()
        // The cluster scope holds static entries only: with them switched off it is not planned.
        .filter(|scope| toggles.cluster_static_entries || **scope != Scope::Cluster)
        .map(|scope| {
            let mut declared = govern(snapshot, scope, declare(snapshot, scope));
            let resolved = resolve(std::mem::take(&mut declared.declarations));
            let declared_by = |id: &crate::spiffe::EntryId| snapshot.index.owner(id).map(|s| s.uid.clone());
            let mut plan =
                plan_scope(&resolved, &snapshot.index.scope(scope), &declared.hold, &declared_by, snapshot.ownership);
            let drift = drift::review(snapshot, scope, &mut plan);
            let mut outcome = report(scope.clone(), plan, &resolved, declared);
            outcome.drift = drift;
            outcome
        })
        .collect()
}

/// Stage 1: every declaration of the scope, whatever its kind, and what missing inputs hold.
pub fn declare(snapshot: &Snapshot<'_>, scope: &Scope) -> Declared {
    let (mut declarations, mut hold) = snapshot.statics.declarations(scope);
    let mut record = None;
    if let Scope::Pod(uid) = scope
        && let Some(pod) = snapshot.inputs.pod(uid)
    {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let node_name = pod.node_name().map(str::to_owned);
        let node = node_name.as_deref().and_then(|n| snapshot.inputs.node(n));
        let node_state = match (&node_name, &node) {
            (None, _) => NodeState::Unscheduled,
            (Some(_), Some(node)) => NodeState::Found(node.as_ref()),
            (Some(name), None) => NodeState::Missing(name.clone()),
        };
        let wants_slices =
            snapshot.identities.iter().any(|i| i.identity.as_ref().is_ok_and(|i| i.auto_populate_dns_names));
        let slices = if wants_slices { snapshot.inputs.slices_in(&namespace) } else { Vec::new() };
        let config = snapshot.config;
        let context = PodContext {
            trust_domain: &config.trust_domain,
            cluster_name: &config.cluster_name,
            cluster_domain: &config.cluster_domain,
            parent_id: &config.parent_id,
        };
        let identities = if config.reconcile.cluster_spiffe_ids { snapshot.identities } else { &[] };
        let pod_declarations = declare_pod(
            &pod,
            node_state,
            snapshot.inputs.namespace_labels(&namespace).as_ref(),
            is_ignored_namespace(&namespace, &config.ignore_namespaces),
            identities,
            slices.iter().map(|s| s.as_ref()),
            &context,
        );
        hold = hold.join(pod_declarations.hold);
        declarations.extend(pod_declarations.declarations);
        record = Some(PodRecord::of(&pod, pod_declarations.outcomes));
    }
    Declared { declarations, hold, record, ..Default::default() }
}

/// Stage 5: what status needs of the scope: the pod's record with the winning and masked
/// declarations, and which static entries won.
pub fn report(scope: Scope, plan: Plan, resolved: &Resolved, declared: Declared) -> ScopeOutcome {
    let Declared { record, static_verdicts, lapsed, judged, .. } = declared;
    let pod_present = record.is_some() || scope == Scope::Cluster;
    let record = record.map(|mut record| {
        record.winners = resolved.winners.values().map(|d| d.source.uid.clone()).collect();
        record.masked = resolved.masked.iter().map(|(d, _)| d.source.uid.clone()).collect();
        record
    });
    let render_failures =
        record.as_ref().map_or(0, |r| r.outcomes.values().filter(|o| matches!(o, PodOutcome::RenderFailed(_))).count());
    let is_static = |d: &Declaration| d.source.kind == SourceKind::ClusterStaticEntry;
    let static_winners = resolved
        .winners
        .values()
        .filter(|d| is_static(d))
        .map(|d| (d.source.uid.clone(), true))
        .chain(resolved.masked.iter().filter(|(d, _)| is_static(d)).map(|(d, _)| (d.source.uid.clone(), false)))
        .collect();
    ScopeOutcome {
        scope,
        plan,
        record,
        static_winners,
        render_failures,
        static_verdicts,
        lapsed,
        judged,
        pod_present,
        drift: Vec::new(),
    }
}
