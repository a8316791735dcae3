//! The idioms every step is written in: "find or create", "poll once", and watching a
//! young wait inside the invocation before the state's Retry polls it.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::StepError;
use crate::looks::{time_scale, watch_again};
use crate::state::now_epoch_ms;

/// What a mutating step returns about the resource it is responsible for.
#[derive(Debug, Clone, PartialEq)]
pub struct Ensured<T> {
    pub value: T,
    /// False when an earlier run (or a concurrent Map iteration) had created it.
    pub created: bool,
}

/// Looks for the resource (by tag, deterministic name or token) and creates it only when
/// it is not there. `create` answers `Ok(None)` when AWS reports a duplicate (another run
/// won a race): then it is looked up again instead of failing.
pub async fn find_or_create<T, F, FF, C, CF>(
    what: &str,
    find: F,
    create: C,
) -> Result<Ensured<T>, StepError>
where
    F: Fn() -> FF,
    FF: Future<Output = Result<Option<T>, StepError>>,
    C: FnOnce() -> CF,
    CF: Future<Output = Result<Option<T>, StepError>>,
{
    if let Some(value) = find().await? {
        tracing::info!(what, "found from an earlier run");
        return Ok(Ensured {
            value,
            created: false,
        });
    }
    if let Some(value) = create().await? {
        tracing::info!(what, "created");
        return Ok(Ensured {
            value,
            created: true,
        });
    }
    match find().await? {
        Some(value) => Ok(Ensured {
            value,
            created: false,
        }),
        None => Err(StepError::conflict(format!(
            "{what}: AWS reports it exists but it cannot be found by its carveout tag; remove or tag it"
        ))),
    }
}

/// One observation of a resource that becomes ready over time.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll<T> {
    Ready(T),
    /// Still in progress; the text says in which state.
    Pending(String),
    /// AWS reports a terminal failure.
    Failed(String),
}

impl<T> Poll<T> {
    /// The same observation with the ready value turned into another.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Poll<U> {
        match self {
            Poll::Ready(v) => Poll::Ready(f(v)),
            Poll::Pending(s) => Poll::Pending(s),
            Poll::Failed(s) => Poll::Failed(s),
        }
    }
}

/// Turns one observation into the step's answer: the value, `CarveOut.NotReady` (the
/// state's Retry polls again) or `CarveOut.ResourceFailed`.
pub fn poll_once<T>(what: &str, observed: Poll<T>) -> Result<T, StepError> {
    match observed {
        Poll::Ready(value) => Ok(value),
        Poll::Pending(state) => {
            tracing::info!(what, state, "not ready yet");
            Err(StepError::NotReady(format!("{what} is {state}")))
        }
        Poll::Failed(reason) => Err(StepError::ResourceFailed(format!(
            "{what} failed: {reason}"
        ))),
    }
}

/// Runs `attempt` (one look, usually `poll_once` over one read) and, while it answers
/// `CarveOut.NotReady` and the wait is young, sleeps and runs it again inside this
/// invocation ([`crate::looks::watch_again`]); otherwise answers what the last attempt
/// did, so the state's Retry polls on. `since_ms`: when the wait began (epoch ms, from the
/// step that started the work); None (a state from before it was recorded) never watches.
///
/// A short wait (peering, a share, a stop: seconds) then costs one transition and the
/// seconds watched, instead of a Retry poll every few seconds.
pub async fn watching<T, F, Fut>(since_ms: Option<u64>, attempt: F) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StepError>>,
{
    watching_scaled(time_scale(), since_ms, attempt).await
}

async fn watching_scaled<T, F, Fut>(
    scale: f64,
    since_ms: Option<u64>,
    mut attempt: F,
) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StepError>>,
{
    let started = Instant::now();
    let mut slept = 0;
    loop {
        let answer = attempt().await;
        let Err(StepError::NotReady(_)) = &answer else {
            return answer;
        };
        // The watch counts the reads' own time too: nominal sleeps locally, the wall clock
        // on AWS, whichever is more.
        let watched = slept.max(started.elapsed().as_secs());
        // A start in the future (a clock far off) is no start: the Retry polls.
        let now = now_epoch_ms();
        let again = since_ms
            .filter(|since| *since <= now + 60_000)
            .and_then(|since| watch_again(now.saturating_sub(since) / 1000, watched));
        let Some(every) = again else {
            return answer;
        };
        tokio::time::sleep(Duration::from_secs_f64(every as f64 * scale)).await;
        slept += every;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn an_existing_resource_is_returned_without_creating() {
        let created = AtomicUsize::new(0);
        let got = find_or_create(
            "x",
            || async { Ok(Some(7)) },
            || async {
                created.fetch_add(1, Ordering::SeqCst);
                Ok(Some(8))
            },
        )
        .await
        .unwrap();
        assert_eq!(
            got,
            Ensured {
                value: 7,
                created: false
            }
        );
        assert_eq!(created.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_lost_race_finds_the_winner() {
        let finds = AtomicUsize::new(0);
        let got = find_or_create(
            "x",
            || {
                let n = finds.fetch_add(1, Ordering::SeqCst);
                async move { Ok(if n == 0 { None } else { Some(9) }) }
            },
            || async { Ok(None) },
        )
        .await
        .unwrap();
        assert_eq!(
            got,
            Ensured {
                value: 9,
                created: false
            }
        );
    }

    #[test]
    fn polls_map_to_design_errors() {
        assert_eq!(poll_once("a", Poll::Ready(1)), Ok(1));
        assert_eq!(
            poll_once::<()>("image ami-1", Poll::Pending("pending".into()))
                .unwrap_err()
                .name(),
            "CarveOut.NotReady"
        );
        assert_eq!(
            poll_once::<()>("a", Poll::Failed("x".into()))
                .unwrap_err()
                .name(),
            "CarveOut.ResourceFailed"
        );
    }

    #[tokio::test]
    async fn a_young_wait_is_watched_until_ready_and_an_unknown_one_is_left_to_the_retry() {
        let reads = AtomicUsize::new(0);
        let pending_twice = || {
            let n = reads.fetch_add(1, Ordering::SeqCst);
            async move {
                poll_once(
                    "x",
                    if n < 2 {
                        Poll::Pending("pending".into())
                    } else {
                        Poll::Ready(n)
                    },
                )
            }
        };
        let young = Some(now_epoch_ms());
        assert_eq!(watching_scaled(0.0, young, pending_twice).await, Ok(2));
        assert_eq!(reads.load(Ordering::SeqCst), 3);

        reads.store(0, Ordering::SeqCst);
        let unknown = watching_scaled(0.0, None, pending_twice).await;
        assert_eq!(unknown.unwrap_err().name(), "CarveOut.NotReady");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_old_wait_reads_once_and_a_failure_is_never_watched() {
        let reads = AtomicUsize::new(0);
        let old = Some(now_epoch_ms() - 1000 * crate::looks::WATCH_WHILE_YOUNGER_THAN);
        let pending = || {
            reads.fetch_add(1, Ordering::SeqCst);
            async { poll_once::<()>("x", Poll::Pending("pending".into())) }
        };
        assert!(watching_scaled(0.0, old, pending).await.is_err());
        assert_eq!(reads.load(Ordering::SeqCst), 1);

        reads.store(0, Ordering::SeqCst);
        let failed = || {
            reads.fetch_add(1, Ordering::SeqCst);
            async { poll_once::<()>("x", Poll::Failed("failed".into())) }
        };
        let err = watching_scaled(0.0, Some(now_epoch_ms()), failed).await;
        assert_eq!(err.unwrap_err().name(), "CarveOut.ResourceFailed");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_young_wait_that_never_ends_stops_watching_within_the_budget() {
        let reads = AtomicUsize::new(0);
        let pending = || {
            reads.fetch_add(1, Ordering::SeqCst);
            async { poll_once::<()>("x", Poll::Pending("pending".into())) }
        };
        assert!(
            watching_scaled(0.0, Some(now_epoch_ms()), pending)
                .await
                .is_err()
        );
        // Age stays near 0 (no real sleep): every sleep is the 2 s cadence, until the budget.
        let n = reads.load(Ordering::SeqCst) as u64;
        assert_eq!(n, crate::looks::WATCH_BUDGET_SECONDS / 2 + 1);
    }
}
