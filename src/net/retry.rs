//! The one retry policy: which failures are worth another attempt (`Transient`,
//! `transient_status`), how many attempts (`ATTEMPTS`) and how long to wait between them
//! (`delay`). `COMPOSE_TEST_NO_RETRY_DELAY` (any non-empty value) makes every wait zero, so
//! tests that inject faults run fast; the attempts are the same.

use std::future::Future;
use std::time::Duration;

/// Attempts of one operation, the first included.
pub const ATTEMPTS: u32 = 4;

/// The variable that makes every retry delay zero (for tests).
pub const NO_DELAY_VAR: &str = "COMPOSE_TEST_NO_RETRY_DELAY";

/// A failure that may not happen again: the connection failed or was cut, or the server
/// answered with a `transient_status`.
pub trait Transient {
    fn transient(&self) -> bool;
}

/// A connection that could not be made or broke off.
impl Transient for reqwest::Error {
    fn transient(&self) -> bool {
        true
    }
}

/// HTTP statuses worth a retry: a timeout (408), too many requests (429), a server error.
pub fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// The wait after the `failed`-th failed attempt (1, 2, ...): `backoff`, or nothing when
/// `COMPOSE_TEST_NO_RETRY_DELAY` is set.
pub fn delay(failed: u32) -> Duration {
    let no_delay = std::env::var_os(NO_DELAY_VAR).is_some_and(|v| !v.is_empty());
    if no_delay {
        Duration::ZERO
    } else {
        backoff(failed)
    }
}

/// 250 ms after the first failure, doubling after each next one.
pub fn backoff(failed: u32) -> Duration {
    Duration::from_millis(250 << failed.saturating_sub(1).min(6))
}

/// `op` until it succeeds, fails for good, or `ATTEMPTS` attempts failed; the last error.
pub async fn retry<T, E, F, Fut>(op: F) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_waiting(op, delay).await
}

async fn retry_waiting<T, E, F, Fut>(mut op: F, wait: fn(u32) -> Duration) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut failed = 0;
    loop {
        match op().await {
            Err(e) if e.transient() && failed + 1 < ATTEMPTS => {
                failed += 1;
                tokio::time::sleep(wait(failed)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fail(bool);

    impl Transient for Fail {
        fn transient(&self) -> bool {
            self.0
        }
    }

    fn attempts(transient: bool) -> u32 {
        let mut n = 0;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let op = || {
            n += 1;
            async move { Err::<(), _>(Fail(transient)) }
        };
        let r = rt.block_on(retry_waiting(op, |_| Duration::ZERO));
        assert!(r.is_err());
        n
    }

    #[test]
    fn transient_failures_are_tried_again_up_to_the_limit() {
        assert_eq!(attempts(true), ATTEMPTS);
        assert_eq!(attempts(false), 1);
    }

    #[test]
    fn delays_double() {
        let ms: Vec<u128> = (1..ATTEMPTS).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(ms, [250, 500, 1000]);
    }

    #[test]
    fn statuses() {
        for s in [408, 429, 500, 503, 599] {
            assert!(transient_status(s), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 416] {
            assert!(!transient_status(s), "{s}");
        }
    }
}
