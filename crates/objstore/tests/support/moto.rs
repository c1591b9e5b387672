//! A moto S3 server on loopback, started for a test and stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long moto may take to start (Python imports included).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server; dropping it (also while a test panics) stops it. The server also
/// exits by itself when this process ends, as its stdin (a pipe from here) then closes.
pub struct Moto {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The reference venv's python: `$ORBAX_TS_REF_PYTHON`, else `<repo>/.venv-ref/bin/python`.
/// `None` when neither exists, which fails the test under CI (`CI` set).
pub fn reference_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("ORBAX_TS_REF_PYTHON").map(PathBuf::from),
        Some(repo_root().join(".venv-ref/bin/python")),
    ];
    if let Some(found) = candidates.into_iter().flatten().find(|p| p.exists()) {
        return Some(found);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the Python reference venv (.venv-ref) is missing: run bash ../shared/interop/setup-ref.sh \
         and set ORBAX_TS_REF_PYTHON"
    );
    None
}

/// Installs `moto[server]` into the venv of `python` unless it is already there.
fn ensure_moto(python: &Path) {
    let present = Command::new(python)
        .args(["-c", "import moto.server, boto3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return;
    }
    eprintln!("installing moto[server] into {}", python.display());
    let status = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "moto[server]",
        ])
        .status()
        .expect("run pip");
    assert!(status.success(), "pip install 'moto[server]' failed");
}

/// Starts moto with `buckets` created, or returns `None` (after saying why) when the
/// reference venv is missing outside CI.
pub fn start(buckets: &[&str]) -> Option<Moto> {
    let Some(python) = reference_python() else {
        eprintln!(
            "skipped: no Python reference venv (set ORBAX_TS_REF_PYTHON or create .venv-ref) \
             to run the moto S3 server"
        );
        return None;
    };
    ensure_moto(&python);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/moto_server.py");
    let mut child = Command::new(&python)
        .arg(script)
        .args(buckets)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the moto server");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut moto = Moto { child, port: 0 };
    let line = rx
        .recv_timeout(START_TIMEOUT)
        .expect("moto did not report READY in time");
    moto.port = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line from the moto helper: {line:?}"));
    Some(moto)
}
