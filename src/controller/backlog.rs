//! Writes waiting for SPIRE to answer again.

use std::{collections::BTreeSet, time::Duration};

use crate::reconcile::Scope;

/// Scopes waiting to be written again after SPIRE could not be reached, with one backoff for
/// all of them: it grows while SPIRE stays away and starts over once it answers.
#[derive(Default)]
pub struct Retry {
    pending: BTreeSet<Scope>,
    delays: Option<Box<dyn Iterator<Item = Duration> + Send>>,
    at: Option<tokio::time::Instant>,
}

impl Retry {
    /// Sets scopes aside until the next delay of the backoff has passed.
    pub fn defer(&mut self, scopes: BTreeSet<Scope>) {
        if scopes.is_empty() {
            return;
        }
        self.pending.extend(scopes);
        let delays = self.delays.get_or_insert_with(|| Box::new(crate::retry::backoff()));
        let delay = delays.next().unwrap_or(crate::retry::LONGEST);
        self.at = Some(tokio::time::Instant::now() + delay);
    }

    /// Completes when the waiting scopes are due; never while none wait.
    pub async fn due(&self) {
        match self.at {
            Some(at) if !self.pending.is_empty() => tokio::time::sleep_until(at).await,
            _ => std::future::pending().await,
        }
    }

    /// Takes the waiting scopes when their time comes; the backoff goes on from where it was.
    pub fn take(&mut self) -> BTreeSet<Scope> {
        self.at = None;
        std::mem::take(&mut self.pending)
    }

    /// SPIRE answered: the backoff starts over and every waiting scope goes at once.
    pub fn answered(&mut self) -> BTreeSet<Scope> {
        self.delays = None;
        self.take()
    }
}
