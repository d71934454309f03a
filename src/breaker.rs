//! The deletion circuit breaker: whether a pass that deletes many owned entries at once may
//! proceed, or waits for a person to confirm it.
//!
//! A pass trips the breaker when it would delete at least `minDeletions` owned entries and more
//! than `maxSharePercent` of the entries the operator owns. A tripped pass deletes nothing (its
//! creates and updates still go); a confirmation of at least as many deletions releases it.

use serde::Deserialize;

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

#[cfg(test)]
mod tests {
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
