//! How the operator waits before trying SPIRE again: one bounded, jittered exponential backoff,
//! shared by start-up, the index load and the worker's writes.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// The first delay.
pub const FIRST: Duration = Duration::from_millis(200);
/// The longest delay before jitter; jitter adds up to as much again, so no wait exceeds twice
/// this. Failed calls against an unreachable SPIRE return at once, so short waits cost little,
/// and work resumes within about this long of SPIRE answering again.
pub const LONGEST: Duration = Duration::from_secs(1);

/// An endless series of delays from [`FIRST`] doubling up to [`LONGEST`], each with random
/// jitter so that replicas and retries do not call in step.
pub fn backoff() -> impl Iterator<Item = Duration> + Send {
    ExponentialBuilder::default()
        .with_min_delay(FIRST)
        .with_max_delay(LONGEST)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_bounded() {
        let delays: Vec<Duration> = backoff().take(50).collect();
        assert_eq!(delays.len(), 50, "the series does not end");
        assert!(delays[0] >= FIRST && delays[0] <= FIRST * 2, "{:?}", delays[0]);
        assert!(delays.iter().all(|d| *d <= LONGEST * 2), "{delays:?}");
        assert!(delays[10..].iter().all(|d| *d >= LONGEST), "settles at the bound: {delays:?}");
    }
}
