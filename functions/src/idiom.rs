//! The two idioms every step is written in: "find or create" and "poll once".

use std::future::Future;

use crate::error::StepError;

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
}
