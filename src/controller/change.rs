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
    /// An EndpointSlice (`namespace/name`) changed: the pods it targets, and the pods it
    /// targeted before, are planned again.
    Endpoints { slice: String, pods: Vec<String> },
    /// A ClusterSPIFFEID changed: the pods it selects, or selected, are planned again.
    Identity(String),
    /// A ClusterStaticEntry changed.
    StaticEntries,
    /// A ClusterFederatedTrustDomain changed.
    Federation,
    /// Time for the periodic comparison of the index with SPIRE.
    Drift,
    /// Everything is planned again (start-up).
    Everything,
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
}
