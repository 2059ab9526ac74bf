//! Retrying registry requests that failed in a way worth another try (a dropped connection, a
//! 5xx, a 429): pull and push share the attempts and the back-off.

use std::time::Duration;

use super::RegistryError;

/// Attempts of one request, the first included.
pub const MAX_ATTEMPTS: u32 = 5;

/// The pause before attempt `attempt + 1`: 400 ms doubling, at most 6.4 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.min(5)))
}

/// `call` until it succeeds, fails for good, or has had [`MAX_ATTEMPTS`].
pub async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RegistryError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}
