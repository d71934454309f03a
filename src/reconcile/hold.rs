//! Failing closed, narrowly: which undeclared entries of a scope are kept because an input that
//! could have declared them is missing or failed.

use std::collections::BTreeSet;

/// What a scope's missing inputs hold back from deletion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Hold {
    /// Every input is whole: an undeclared owned entry is deleted.
    #[default]
    Nothing,
    /// These resources (by UID) could not be evaluated: an undeclared entry that one of them
    /// declared when last planned, or whose declaring resource is not known, is kept. An entry
    /// that a resource evaluated successfully stopped declaring is deleted.
    Sources(BTreeSet<String>),
    /// An input every declaration needs is missing (the pod's namespace, a switched-off kind):
    /// nothing is deleted.
    Everything,
}

impl Hold {
    /// Holds the output of one resource.
    pub fn source(uid: impl Into<String>) -> Self {
        Hold::Sources(BTreeSet::from([uid.into()]))
    }

    /// Both holds at once.
    pub fn join(self, other: Hold) -> Hold {
        match (self, other) {
            (Hold::Everything, _) | (_, Hold::Everything) => Hold::Everything,
            (Hold::Nothing, other) | (other, Hold::Nothing) => other,
            (Hold::Sources(mut a), Hold::Sources(b)) => {
                a.extend(b);
                Hold::Sources(a)
            }
        }
    }

    /// Adds one resource's output to the hold.
    pub fn add(&mut self, uid: impl Into<String>) {
        *self = std::mem::take(self).join(Hold::source(uid));
    }

    /// Whether an undeclared entry last declared by `owner` (when known) is kept.
    pub fn keeps(&self, owner: Option<&str>) -> bool {
        match self {
            Hold::Nothing => false,
            Hold::Everything => true,
            Hold::Sources(uids) => owner.is_none_or(|o| uids.contains(o)),
        }
    }

    pub fn is_nothing(&self) -> bool {
        *self == Hold::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_keeps_only_what_its_sources_may_have_declared() {
        let hold = Hold::source("b");
        assert!(hold.keeps(Some("b")), "the failing resource's entry is kept");
        assert!(!hold.keeps(Some("a")), "an entry a healthy resource stopped declaring goes");
        assert!(hold.keeps(None), "an entry of unknown provenance is kept");
        assert!(!Hold::Nothing.keeps(None));
        assert!(Hold::Everything.keeps(Some("a")));
    }

    #[test]
    fn holds_join() {
        let mut hold = Hold::Nothing;
        hold.add("a");
        hold.add("b");
        assert_eq!(hold, Hold::Sources(["a".to_string(), "b".to_string()].into()));
        assert_eq!(hold.clone().join(Hold::Everything), Hold::Everything);
        assert_eq!(Hold::Nothing.join(Hold::Nothing), Hold::Nothing);
    }
}
