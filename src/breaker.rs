//! The deletion circuit breaker: whether a pass that deletes many owned entries at once may
//! proceed, or waits for a person to confirm it.
//!
//! A pass trips the breaker when it would delete at least `minDeletions` owned entries and more
//! than `maxSharePercent` of the entries the operator owns. A tripped pass deletes nothing (its
//! creates and updates still go); a confirmation of at least as many deletions releases it.
//!
//! A person confirms the deletions of one resource with the annotation
//! [`CONFIRM_ANNOTATION`] on it: a count, or `all`. [`Breaker::judge`] weighs every deletion
//! of a pass by the resource that declared it: a confirmed resource's deletions go and do not
//! count against the breaker; the rest are judged by [`Breaker::assess`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// The annotation by which a person confirms a resource's held deletions: a count (at least
/// the number held) or `all`.
pub const CONFIRM_ANNOTATION: &str = "spire-steward.io/confirm-deletions";

/// `deletionBreaker` in the configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakerFile {
    /// The share of owned entries one pass may delete without confirmation, in percent (0 to
    /// 100; 100 switches the breaker off).
    pub max_share_percent: Option<u8>,
    /// Fewer deletions than this never trip the breaker, so that small clusters are not blocked.
    pub min_deletions: Option<usize>,
}

/// Why a breaker setting is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is above 100")]
pub struct Error(u8);

/// The breaker's settings, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Breaker {
    pub max_share_percent: u8,
    pub min_deletions: usize,
}

impl Default for Breaker {
    fn default() -> Self {
        Self { max_share_percent: 25, min_deletions: 20 }
    }
}

impl BreakerFile {
    pub fn validate(self) -> Result<Breaker, Error> {
        let defaults = Breaker::default();
        let max_share_percent = self.max_share_percent.unwrap_or(defaults.max_share_percent);
        if max_share_percent > 100 {
            return Err(Error(max_share_percent));
        }
        Ok(Breaker { max_share_percent, min_deletions: self.min_deletions.unwrap_or(defaults.min_deletions) })
    }
}

/// What the breaker says of one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assessment {
    Proceed,
    /// Nothing is deleted until a person confirms `deletes` deletions.
    Held {
        deletes: usize,
        owned: usize,
    },
}

impl Breaker {
    /// Judges a pass that would delete `deletes` of the `owned` entries the operator owns, given
    /// the number of deletions a person has confirmed, if any. The one rule for the breaker.
    pub fn assess(&self, deletes: usize, owned: usize, confirmed: Option<usize>) -> Assessment {
        let share_exceeded = deletes * 100 > usize::from(self.max_share_percent) * owned;
        let trips = self.max_share_percent < 100 && deletes >= self.min_deletions && share_exceeded;
        if trips && confirmed.is_none_or(|c| c < deletes) {
            Assessment::Held { deletes, owned }
        } else {
            Assessment::Proceed
        }
    }
}

/// A person's confirmation of a resource's deletions, read from [`CONFIRM_ANNOTATION`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// `all`: every deletion of the resource's entries, however many.
    All,
    /// Up to this many deletions in one pass.
    Count(usize),
}

/// Why an annotation's value is not a confirmation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("annotation {CONFIRM_ANNOTATION}: {0:?} is neither a count of deletions nor \"all\"")]
pub struct ConfirmationError(pub String);

impl Confirmation {
    /// Reads the annotation's value: a non-negative integer or `all`.
    pub fn parse(value: &str) -> Result<Self, ConfirmationError> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("all") {
            return Ok(Confirmation::All);
        }
        value.parse().map(Confirmation::Count).map_err(|_| ConfirmationError(value.to_owned()))
    }

    /// Whether it releases `deletes` deletions of one resource.
    pub fn covers(self, deletes: usize) -> bool {
        match self {
            Confirmation::All => true,
            Confirmation::Count(n) => n >= deletes,
        }
    }
}

impl std::fmt::Display for Confirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Confirmation::All => f.write_str("all"),
            Confirmation::Count(n) => write!(f, "{n}"),
        }
    }
}

/// What the breaker decided for the deletions of one pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgment {
    /// For each deletion, in the order given: whether it is held.
    pub held: Vec<bool>,
    /// Per resource (by UID; None: the instance's confirmation of the deletions whose resource
    /// is not known) whose confirmation released deletions the breaker would otherwise have
    /// held: how many, and the confirmation.
    pub confirmed: BTreeMap<Option<String>, (usize, Confirmation)>,
    /// Per resource (None: not known) whose deletions are held: how many.
    pub held_by: BTreeMap<Option<String>, usize>,
    /// Deletions the pass would make, and the entries owned when it began.
    pub deletes: usize,
    pub owned: usize,
}

impl Judgment {
    pub fn held_count(&self) -> usize {
        self.held_by.values().sum()
    }
}

impl Breaker {
    /// Judges the deletions of one pass, each given by the UID of the resource that declared
    /// the entry (None when not known), of `owned` entries, with each resource's confirmation.
    ///
    /// - A pass that [`Breaker::assess`] lets through goes whole; confirmations play no part.
    /// - Otherwise the deletions of a resource whose confirmation covers them all go, and do not
    ///   count. The rest are judged again by their number: they go, or are all held.
    /// - Deletions whose resource is not known go when `unowned`, the instance's confirmation,
    ///   covers them all, or with the pass once every known resource's part is confirmed;
    ///   otherwise they count, and are held with the rest.
    pub fn judge(
        &self,
        owners: &[Option<&str>],
        owned: usize,
        confirmation: &dyn Fn(&str) -> Option<Confirmation>,
        unowned: Option<Confirmation>,
    ) -> Judgment {
        let mut judgment =
            Judgment { held: vec![false; owners.len()], deletes: owners.len(), owned, ..Default::default() };
        if self.assess(owners.len(), owned, None) == Assessment::Proceed {
            return judgment;
        }
        let mut per_owner: BTreeMap<&str, usize> = BTreeMap::new();
        for uid in owners.iter().flatten() {
            *per_owner.entry(uid).or_default() += 1;
        }
        for (uid, count) in &per_owner {
            if let Some(c) = confirmation(uid).filter(|c| c.covers(*count)) {
                judgment.confirmed.insert(Some((*uid).to_owned()), (*count, c));
            }
        }
        let unknown = owners.iter().filter(|o| o.is_none()).count();
        if let Some(c) = unowned.filter(|c| unknown > 0 && c.covers(unknown)) {
            judgment.confirmed.insert(None, (unknown, c));
        }
        let is_confirmed = |owner: &Option<&str>| judgment.confirmed.contains_key(&owner.map(str::to_owned));
        let known_unconfirmed = owners.iter().any(|o| o.is_some() && !is_confirmed(o));
        let rest: Vec<usize> = (0..owners.len())
            .filter(|i| !is_confirmed(&owners[*i]))
            .filter(|i| known_unconfirmed || judgment.confirmed.is_empty() || owners[*i].is_some())
            .collect();
        if self.assess(rest.len(), owned, None) == Assessment::Proceed {
            return judgment;
        }
        for i in rest {
            judgment.held[i] = true;
            *judgment.held_by.entry(owners[i].map(str::to_owned)).or_default() += 1;
        }
        judgment
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_confirmation_is_a_count_or_all() {
        assert_eq!(Confirmation::parse("120"), Ok(Confirmation::Count(120)));
        assert_eq!(Confirmation::parse(" all "), Ok(Confirmation::All));
        assert_eq!(Confirmation::parse("All"), Ok(Confirmation::All));
        let err = Confirmation::parse("-3").unwrap_err().to_string();
        assert_eq!(
            err,
            "annotation spire-steward.io/confirm-deletions: \"-3\" is neither a count of deletions nor \"all\""
        );
        assert!(Confirmation::parse("yes").is_err());
        assert!(Confirmation::Count(5).covers(5) && !Confirmation::Count(5).covers(6));
        assert!(Confirmation::All.covers(usize::MAX));
    }

    fn owners<'a>(parts: &[(Option<&'a str>, usize)]) -> Vec<Option<&'a str>> {
        parts.iter().flat_map(|(o, n)| std::iter::repeat_n(*o, *n)).collect()
    }

    fn held_by(judgment: &Judgment) -> Vec<(Option<&str>, usize)> {
        judgment.held_by.iter().map(|(o, n)| (o.as_deref(), *n)).collect()
    }

    #[test]
    fn which_deletions_are_held_given_the_confirmations() {
        let breaker = Breaker::default();
        let none = |_: &str| None;
        // Below the minimum count: never held, confirmation or not.
        let small = breaker.judge(&owners(&[(Some("a"), 19)]), 19, &none, None);
        assert!(small.held.iter().all(|h| !h) && small.confirmed.is_empty());

        // 120 of 130 owned, from one resource: every deletion is held.
        let big = owners(&[(Some("a"), 120)]);
        let judgment = breaker.judge(&big, 130, &none, None);
        assert!(judgment.held.iter().all(|h| *h));
        assert_eq!(held_by(&judgment), [(Some("a"), 120)]);
        assert_eq!((judgment.deletes, judgment.owned, judgment.held_count()), (120, 130, 120));

        // A confirmation of fewer than held releases nothing; of as many, or all, releases.
        let fewer = |_: &str| Some(Confirmation::Count(119));
        assert_eq!(breaker.judge(&big, 130, &fewer, None).held_count(), 120);
        for c in [Confirmation::Count(120), Confirmation::All] {
            let judgment = breaker.judge(&big, 130, &|_| Some(c), None);
            assert!(judgment.held.iter().all(|h| !h), "{c}");
            assert_eq!(judgment.confirmed, BTreeMap::from([(Some("a".to_owned()), (120, c))]));
        }

        // Two resources: a's confirmation releases a's part; b's 30 alone are still too many.
        let two = owners(&[(Some("a"), 70), (Some("b"), 30)]);
        let only_a = |uid: &str| (uid == "a").then_some(Confirmation::All);
        let judgment = breaker.judge(&two, 100, &only_a, None);
        assert_eq!(held_by(&judgment), [(Some("b"), 30)]);
        assert!(judgment.held[..70].iter().all(|h| !h) && judgment.held[70..].iter().all(|h| *h));
        // ... and b's 10 alone are few enough to go with it.
        let two = owners(&[(Some("a"), 90), (Some("b"), 10)]);
        let judgment = breaker.judge(&two, 100, &only_a, None);
        assert!(judgment.held.iter().all(|h| !h));
        assert_eq!(judgment.confirmed.len(), 1);

        // Unknown provenance counts against the breaker while a known part is unconfirmed ...
        let mixed = owners(&[(Some("a"), 50), (None, 40), (Some("b"), 10)]);
        let judgment = breaker.judge(&mixed, 100, &only_a, None);
        assert_eq!(held_by(&judgment), [(None, 40), (Some("b"), 10)]);
        // ... and goes with the pass once every known part is confirmed.
        let judgment = breaker.judge(&mixed, 100, &|_| Some(Confirmation::All), None);
        assert!(judgment.held.iter().all(|h| !h));
        // A pass of unknown provenance alone is confirmed by the instance only, by as many.
        let unknown = owners(&[(None, 40)]);
        assert_eq!(held_by(&breaker.judge(&unknown, 100, &|_| Some(Confirmation::All), None)), [(None, 40)]);
        let fewer = Some(Confirmation::Count(39));
        assert_eq!(held_by(&breaker.judge(&unknown, 100, &none, fewer)), [(None, 40)]);
        let judgment = breaker.judge(&unknown, 100, &none, Some(Confirmation::Count(40)));
        assert!(judgment.held.iter().all(|h| !h));
        assert_eq!(judgment.confirmed, BTreeMap::from([(None, (40, Confirmation::Count(40)))]));
        // The instance's confirmation releases the unknown part only.
        let judgment = breaker.judge(&mixed, 100, &none, Some(Confirmation::All));
        assert_eq!(held_by(&judgment), [(Some("a"), 50), (Some("b"), 10)]);
        // A confirmation is not needed, so not used, when the pass is small enough.
        assert!(breaker.judge(&owners(&[(Some("a"), 20)]), 1000, &only_a, None).confirmed.is_empty());
    }

    use super::*;

    #[test]
    fn the_breaker_trips_above_the_share_from_the_minimum_count() {
        let breaker = Breaker::default();
        let held = |deletes, owned| Assessment::Held { deletes, owned };
        let cases = [
            ("a quarter exactly proceeds", 25, 100, None, Assessment::Proceed),
            ("one more than a quarter is held", 26, 100, None, held(26, 100)),
            ("below the minimum count proceeds", 19, 20, None, Assessment::Proceed),
            ("at the minimum count, above the share, is held", 20, 20, None, held(20, 20)),
            ("everything owned, deleted at once, is held", 100, 100, None, held(100, 100)),
            ("a confirmation of as many releases", 100, 100, Some(100), Assessment::Proceed),
            ("a confirmation of more releases", 100, 100, Some(150), Assessment::Proceed),
            ("a confirmation of fewer holds", 101, 100, Some(100), held(101, 100)),
            ("nothing owned, nothing to delete", 0, 0, None, Assessment::Proceed),
        ];
        for (name, deletes, owned, confirmed, want) in cases {
            assert_eq!(breaker.assess(deletes, owned, confirmed), want, "{name}");
        }
        let off = Breaker { max_share_percent: 100, min_deletions: 0 };
        assert_eq!(off.assess(1000, 1000, None), Assessment::Proceed, "100% switches it off");
        let strict = Breaker { max_share_percent: 0, min_deletions: 1 };
        assert_eq!(strict.assess(1, 1000, None), held(1, 1000), "0% holds every deletion");
        assert_eq!(strict.assess(0, 1000, None), Assessment::Proceed);
    }

    #[test]
    fn settings_default_and_refuse_more_than_everything() {
        assert_eq!(BreakerFile::default().validate(), Ok(Breaker::default()));
        let file: BreakerFile = serde_yaml_ng::from_str("maxSharePercent: 10\nminDeletions: 5\n").unwrap();
        assert_eq!(file.validate(), Ok(Breaker { max_share_percent: 10, min_deletions: 5 }));
        let err = BreakerFile { max_share_percent: Some(101), ..Default::default() }.validate().unwrap_err();
        assert_eq!(err.to_string(), "101 is above 100");
        assert!(serde_yaml_ng::from_str::<BreakerFile>("maxShare: 10\n").is_err(), "unknown keys are refused");
    }
}
