//! The conformance suite over memory, a local directory and S3 (moto on loopback), retries
//! and typed errors under injected faults, and `open_url`'s parsing.

mod support;

use std::time::Duration;

use orbax_kvstore::{ReadableStore, WritableStore};
use orbax_objstore::{open_url, Error, Operation, RetrySettings, StoreOptions, MIN_PART_SIZE};
use support::proxy::FaultProxy;
use support::{conformance, objstore_error, Expect};

/// Fast retries for tests: 3 retries, 10 ms doubling to 40 ms.
fn quick_retries() -> RetrySettings {
    RetrySettings {
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        timeout: Duration::from_secs(20),
        operation_retries: 2,
    }
}

/// Options for an S3-compatible endpoint on loopback, ignoring the environment.
fn s3_options(port: u16) -> StoreOptions {
    let mut options = StoreOptions::with_config([
        ("aws_access_key_id", "test".to_owned()),
        ("aws_secret_access_key", "test".to_owned()),
        ("aws_region", "us-east-1".to_owned()),
        ("aws_endpoint", format!("http://127.0.0.1:{port}")),
        ("aws_allow_http", "true".to_owned()),
    ]);
    options.use_env = false;
    options.retry = quick_retries();
    options.part_size = MIN_PART_SIZE;
    options
}

fn small_parts() -> StoreOptions {
    StoreOptions {
        part_size: 1000,
        max_parts_in_flight: 2,
        retry: quick_retries(),
        ..StoreOptions::default()
    }
}

#[test]
fn memory_store_conforms() {
    let store = open_url("memory://conformance/some/prefix", &small_parts()).unwrap();
    assert_eq!(store.location(), "memory://conformance/some/prefix");
    conformance(
        &store,
        &Expect {
            conditional_update: true,
            part_size: 1000,
            key_can_be_a_directory: true,
        },
    );
}

#[test]
fn memory_stores_are_shared_by_name_and_isolated_by_prefix() {
    let options = StoreOptions::default();
    let a = open_url("memory://shared-by-name/p1", &options).unwrap();
    let a_again = open_url("memory://shared-by-name/p1", &options).unwrap();
    let b = open_url("memory://shared-by-name/p2", &options).unwrap();
    let root = open_url("memory://shared-by-name", &options).unwrap();
    a.write(b"k", b"v").unwrap();
    assert_eq!(a_again.read(b"k", None).unwrap().unwrap(), &b"v"[..]);
    assert!(b.read(b"k", None).unwrap().is_none());
    assert_eq!(root.list_prefix(b"").unwrap(), [&b"p1/k"[..]]);
    let child = root.child("p1").unwrap();
    assert_eq!(child.location(), "memory://shared-by-name/p1");
    assert_eq!(child.read(b"k", None).unwrap().unwrap(), &b"v"[..]);
    assert!(orbax_objstore::drop_memory_store("shared-by-name"));
    let fresh = open_url("memory://shared-by-name/p1", &options).unwrap();
    assert!(fresh.read(b"k", None).unwrap().is_none());
    // An unnamed memory store is private.
    let private = open_url("memory://", &options).unwrap();
    private.write(b"k", b"v").unwrap();
    assert!(open_url("memory://", &options)
        .unwrap()
        .read(b"k", None)
        .unwrap()
        .is_none());
}

#[test]
fn local_directory_conforms_and_holds_plain_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ckpt");
    let store = open_url(root.to_str().unwrap(), &small_parts()).unwrap();
    assert_eq!(store.location(), root.display().to_string());
    conformance(
        &store,
        &Expect {
            conditional_update: false,
            part_size: 1000,
            key_can_be_a_directory: false,
        },
    );
    // Keys are files under the directory, readable by anything (TensorStore, Orbax).
    assert_eq!(std::fs::read(root.join("r/v")).unwrap(), b"hello");
    assert_eq!(
        std::fs::metadata(root.join("d/big")).unwrap().len(),
        2 * 1000 + 12_345
    );
    // The same directory through a file:// URL.
    let url = format!("file://{}", root.display());
    let by_url = open_url(&url, &StoreOptions::default()).unwrap();
    assert_eq!(by_url.read(b"r/v", None).unwrap().unwrap(), &b"hello"[..]);
    // A directory that does not exist yet holds no keys.
    let missing = open_url(dir.path().join("none").to_str().unwrap(), &small_parts()).unwrap();
    assert!(missing.list_prefix(b"").unwrap().is_empty());
    assert!(missing.read(b"x", None).unwrap().is_none());
}

#[test]
fn s3_on_moto_conforms_retries_and_reports_typed_errors() {
    let Some(moto) = support::moto::start(&["conformance", "faults"]) else {
        return;
    };
    let options = s3_options(moto.port);
    let store = open_url("s3://conformance/run/one", &options).unwrap();
    assert_eq!(store.location(), "s3://conformance/run/one");
    conformance(
        &store,
        &Expect {
            conditional_update: true,
            part_size: MIN_PART_SIZE,
            key_can_be_a_directory: true,
        },
    );

    // A missing bucket is an error, not an empty store.
    let nowhere = open_url("s3://no-such-bucket/p", &options).unwrap();
    for result in [
        nowhere.read(b"k", None).map(|_| ()),
        nowhere.list_prefix(b"").map(|_| ()),
    ] {
        let err = result.unwrap_err();
        let err = objstore_error(&err);
        assert_eq!(err.code(), "ERR_STORE_BUCKET_NOT_FOUND", "{err}");
        assert!(err.object().starts_with("s3://no-such-bucket/p/"), "{err}");
    }

    configured_by_environment(moto.port);
    injected_faults(moto.port);
}

/// Environment variable telling [`environment_child`] the moto port.
const CHILD_PORT_VAR: &str = "ORBAX_OBJSTORE_TEST_MOTO_PORT";

/// Credentials and endpoint come from `AWS_*` variables, and options override them: checked
/// in a child process (this test binary running [`environment_child`]) so that no test
/// changes the environment of this one.
fn configured_by_environment(port: u16) {
    let unused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "environment_child", "--nocapture"])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        // Wrong on purpose: the child's options override it for the second store.
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{unused_port}"),
        )
        .env(CHILD_PORT_VAR, port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[ignore = "run by s3_on_moto_conforms_retries_and_reports_typed_errors in a child process"]
fn environment_child() {
    let port: u16 = std::env::var(CHILD_PORT_VAR).unwrap().parse().unwrap();
    let from_env = StoreOptions {
        retry: quick_retries(),
        ..StoreOptions::default()
    };
    // The environment's endpoint is unreachable.
    let store = open_url("s3://conformance/env", &from_env).unwrap();
    let err = store.read(b"k", None).unwrap_err();
    assert_eq!(objstore_error(&err).code(), "ERR_STORE_TRANSIENT");
    // An option overrides it; the credentials still come from the environment.
    let mut overridden = from_env.clone();
    overridden
        .config
        .insert("AWS_ENDPOINT".into(), format!("http://127.0.0.1:{port}"));
    let store = open_url("s3://conformance/env", &overridden).unwrap();
    store.write(b"k", b"from env").unwrap();
    assert_eq!(store.read(b"k", None).unwrap().unwrap(), &b"from env"[..]);
}

/// Through a proxy answering chosen requests with errors.
fn injected_faults(moto_port: u16) {
    let proxy = FaultProxy::start(moto_port);
    let store = open_url("s3://faults/p", &s3_options(proxy.port)).unwrap();
    store.write(b"before", b"kept").unwrap();
    proxy.take_requests();

    // Transient errors are retried until they pass.
    proxy.fail_next(2, 503);
    store.write(b"k", b"value").unwrap();
    assert_eq!(proxy.take_requests(), 3);
    proxy.fail_next(3, 500);
    assert_eq!(store.read(b"k", None).unwrap().unwrap(), &b"value"[..]);
    assert_eq!(proxy.take_requests(), 4);
    proxy.fail_next(1, 429);
    assert_eq!(store.list_prefix(b"").unwrap(), [&b"before"[..], b"k"]);
    assert_eq!(proxy.take_requests(), 2);

    // A part of a multipart upload is retried too.
    let data = support::pattern(MIN_PART_SIZE + 10, 3);
    let mut file = store.create_appendable(b"multi").unwrap();
    file.append(&data).unwrap();
    proxy.fail_next(1, 503);
    file.finish().unwrap();
    assert_eq!(store.read(b"multi", None).unwrap().unwrap(), data);

    // A persistent server error surfaces, after every retry, as a typed error naming the
    // object and the attempts.
    proxy.take_requests();
    proxy.fail_always(500);
    let err = store.write(b"k2", b"lost").unwrap_err();
    assert!(matches!(err, orbax_kvstore::Error::Io { .. }), "{err:?}");
    let err = objstore_error(&err);
    match err {
        Error::Transient {
            operation,
            object,
            attempts,
            last,
            ..
        } => {
            assert_eq!(*operation, Operation::Write);
            assert_eq!(object, "s3://faults/p/k2");
            assert_eq!(*attempts, 4);
            assert_eq!(last, "HTTP 500 Internal Server Error");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.code(), "ERR_STORE_TRANSIENT");
    let message = err.to_string();
    assert!(
        message.starts_with("write of s3://faults/p/k2 failed after 4 attempts (HTTP 500"),
        "{message}"
    );
    assert_eq!(proxy.take_requests(), 4);

    proxy.fail_always(503);
    let err = store.read(b"k", Some(0..2)).unwrap_err();
    let err = objstore_error(&err);
    assert!(
        matches!(err, Error::Transient { operation: Operation::Read, attempts: 4, last, .. }
            if last == "HTTP 503 Service Unavailable"),
        "{err:?}"
    );
    let err = store.put_if_absent(b"marker", b"x").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transient {
                operation: Operation::ConditionalWrite,
                attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );

    // Permission errors are not retried.
    proxy.take_requests();
    proxy.fail_always(403);
    let err = store.read(b"k", None).unwrap_err();
    let err = objstore_error(&err);
    assert_eq!(err.code(), "ERR_STORE_PERMISSION_DENIED", "{err}");
    assert!(err
        .to_string()
        .starts_with("read of s3://faults/p/k is not permitted"));
    assert_eq!(proxy.take_requests(), 1);

    // Nothing written before the faults was touched.
    proxy.pass();
    assert_eq!(store.read(b"before", None).unwrap().unwrap(), &b"kept"[..]);
    assert_eq!(store.read(b"k", None).unwrap().unwrap(), &b"value"[..]);
    assert!(store.read(b"k2", None).unwrap().is_none());
    assert!(store.read(b"marker", None).unwrap().is_none());
}

#[test]
fn unreachable_endpoint_is_a_transient_error_after_retries() {
    // A port that was free a moment ago: connections are refused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let store = open_url("s3://bucket/prefix", &s3_options(port)).unwrap();
    let err = store.read(b"a/b", None).unwrap_err();
    let err = objstore_error(&err);
    match err {
        Error::Transient {
            object,
            attempts,
            last,
            ..
        } => {
            assert_eq!(object, "s3://bucket/prefix/a/b");
            assert_eq!(*attempts, 4);
            assert_eq!(last, "connection error");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn open_url_rejects_what_it_cannot_open() {
    let options = StoreOptions::default();
    for (url, code) in [
        ("ftp://host/x", "ERR_STORE_INVALID_URL"),
        ("s3://", "ERR_STORE_INVALID_URL"),
        ("s3://bucket/p?versionId=1", "ERR_STORE_INVALID_URL"),
        ("file://remote-host/x", "ERR_STORE_INVALID_URL"),
        ("", "ERR_STORE_INVALID_URL"),
    ] {
        let err = open_url(url, &options).unwrap_err();
        assert_eq!(err.code(), code, "{url}: {err}");
    }
    let mut misspelled = s3_options(9);
    misspelled
        .config
        .insert("aws_secret_acess_key".into(), "x".into());
    match open_url("s3://bucket/p", &misspelled).unwrap_err() {
        Error::InvalidOption { key, url, .. } => {
            assert_eq!(key, "aws_secret_acess_key");
            assert_eq!(url, "s3://bucket/p");
        }
        other => panic!("{other:?}"),
    }
    let mut tiny_parts = s3_options(9);
    tiny_parts.part_size = 1 << 20;
    assert_eq!(
        open_url("s3://bucket/p", &tiny_parts).unwrap_err().code(),
        "ERR_STORE_INVALID_OPTION"
    );
    // Azure needs an account.
    let no_env = StoreOptions {
        use_env: false,
        ..StoreOptions::default()
    };
    let err = open_url("az://container/p", &no_env).unwrap_err();
    assert_eq!(err.code(), "ERR_STORE_INVALID_OPTION", "{err}");
}

#[test]
fn open_url_builds_gcs_and_azure_stores() {
    let gcs = open_url(
        "gs://bucket/a%20b/c",
        &StoreOptions {
            use_env: false,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    assert_eq!(gcs.location(), "gs://bucket/a b/c");
    assert_eq!(gcs.describe(b"k"), "gs://bucket/a b/c/k");
    let mut azure = StoreOptions::with_config([
        ("azure_storage_account_name", "devstoreaccount1"),
        ("azure_storage_use_emulator", "true"),
    ]);
    azure.use_env = false;
    for url in ["az://container/p", "azure://container/p"] {
        let store = open_url(url, &azure).unwrap();
        assert!(store.location().ends_with("://container/p"), "{url}");
    }
}

#[test]
fn runs_on_a_dedicated_or_given_runtime_and_from_blocking_threads_of_other_runtimes() {
    use orbax_objstore::IoRuntime;
    let dedicated = StoreOptions {
        runtime: Some(IoRuntime::dedicated(1).unwrap()),
        ..StoreOptions::default()
    };
    let store = open_url("memory://runtimes/a", &dedicated).unwrap();
    store.write(b"k", b"v").unwrap();
    drop(dedicated);
    assert_eq!(store.read(b"k", None).unwrap().unwrap(), &b"v"[..]);
    drop(store);

    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = IoRuntime::from_handle(current.handle().clone()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);

    // Async code (here: another runtime's task, as a napi `async fn`) hands the synchronous
    // store calls to a blocking thread.
    let other = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let given = StoreOptions {
        runtime: Some(IoRuntime::from_handle(other.handle().clone()).unwrap()),
        ..StoreOptions::default()
    };
    let store = open_url("memory://runtimes/b", &given).unwrap();
    let value = other.block_on(async move {
        tokio::task::spawn_blocking(move || {
            store.write(b"k", b"from a blocking thread").unwrap();
            store.read(b"k", None).unwrap().unwrap()
        })
        .await
        .unwrap()
    });
    assert_eq!(value, &b"from a blocking thread"[..]);
}

#[test]
#[should_panic(expected = "Cannot start a runtime from within a runtime")]
fn refuses_to_block_inside_async_code() {
    let store = open_url("memory://runtimes/c", &StoreOptions::default()).unwrap();
    let other = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    other.block_on(async move {
        let _ = store.read(b"k", None);
    });
}
