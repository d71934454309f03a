//! Changes seen by the watches, queued for the worker. Watch handlers only record what changed;
//! the worker turns changes into the scopes to plan again.

use std::sync::Mutex;

use tokio::sync::Notify;

/// One observed change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// A pod was added, changed or removed.
    Pod { uid: String, namespace: String, name: String },
    /// A node changed: the pods on it are planned again.
    Node(String),
    /// A namespace changed: the pods in it are planned again.
    Namespace(String),
    /// An EndpointSlice changed: the pods it targets now (read from the cache), and the pods it
    /// targeted before, are planned again.
    Endpoints { namespace: String, name: String },
    /// A ClusterSPIFFEID changed: the pods it selects, or selected, are planned again.
    Identity(String),
    /// A ClusterStaticEntry changed.
    StaticEntries,
    /// A ClusterFederatedTrustDomain changed.
    Federation,
    /// An IdentityPolicy or IdentityException changed: the identities whose verdicts may change
    /// are planned again.
    Governance,
    /// An instant at which an exception or a static entry lapses has come.
    Lapse,
    /// Time for the periodic comparison of the index with SPIRE.
    Drift,
    /// A watch completed a listing (at start, or again after it expired or the API server came
    /// back): what was planned is compared with what the cache now holds.
    Relisted(Watched),
    /// Everything is planned again (start-up).
    Everything,
    /// The instance's state ConfigMap changed: a confirmation of held deletions may have come.
    State,
}

/// The kinds the operator watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Watched {
    Pods,
    Nodes,
    Namespaces,
    EndpointSlices,
    Identities,
    StaticEntries,
    Federations,
    Policies,
    Exceptions,
}

impl Watched {
    /// The name metrics and logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Watched::Pods => "Pod",
            Watched::Nodes => "Node",
            Watched::Namespaces => "Namespace",
            Watched::EndpointSlices => "EndpointSlice",
            Watched::Identities => "ClusterSPIFFEID",
            Watched::StaticEntries => "ClusterStaticEntry",
            Watched::Federations => "ClusterFederatedTrustDomain",
            Watched::Policies => "IdentityPolicy",
            Watched::Exceptions => "IdentityException",
        }
    }
}

/// A queue of changes that coalesces bursts: the worker takes everything queued at once.
#[derive(Default)]
pub struct ChangeQueue {
    pending: Mutex<Vec<Change>>,
    notify: Notify,
}

impl ChangeQueue {
    pub fn push(&self, change: Change) {
        self.pending.lock().expect("change queue lock").push(change);
        self.notify.notify_one();
    }

    /// Waits until something is queued, then takes all of it, sorted and without repeats.
    pub async fn take(&self) -> Vec<Change> {
        loop {
            let mut batch = std::mem::take(&mut *self.pending.lock().expect("change queue lock"));
            if !batch.is_empty() {
                batch.sort();
                batch.dedup();
                return batch;
            }
            self.notify.notified().await;
        }
    }

    /// How many changes wait, for the queue-depth metric.
    pub fn len(&self) -> usize {
        self.pending.lock().expect("change queue lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bursts_coalesce_into_one_sorted_batch() {
        let queue = ChangeQueue::default();
        queue.push(Change::StaticEntries);
        queue.push(Change::Node("n".into()));
        queue.push(Change::StaticEntries);
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.take().await, vec![Change::Node("n".into()), Change::StaticEntries]);
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn two_updates_of_one_slice_coalesce() {
        // A slice's change names the slice only, so updates of it cannot be reordered.
        let queue = ChangeQueue::default();
        let slice = || Change::Endpoints { namespace: "shop".into(), name: "web-abc".into() };
        queue.push(slice());
        queue.push(Change::Node("n".into()));
        queue.push(slice());
        assert_eq!(queue.take().await, vec![Change::Node("n".into()), slice()]);
    }
}
