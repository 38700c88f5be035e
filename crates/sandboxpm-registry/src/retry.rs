//! When to try again, and after how long.
//!
//! Registries and their CDNs fail transiently all the time (a deploy, a rate limit, a reset
//! connection), and an install of hundreds of packages hits every such blip. We retry what can
//! succeed on a second try — connect errors, timeouts, `5xx`, `429` — and nothing else: a `4xx`
//! is an answer, and asking again only delays the error.
//!
//! Delays grow exponentially with "equal jitter" (a random point in the upper half of the
//! window) so that many clients failing together do not come back together, while a retry
//! never comes sooner than half the planned delay. A server's `Retry-After` wins, capped.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::options::RetryPolicy;

/// Whether a response status is worth another try.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// Whether a transport error is worth another try.
pub(crate) fn is_retryable_error(error: &reqwest::Error) -> bool {
    // A builder error (a URL the client cannot use) or a redirect error will not fix itself;
    // connect, timeout and mid-body errors may.
    !error.is_builder() && !error.is_redirect() && !error.is_status()
}

/// The delay before retry number `retry` (0 for the first retry).
pub(crate) fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let planned = policy
        .min_delay
        .saturating_mul(2u32.saturating_pow(retry))
        .min(policy.max_delay);
    let half = planned / 2;
    let spread = u64::try_from((planned - half).as_nanos()).unwrap_or(u64::MAX);
    let jitter = if spread == 0 {
        0
    } else {
        random_u64() % (spread + 1)
    };
    half + Duration::from_nanos(jitter)
}

/// The delay a server asked for with `Retry-After` (seconds or an HTTP date), capped.
pub(crate) fn retry_after(policy: &RetryPolicy, headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let when = httpdate::parse_http_date(value).ok()?;
            when.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(policy.max_retry_after))
}

/// A random number for jitter. `RandomState` is randomly keyed per process and per instance,
/// which is plenty for spreading retries and saves a dependency.
fn random_u64() -> u64 {
    RandomState::new().hash_one(std::time::Instant::now())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use reqwest::header::HeaderValue;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            retries: 5,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let p = policy();
        for _ in 0..50 {
            let first = backoff(&p, 0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff(&p, 2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = backoff(&p, 20);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn retry_after_seconds_and_date_are_capped() {
        let p = policy();
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&p, &h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("99999"));
        assert_eq!(retry_after(&p, &h), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&past).unwrap());
        assert_eq!(retry_after(&p, &h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&p, &h), None);
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        assert!(is_retryable_status(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(is_retryable_status(StatusCode::BAD_GATEWAY));
        assert!(is_retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(!is_retryable_status(StatusCode::NOT_FOUND));
        assert!(!is_retryable_status(StatusCode::FORBIDDEN));
        assert!(!is_retryable_status(StatusCode::BAD_REQUEST));
    }
}
