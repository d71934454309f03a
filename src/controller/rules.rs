//! The policies and exceptions as the worker reads them: validated once per generation, with
//! what each one's validation found for status.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::stores::Readable;
use crate::{
    api::v1alpha1::{IdentityException, IdentityPolicy},
    config::Config,
    policy::{ConvertError, Exception, Governance, exception_of, policy_of},
    reconcile::SourceKind,
    selection::handles_class,
};

/// What validation found for one policy or exception.
#[derive(Clone, Debug, PartialEq)]
pub struct Validity {
    /// The generation validated.
    pub generation: Option<i64>,
    /// Why it cannot be used; None when valid.
    pub error: Option<String>,
}

/// What changed at a refresh.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// The policies in force changed: any verdict may change.
    pub policies: bool,
    /// The identities whose exceptions changed, by kind, name and namespace (for a SPIFFEID).
    pub targets: Vec<(SourceKind, String, Option<String>)>,
}

/// Every policy and exception, validated.
#[derive(Default)]
pub struct Rules {
    pub governance: Governance,
    /// By UID.
    pub policies: BTreeMap<String, Validity>,
    /// By UID.
    pub exceptions: BTreeMap<String, Validity>,
}

fn validity(generation: Option<i64>, result: Result<(), ConvertError>) -> Validity {
    Validity { generation, error: result.err().map(|e| e.to_string()) }
}

impl Rules {
    /// Brings the rules in line with the caches. An object that does not parse is invalid: it
    /// denies and relaxes nothing.
    pub fn refresh(
        &mut self,
        policies: &Readable<IdentityPolicy>,
        exceptions: &Readable<IdentityException>,
        config: &Config,
    ) -> Refreshed {
        let handled = |class: Option<&str>| handles_class(class, config.class_name.as_deref(), config.watch_classless);
        let mut next = Governance::default();
        let mut policy_validity = BTreeMap::new();
        let mut exception_validity = BTreeMap::new();
        let mut sorted: Vec<_> = policies
            .objects
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && handled(p.spec.class_name.as_deref()))
            .collect();
        sorted.sort_by_key(|p| p.name_any());
        for object in sorted {
            let result = policy_of(&object.name_any(), &object.spec).map(|g| next.policies.push(g));
            policy_validity.insert(object.uid().unwrap_or_default(), validity(object.metadata.generation, result));
        }
        let mut sorted: Vec<_> = exceptions
            .objects
            .iter()
            .filter(|e| e.metadata.deletion_timestamp.is_none() && handled(e.spec.class_name.as_deref()))
            .collect();
        sorted.sort_by_key(|e| e.name_any());
        for object in sorted {
            let created = object.metadata.creation_timestamp.as_ref().map(|t| t.0).unwrap_or_default();
            let result = exception_of(&object.name_any(), created, &object.spec).map(|t| next.exceptions.push(t));
            exception_validity.insert(object.uid().unwrap_or_default(), validity(object.metadata.generation, result));
        }
        for (list, out) in [
            (policies.unreadable_handled(config).collect::<Vec<_>>(), &mut policy_validity),
            (exceptions.unreadable_handled(config).collect(), &mut exception_validity),
        ] {
            for invalid in list {
                out.insert(
                    invalid.metadata.uid.clone().unwrap_or_default(),
                    Validity {
                        generation: invalid.metadata.generation,
                        error: Some(format!("the object could not be read: {}", invalid.error)),
                    },
                );
            }
        }

        next.incomplete = policy_validity.values().chain(exception_validity.values()).any(|v| v.error.is_some());
        let changed = next.policies != self.governance.policies || next.incomplete != self.governance.incomplete;
        let mut refreshed = Refreshed { policies: changed, targets: Vec::new() };
        let target = |t: &crate::policy::TargetedException| {
            (t.kind, t.exception.target.name.clone(), t.exception.target.namespace.clone())
        };
        for t in &next.exceptions {
            if !self.governance.exceptions.contains(t) {
                refreshed.targets.push(target(t));
            }
        }
        for t in &self.governance.exceptions {
            if !next.exceptions.contains(t) {
                refreshed.targets.push(target(t));
            }
        }
        refreshed.targets.sort();
        refreshed.targets.dedup();
        self.governance = next;
        self.policies = policy_validity;
        self.exceptions = exception_validity;
        refreshed
    }

    /// The validated exception named `name`.
    pub fn exception(&self, name: &str) -> Option<&Exception> {
        self.governance.exceptions.iter().map(|t| &t.exception).find(|e| e.name == name)
    }
}
