//! Options of [`open_url`](crate::open_url) and [`ObjectStoreKv`](crate::ObjectStoreKv).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::runtime::IoRuntime;

/// Smallest part S3 and GCS accept in a multipart upload (except the last part).
pub const MIN_PART_SIZE: usize = 5 << 20;

/// Default part size of multipart uploads: large enough for few requests, small enough that
/// a few parts in flight stay cheap in memory.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;

/// How transient failures are retried.
///
/// Each HTTP request is retried by `object_store` (server errors, throttling, connection
/// failures, and timeouts of idempotent requests) up to `max_retries` times, with exponential
/// backoff from `initial_backoff` up to `max_backoff` (with jitter), for at most `timeout`
/// from the first attempt. On top of that, an idempotent operation (read, list, delete, a
/// plain write) that failed transiently without its request having been retried (e.g. a
/// connection lost while reading a response body) is tried again up to `operation_retries`
/// times. What still fails is an [`Error::Transient`](crate::Error::Transient) with the
/// number of attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySettings {
    /// Retries of one HTTP request (0 disables them).
    pub max_retries: usize,
    /// Pause before the first retry.
    pub initial_backoff: Duration,
    /// Longest pause between retries.
    pub max_backoff: Duration,
    /// No retry starts later than this after the first attempt of a request.
    pub timeout: Duration,
    /// Retries of a whole idempotent operation, see above.
    pub operation_retries: u32,
}

impl Default for RetrySettings {
    /// `object_store`'s defaults: 10 retries, 100 ms doubling up to 15 s, within 3 minutes.
    fn default() -> Self {
        Self {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            timeout: Duration::from_secs(180),
            operation_retries: 2,
        }
    }
}

impl RetrySettings {
    pub(crate) fn to_object_store(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: self.initial_backoff,
                max_backoff: self.max_backoff,
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.timeout,
        }
    }
}

/// Options of a store opened by [`open_url`](crate::open_url).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `object_store` configuration keys and values, case-insensitive, e.g.
    /// `aws_access_key_id`, `aws_secret_access_key`, `aws_region`, `aws_endpoint`,
    /// `aws_allow_http`, `google_service_account`, `azure_storage_account_name`, or client
    /// options such as `timeout`. They override the environment. A key the URL's store does
    /// not know is an error (a misspelled credential would otherwise be ignored); local
    /// directories and memory stores take no configuration and ignore this.
    pub config: BTreeMap<String, String>,
    /// Read the store's configuration from the environment first (`AWS_*`, `GOOGLE_*`,
    /// `AZURE_*` variables, as `object_store`'s `from_env` builders do). Default: true.
    pub use_env: bool,
    /// Retries of transient failures.
    pub retry: RetrySettings,
    /// Bytes per part of multipart uploads (appendable values). S3 and GCS need at least
    /// [`MIN_PART_SIZE`]. Default: [`DEFAULT_PART_SIZE`].
    pub part_size: usize,
    /// Parts of one upload sent concurrently. Default: 4.
    pub max_parts_in_flight: usize,
    /// The runtime running the I/O; default: [`IoRuntime::shared`].
    pub runtime: Option<IoRuntime>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            config: BTreeMap::new(),
            use_env: true,
            retry: RetrySettings::default(),
            part_size: DEFAULT_PART_SIZE,
            max_parts_in_flight: 4,
            runtime: None,
        }
    }
}

impl StoreOptions {
    /// Default options with these `object_store` configuration entries.
    pub fn with_config<K, V>(entries: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            config: entries
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..Self::default()
        }
    }
}

/// Keys of [`StoreOptions::from_entries`] that tune retries instead of configuring the store.
const RETRY_KEYS: [&str; 5] = [
    "retry_max_retries",
    "retry_initial_backoff_ms",
    "retry_max_backoff_ms",
    "retry_timeout_ms",
    "retry_operation_retries",
];

impl StoreOptions {
    /// Options from `key → value` entries as users pass them (JS `storageOptions`): the
    /// `retry_*` keys (`retry_max_retries`, `retry_initial_backoff_ms`, `retry_max_backoff_ms`,
    /// `retry_timeout_ms`, `retry_operation_retries`) set [`RetrySettings`]; every other entry
    /// is `object_store` configuration. `url` names the store in errors.
    pub fn from_entries<I, K, V>(url: &str, entries: I) -> crate::Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut options = Self::default();
        for (key, value) in entries {
            let (key, value) = (key.into(), value.into());
            let lower = key.to_ascii_lowercase();
            if !RETRY_KEYS.contains(&lower.as_str()) {
                options.config.insert(key, value);
                continue;
            }
            let number: u64 = value
                .trim()
                .parse()
                .map_err(|_| crate::Error::InvalidOption {
                    url: url.to_owned(),
                    key: key.clone(),
                    reason: format!("expected a non-negative integer, got {value:?}"),
                })?;
            let retry = &mut options.retry;
            match lower.as_str() {
                "retry_max_retries" => retry.max_retries = number as usize,
                "retry_initial_backoff_ms" => retry.initial_backoff = Duration::from_millis(number),
                "retry_max_backoff_ms" => retry.max_backoff = Duration::from_millis(number),
                "retry_timeout_ms" => retry.timeout = Duration::from_millis(number),
                _ => retry.operation_retries = u32::try_from(number).unwrap_or(u32::MAX),
            }
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_keys_tune_retries_and_the_rest_configures_the_store() {
        let options = StoreOptions::from_entries(
            "s3://b",
            [
                ("aws_region", "eu-west-1"),
                ("RETRY_MAX_RETRIES", "2"),
                ("retry_initial_backoff_ms", "5"),
                ("retry_max_backoff_ms", "20"),
                ("retry_timeout_ms", "1000"),
                ("retry_operation_retries", "0"),
            ],
        )
        .unwrap();
        assert_eq!(
            options.config.into_iter().collect::<Vec<_>>(),
            vec![("aws_region".to_string(), "eu-west-1".to_string())]
        );
        assert_eq!(
            options.retry,
            RetrySettings {
                max_retries: 2,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
                timeout: Duration::from_secs(1),
                operation_retries: 0,
            }
        );
        let err =
            StoreOptions::from_entries("s3://b", [("retry_max_retries", "many")]).unwrap_err();
        assert_eq!(err.code(), "ERR_STORE_INVALID_OPTION");
        assert_eq!(
            err.to_string(),
            "invalid storage option \"retry_max_retries\" for s3://b: expected a non-negative integer, got \"many\""
        );
    }
}
