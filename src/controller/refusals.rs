//! Writes SPIRE refused, kept per declaring resource and scope until that scope is planned
//! again, so a resource reports every refused entry however many of its other entries are
//! written meanwhile.

use std::collections::{BTreeMap, BTreeSet};

use crate::reconcile::Scope;

/// A write SPIRE refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// UID of the resource that declared the entry; empty when none is known (an entry deleted
    /// because nothing declares it any more).
    pub owner: String,
    pub scope: Scope,
    pub message: String,
}

/// The refusals still standing.
#[derive(Debug, Default)]
pub struct Refusals {
    by_owner: BTreeMap<String, BTreeMap<Scope, Vec<String>>>,
}

impl Refusals {
    /// Takes in one pass. Each planned scope answers for itself: its earlier refusals go and the
    /// pass's own come in. When SPIRE could not be reached nothing was tried, so earlier
    /// refusals stay.
    pub fn absorb<'a>(&mut self, planned: impl IntoIterator<Item = &'a Scope>, reached: bool, refused: &[Refusal]) {
        if reached {
            let planned: Vec<&Scope> = planned.into_iter().collect();
            for scopes in self.by_owner.values_mut() {
                for scope in &planned {
                    scopes.remove(*scope);
                }
            }
            self.by_owner.retain(|_, scopes| !scopes.is_empty());
        }
        for r in refused {
            let messages = self.by_owner.entry(r.owner.clone()).or_default().entry(r.scope.clone()).or_default();
            messages.push(r.message.clone());
        }
    }

    /// Every scope with a standing refusal: what to try again.
    pub fn scopes(&self) -> BTreeSet<Scope> {
        self.by_owner.values().flat_map(|scopes| scopes.keys().cloned()).collect()
    }

    /// Why SPIRE refused the writes of a resource, one message per refused entry.
    pub fn of(&self, owner: &str) -> Vec<&str> {
        self.by_owner.get(owner).into_iter().flat_map(|scopes| scopes.values().flatten()).map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(owner: &str, pod: &str) -> Refusal {
        Refusal { owner: owner.into(), scope: Scope::Pod(pod.into()), message: format!("{pod} refused") }
    }

    fn pod(uid: &str) -> Scope {
        Scope::Pod(uid.into())
    }

    #[test]
    fn a_refusal_stands_until_its_own_scope_is_planned_again() {
        let mut refusals = Refusals::default();
        refusals.absorb([&pod("a"), &pod("b")], true, &[refusal("csid", "a")]);
        assert_eq!(refusals.of("csid"), ["a refused"]);

        // Another pod of the same resource is written: pod a's refusal still stands.
        refusals.absorb([&pod("c")], true, &[]);
        assert_eq!(refusals.of("csid"), ["a refused"]);

        // SPIRE unreachable while pod a is planned: nothing is known to be fixed.
        refusals.absorb([&pod("a")], false, &[]);
        assert_eq!(refusals.of("csid"), ["a refused"]);

        // Pod a planned again and written: the refusal goes.
        assert_eq!(refusals.scopes().into_iter().collect::<Vec<_>>(), [pod("a")]);
        refusals.absorb([&pod("a")], true, &[]);
        assert!(refusals.of("csid").is_empty());
        assert!(refusals.scopes().is_empty());
    }

    #[test]
    fn refusals_are_counted_per_entry_and_owner() {
        let mut refusals = Refusals::default();
        refusals.absorb([&pod("a"), &pod("b")], true, &[refusal("x", "a"), refusal("x", "b"), refusal("y", "b")]);
        assert_eq!(refusals.of("x"), ["a refused", "b refused"]);
        assert_eq!(refusals.of("y"), ["b refused"]);
        refusals.absorb([&pod("b")], true, &[refusal("y", "b")]);
        assert_eq!(refusals.of("x"), ["a refused"]);
        assert_eq!(refusals.of("y"), ["b refused"], "a refusal that recurs is counted once");
        assert!(refusals.of("z").is_empty());
    }

    #[test]
    fn a_refusal_nobody_declared_is_still_tried_again() {
        let mut refusals = Refusals::default();
        refusals.absorb([&pod("gone")], true, &[refusal("", "gone")]);
        assert_eq!(refusals.scopes().into_iter().collect::<Vec<_>>(), [pod("gone")]);
    }
}
