//! The resync: every cached Rollout is reconciled once per period (`--resync`), each at its
//! own moment in the period (a hash of its namespace and name), so that rollouts that
//! converged together do not resync in one burst. One timer serves them all: a Rollout at
//! rest holds no timer of its own in the controller's scheduler (10,000 of them took ~20 MB).

use std::hash::Hasher;
use std::time::Duration;

use futures_util::StreamExt;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio_stream::wrappers::IntervalStream;

use super::cached::CachedRollout;

/// How often the timer looks for Rollouts whose moment has come.
const TICK: Duration = Duration::from_secs(1);

/// The shortest period honoured: a shorter one (`--resync 0s`) would spin.
const SHORTEST: Duration = Duration::from_millis(100);

/// A Rollout's moment in the period: fixed per Rollout, spread evenly over the period.
pub fn offset(period: Duration, namespace: &str, name: &str) -> Duration {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(namespace.as_bytes());
    hasher.write(&[0]);
    hasher.write(name.as_bytes());
    let share = u32::try_from(hasher.finish() % 1024).unwrap_or(0);
    period.mul_f64(f64::from(share) / 1024.0)
}

/// Whether a moment `offset` into the period falls in the stretch of time `(from, to]`
/// since the timer started.
pub fn due(period: Duration, from: Duration, to: Duration, offset: Duration) -> bool {
    if to.saturating_sub(from) >= period {
        return true;
    }
    let period = period.as_nanos();
    let (from, to, offset) = (
        from.as_nanos() % period,
        to.as_nanos() % period,
        offset.as_nanos() % period,
    );
    if from < to {
        from < offset && offset <= to
    } else {
        offset > from || offset <= to
    }
}

/// The Rollouts to reconcile, as their moments come: each cached Rollout once per `period`.
pub fn resyncs(
    store: Store<CachedRollout>,
    period: Duration,
) -> impl futures_util::Stream<Item = ObjectRef<CachedRollout>> + Send {
    let period = period.max(SHORTEST);
    let tick = TICK.min(period);
    let start = tokio::time::Instant::now();
    IntervalStream::new(tokio::time::interval_at(start + tick, tick)).flat_map(move |at| {
        let to = at.saturating_duration_since(start);
        let from = to.saturating_sub(tick);
        let due: Vec<ObjectRef<CachedRollout>> = store
            .state()
            .iter()
            .filter(|rollout| {
                let meta = rollout.meta();
                let namespace = meta.namespace.as_deref().unwrap_or_default();
                let name = meta.name.as_deref().unwrap_or_default();
                due(period, from, to, offset(period, namespace, name))
            })
            .map(|rollout| ObjectRef::from_obj(rollout.as_ref()))
            .collect();
        futures_util::stream::iter(due)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_spread_over_the_period_and_stay_put_per_rollout() {
        let period = Duration::from_secs(300);
        let moments: Vec<Duration> = (0..1000)
            .map(|n| offset(period, "shop", &format!("web-{n}")))
            .collect();
        assert!(moments.iter().all(|m| *m < period));
        let earliest = moments.iter().min().copied().unwrap_or_default();
        let latest = moments.iter().max().copied().unwrap_or_default();
        assert!(
            latest - earliest > Duration::from_secs(240),
            "{earliest:?}..{latest:?}"
        );
        assert_eq!(
            offset(period, "shop", "web-1"),
            offset(period, "shop", "web-1")
        );
    }

    #[test]
    fn each_moment_is_due_once_per_period_whatever_the_ticks() {
        let period = Duration::from_secs(10);
        for tick_ms in [1000u64, 300, 7000, 10_000, 25_000] {
            let tick = Duration::from_millis(tick_ms);
            for offset_ms in [0u64, 1, 999, 1000, 5500, 9999] {
                let moment = Duration::from_millis(offset_ms);
                let mut times = 0u128;
                let mut to = Duration::ZERO;
                // Ten periods of ticks, the last one cut short at the tenth period's end.
                while to < period * 10 {
                    let from = to;
                    to = (to + tick).min(period * 10);
                    if due(period, from, to, moment) {
                        times += 1;
                    }
                }
                // A tick as long as the period finds every Rollout due at every tick.
                let expected = if tick >= period {
                    (period * 10).as_millis().div_ceil(tick.as_millis())
                } else {
                    10
                };
                assert_eq!(times, expected, "tick {tick:?}, moment {moment:?}");
            }
        }
    }
}
