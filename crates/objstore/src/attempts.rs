//! Counting the HTTP requests of one operation, to report how often a failing request was
//! tried and how it last failed.
//!
//! `object_store` retries HTTP requests itself (its `RetryConfig`) but does not expose how
//! many attempts a failed request took, nor (publicly) the last HTTP status. Its HTTP stores
//! send every request through an [`HttpService`]; this crate wraps that service so that each
//! request is recorded in the [`Attempts`] of the operation that is being polled (a tokio
//! task-local set around each operation's future).

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use object_store::ClientOptions;

tokio::task_local! {
    static CURRENT: Attempts;
}

/// How the last request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A response with this status.
    Status(http::StatusCode),
    /// No response.
    Transport(HttpErrorKind),
}

#[derive(Debug, Default)]
struct State {
    /// Method and URI of the last request: retries repeat them.
    last_request: Option<(http::Method, String)>,
    /// Consecutive requests with that method and URI.
    count: u32,
    outcome: Option<Outcome>,
}

/// The requests of one operation, as seen by the HTTP layer. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub(crate) struct Attempts(Arc<Mutex<State>>);

impl Attempts {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `future` with its HTTP requests recorded here.
    pub(crate) async fn track<F: std::future::Future>(&self, future: F) -> F::Output {
        CURRENT.scope(self.clone(), future).await
    }

    /// Attempts of the last request (retries of one request repeat its method and URI).
    pub(crate) fn count(&self) -> u32 {
        self.state().count
    }

    /// How the last request ended, if any request was made.
    pub(crate) fn last_outcome(&self) -> Option<Outcome> {
        self.state().outcome
    }

    fn begin(&self, method: &http::Method, uri: String) {
        let mut state = self.state();
        let same = state
            .last_request
            .as_ref()
            .is_some_and(|(m, u)| m == method && *u == uri);
        if same {
            state.count += 1;
        } else {
            state.last_request = Some((method.clone(), uri));
            state.count = 1;
        }
        state.outcome = None;
    }

    fn end(&self, outcome: Outcome) {
        self.state().outcome = Some(outcome);
    }
}

/// An [`HttpConnector`] building `object_store`'s usual reqwest client, wrapped to record
/// requests in the current operation's [`Attempts`].
#[derive(Debug, Default)]
pub(crate) struct CountingConnector;

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector {}.connect(options)?;
        Ok(HttpClient::new(CountingService { inner }))
    }
}

#[derive(Debug)]
struct CountingService {
    inner: HttpClient,
}

#[async_trait]
impl HttpService for CountingService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let attempts = CURRENT.try_with(Attempts::clone).ok();
        if let Some(attempts) = &attempts {
            attempts.begin(request.method(), request.uri().to_string());
        }
        let result = self.inner.execute(request).await;
        if let Some(attempts) = &attempts {
            attempts.end(match &result {
                Ok(response) => Outcome::Status(response.status()),
                Err(error) => Outcome::Transport(error.kind()),
            });
        }
        result
    }
}
