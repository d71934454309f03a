//! What the worker plans and does not write: every write in observe mode, and the deletions the
//! circuit breaker holds. Every unapplied plan is handed to [`Withheld`], the one place that
//! records it, so status, metrics and logs read the same account.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use kube::ResourceExt;

use crate::{
    breaker::{Breaker, CONFIRM_ANNOTATION, Confirmation, Judgment},
    reconcile::{Delete, EntryIndex, Plan, Scope, Source, SourceKind},
    status,
};

/// How long the confirmation of a resource that is gone is remembered when no held deletion
/// names it: long enough for the pass that deletes its entries, even after a SPIRE outage.
const REMEMBER_GONE: Duration = Duration::from_secs(600);

/// What a confirmation or an Event is about: an identity resource, or the instance's state
/// ConfigMap, which confirms the deletions of entries whose resource is not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum About {
    Source(SourceKind),
    State,
}

impl About {
    /// The kind and its API version, as an Event's reference and an audit record name it.
    pub fn kind(self) -> (&'static str, String) {
        match self {
            About::Source(kind) => ("spire-steward.io/v1alpha1", format!("{kind:?}")),
            About::State => ("v1", "ConfigMap".to_owned()),
        }
    }
}

/// A resource the worker knows, with the confirmation it last carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub kind: About,
    pub name: String,
    pub namespace: Option<String>,
    pub confirmation: Option<Confirmation>,
    /// Why its annotation confirms nothing, when it is malformed.
    pub refused: Option<String>,
    /// When it was first found gone from the caches.
    gone_since: Option<Instant>,
}

/// A deletion held by the breaker: the resource that declared the entry, if known.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Held {
    owner: Option<Source>,
}

/// Observe mode: the writes planned for one resource in one scope and not made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pending {
    creates: usize,
    updates: usize,
    deletes: usize,
}

/// An Event the breaker publishes about a resource, which may be gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub kind: About,
    pub name: String,
    pub namespace: Option<String>,
    pub uid: String,
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// The unapplied plans and the confirmations that release held deletions.
#[derive(Debug, Default)]
pub struct Withheld {
    /// Observe mode: per scope, per declaring resource (by UID; empty when not known).
    observed: BTreeMap<Scope, BTreeMap<String, Pending>>,
    /// Per scope, the deletions the breaker holds.
    held: BTreeMap<Scope, Vec<Held>>,
    /// The pass that held them: (deletions it would make, entries owned when it began).
    held_pass: (usize, usize),
    /// Per UID, the resources of this instance's class, and those gone a short while.
    known: BTreeMap<String, Known>,
    /// The instance's state ConfigMap (by UID), whose annotation confirms the deletions of
    /// entries whose resource is not known.
    instance: Option<(String, Known)>,
    /// The confirmation on the state that released deletions: spent once used (the annotation
    /// is removed), and ignored while the annotation still carries it, so a leftover one never
    /// releases a later mass deletion. Forgotten once the annotation is gone.
    spent: Option<Confirmation>,
    /// The confirmation on the state was used in the last judgment and is to be removed.
    spend: bool,
    /// Per UID, the held count last announced by an Event.
    announced: BTreeMap<String, usize>,
    /// Events to publish.
    notes: Vec<Note>,
}

impl Withheld {
    /// Records the writes of a plan that are not made because the operator observes. This is
    /// where every observed write passes.
    pub fn observe(&mut self, scope: &Scope, plan: &Plan, index: &EntryIndex) {
        let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
        for create in &plan.creates {
            pending.entry(create.source.uid.clone()).or_default().creates += 1;
        }
        for update in &plan.updates {
            pending.entry(update.source.uid.clone()).or_default().updates += 1;
        }
        for delete in &plan.deletes {
            pending.entry(owner_uid(index, delete)).or_default().deletes += 1;
        }
        if pending.is_empty() {
            self.observed.remove(scope);
        } else {
            self.observed.insert(scope.clone(), pending);
        }
    }

    /// Observe mode: the writes planned and not made, by action.
    pub fn pending_totals(&self) -> [(&'static str, usize); 3] {
        let sum = |f: fn(&Pending) -> usize| self.observed.values().flat_map(|p| p.values()).map(f).sum();
        [("create", sum(|p| p.creates)), ("update", sum(|p| p.updates)), ("delete", sum(|p| p.deletes))]
    }

    /// Takes in the resources as the caches hold them now, with their confirmations. A
    /// resource that is gone is remembered while deletions of its entries are held, and a short
    /// while after, so that deleting a confirmed resource releases its entries' deletions.
    pub fn refresh_known(&mut self, live: Vec<(String, Known)>, instance: Option<(String, Known)>) {
        let now = Instant::now();
        let instance = instance.map(|(uid, mut known)| {
            match known.confirmation {
                None => self.spent = None,
                Some(c) if self.spent == Some(c) => known.confirmation = None,
                Some(_) => {}
            }
            (uid, known)
        });
        let live: BTreeMap<String, Known> = live.into_iter().collect();
        let before = self.instance.as_ref().map(|(_, k)| (k.confirmation, k.refused.clone()));
        let changed = instance.as_ref().filter(|(_, k)| before != Some((k.confirmation, k.refused.clone())));
        for (uid, known) in live.iter().chain(changed.map(|(u, k)| (u, k))) {
            if let Some(before) = self.known.get(uid)
                && before.confirmation == known.confirmation
                && before.refused == known.refused
            {
                continue;
            }
            if let Some(why) = &known.refused {
                tracing::warn!(kind = ?known.kind, name = %known.name, uid = %uid, error = %why,
                    "the annotation confirms no deletion");
            }
            if let Some(c) = known.confirmation {
                tracing::info!(kind = ?known.kind, name = %known.name, uid = %uid, confirmation = %c,
                    "recorded a confirmation of deletions ({CONFIRM_ANNOTATION})");
            }
        }
        let held_owners: BTreeSet<String> = self.held_owners().map(str::to_owned).collect();
        let mut gone: BTreeMap<String, Known> = std::mem::take(&mut self.known)
            .into_iter()
            .filter(|(uid, _)| !live.contains_key(uid))
            .map(|(uid, mut k)| {
                k.gone_since.get_or_insert(now);
                (uid, k)
            })
            .collect();
        gone.retain(|uid, k| held_owners.contains(uid) || k.gone_since.is_some_and(|t| now - t < REMEMBER_GONE));
        gone.extend(live);
        self.known = gone;
        self.instance = instance;
    }

    fn held_owners(&self) -> impl Iterator<Item = &str> {
        self.held.values().flatten().filter_map(|h| h.owner.as_ref()).map(|s| s.uid.as_str())
    }

    /// Whether the breaker holds any deletion.
    pub fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// The scopes of the held deletions: planned again together, so they are judged as one.
    pub fn held_scopes(&self) -> impl Iterator<Item = &Scope> {
        self.held.keys()
    }

    /// Judges the deletions of one pass (`planned`: every scope the pass planned) and records
    /// the ones held; returns those to send.
    pub fn judge(
        &mut self,
        breaker: &Breaker,
        planned: &BTreeSet<Scope>,
        deletes: Vec<(Scope, Delete)>,
        owned: usize,
        index: &EntryIndex,
    ) -> Vec<(Scope, Delete)> {
        self.held.retain(|scope, _| !planned.contains(scope));
        let owners: Vec<Option<Source>> =
            deletes.iter().map(|(_, d)| d.entry.id.as_ref().and_then(|id| index.owner(id)).cloned()).collect();
        let uids: Vec<Option<&str>> = owners.iter().map(|o| o.as_ref().map(|s| s.uid.as_str())).collect();
        let unowned = self.instance.as_ref().and_then(|(_, k)| k.confirmation);
        let judgment = breaker.judge(&uids, owned, &|uid| self.known.get(uid).and_then(|k| k.confirmation), unowned);
        self.account(breaker, &judgment, &owners);
        let mut send = Vec::with_capacity(deletes.len());
        for (((scope, delete), owner), held) in deletes.into_iter().zip(owners).zip(&judgment.held) {
            if *held {
                self.held.entry(scope).or_default().push(Held { owner });
            } else {
                send.push((scope, delete));
            }
        }
        if self.held.is_empty() {
            self.held_pass = (0, 0);
        }
        send
    }

    /// Logs the judgment and queues its Events: one `DeletionHeld` per resource whose held count
    /// changed, one `DeletionConfirmed` per confirmation that released deletions.
    fn account(&mut self, breaker: &Breaker, judgment: &Judgment, owners: &[Option<Source>]) {
        let sources: BTreeMap<&str, &Source> = owners.iter().flatten().map(|s| (s.uid.as_str(), s)).collect();
        if let Some((_, c)) = judgment.confirmed.get(&None) {
            self.spent = Some(*c);
            self.spend = true;
        }
        for (uid, (count, confirmation)) in &judgment.confirmed {
            tracing::info!(uid = ?uid, deletions = count, %confirmation, "confirmed deletions released");
            let of = if uid.is_some() { "" } else { " of entries whose resource is not known" };
            let message = format!(
                "{count} entry deletions{of} confirmed by annotation {CONFIRM_ANNOTATION}={confirmation} and released"
            );
            let source = uid.as_deref().and_then(|u| sources.get(u).copied());
            self.note(source, uid.as_deref(), false, crate::api::conditions::reasons::DELETION_CONFIRMED, message);
        }
        let held = judgment.held_count();
        if held > 0 {
            self.held_pass = (judgment.deletes, judgment.owned);
            let unknown = judgment.held_by.get(&None).copied().unwrap_or(0);
            tracing::warn!(
                held,
                deletes = judgment.deletes,
                owned = judgment.owned,
                unknown_owner = unknown,
                max_share_percent = breaker.max_share_percent,
                "deletion circuit breaker: the pass deletes too many owned entries; deletions held until confirmed"
            );
        }
        let mut announced = BTreeMap::new();
        for (owner, count) in judgment.held_by.iter().map(|(o, n)| (o.as_deref(), *n)) {
            // Held deletions of entries whose resource is not known are announced on the state.
            let Some(uid) = owner.or(self.instance.as_ref().map(|(u, _)| u.as_str())).map(str::to_owned) else {
                continue;
            };
            if self.announced.get(&uid) != Some(&count) {
                let withheld = status::Withheld {
                    held: count,
                    pass_deletes: judgment.deletes,
                    owned: judgment.owned,
                    max_share_percent: breaker.max_share_percent,
                    unowned: owner.is_none(),
                    ..Default::default()
                };
                let message = withheld.deletion_held().unwrap_or_default();
                let source = owner.and_then(|u| sources.get(u).copied());
                self.note(source, Some(&uid), true, crate::api::conditions::reasons::DELETION_HELD, message);
            }
            announced.insert(uid, count);
        }
        // Held deletions of scopes not planned in this pass stay announced.
        let mut others: BTreeSet<String> = self.held_owners().map(str::to_owned).collect();
        if self.held.values().flatten().any(|h| h.owner.is_none()) {
            others.extend(self.instance.as_ref().map(|(u, _)| u.clone()));
        }
        for uid in others {
            if let Some(n) = self.announced.get(&uid) {
                announced.entry(uid).or_insert(*n);
            }
        }
        self.announced = announced;
    }

    /// Queues an Event about a resource, or (`uid` None) about the instance's state.
    fn note(
        &mut self,
        source: Option<&Source>,
        uid: Option<&str>,
        warning: bool,
        reason: &'static str,
        message: String,
    ) {
        let instance = self.instance.as_ref().filter(|(u, _)| uid.is_none_or(|uid| uid == u));
        let Some(uid) = uid.or(instance.map(|(u, _)| u.as_str())) else {
            return;
        };
        let known = self.known.get(uid).or(instance.map(|(_, k)| k));
        let Some((kind, name)) =
            source.map(|s| (About::Source(s.kind), s.name.clone())).or(known.map(|k| (k.kind, k.name.clone())))
        else {
            return;
        };
        let namespace = known.and_then(|k| k.namespace.clone());
        self.notes.push(Note { kind, name, namespace, uid: uid.to_owned(), warning, reason, message });
    }

    /// Whether a used confirmation on the state is still to be removed.
    pub fn to_spend(&self) -> bool {
        self.spend
    }

    /// The used confirmation is removed from the state.
    pub fn spent(&mut self) {
        self.spend = false;
    }

    /// The Events queued since the last call.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// How many deletions the breaker holds.
    pub fn held_count(&self) -> usize {
        self.held.values().map(Vec::len).sum()
    }

    /// Per resource (by UID), what was planned for its entries and not written: the facts its
    /// status reports.
    pub fn per_resource(&self, observe: bool, breaker: &Breaker) -> BTreeMap<String, status::Withheld> {
        let mut out: BTreeMap<String, status::Withheld> = BTreeMap::new();
        let base = status::Withheld {
            observe,
            pass_deletes: self.held_pass.0,
            owned: self.held_pass.1,
            max_share_percent: breaker.max_share_percent,
            ..Default::default()
        };
        for (uid, pending) in self.observed.values().flatten() {
            let w = out.entry(uid.clone()).or_insert_with(|| base.clone());
            w.creates += pending.creates;
            w.updates += pending.updates;
            w.deletes += pending.deletes;
        }
        for uid in self.held_owners() {
            out.entry(uid.to_owned()).or_insert_with(|| base.clone()).held += 1;
        }
        out
    }
}

fn owner_uid(index: &EntryIndex, delete: &Delete) -> String {
    delete.entry.id.as_ref().and_then(|id| index.owner(id)).map(|s| s.uid.clone()).unwrap_or_default()
}

/// The resource as the breaker remembers it, with the confirmation its annotation carries. An
/// annotation that is neither a count nor `all` confirms nothing, and is logged.
pub fn known_of<K: kube::Resource>(kind: About, object: &K) -> (String, Known) {
    let parsed = object.annotations().get(CONFIRM_ANNOTATION).map(|value| Confirmation::parse(value));
    let known = Known {
        kind,
        name: object.name_any(),
        namespace: object.namespace(),
        confirmation: parsed.as_ref().and_then(|p| p.as_ref().ok().copied()),
        refused: parsed.and_then(|p| p.err()).map(|e| e.to_string()),
        gone_since: None,
    };
    (object.uid().unwrap_or_default(), known)
}
