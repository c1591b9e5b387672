//! A loopback HTTP proxy in front of a server that answers chosen requests with an error
//! status instead of forwarding them: the fault injection of the retry tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct State {
    /// Requests still to be failed (before forwarding resumes).
    fail_next: AtomicUsize,
    /// Fail every request.
    fail_always: AtomicBool,
    /// The status of failed requests.
    status: AtomicU16,
    /// Requests received.
    requests: AtomicUsize,
    stop: AtomicBool,
}

/// The proxy; stops accepting when dropped.
pub struct FaultProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    state: Arc<State>,
}

impl FaultProxy {
    /// Forwards to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &state);
                });
            }
        });
        Self { port, state }
    }

    /// Answers the next `n` requests with `status`, then forwards again.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
        self.state.fail_always.store(false, Ordering::SeqCst);
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Answers every request with `status`.
    pub fn fail_always(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
        self.state.fail_always.store(true, Ordering::SeqCst);
    }

    /// Forwards every request.
    pub fn pass(&self) {
        self.state.fail_always.store(false, Ordering::SeqCst);
        self.state.fail_next.store(0, Ordering::SeqCst);
    }

    /// Requests received since the last call (and resets the count).
    pub fn take_requests(&self) -> usize {
        self.state.requests.swap(0, Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn should_fail(state: &State) -> bool {
    if state.fail_always.load(Ordering::SeqCst) {
        return true;
    }
    state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// One request per connection (every answer says `Connection: close`).
fn serve(client: TcpStream, upstream: u16, state: &State) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.push(line);
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    if state.stop.load(Ordering::SeqCst) {
        return Ok(());
    }
    state.requests.fetch_add(1, Ordering::SeqCst);
    let mut client = client;
    if should_fail(state) {
        let status = state.status.load(Ordering::SeqCst);
        let payload =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InjectedFault</Code>\
             <Message>injected by the test proxy</Message></Error>";
        write!(
            client,
            "HTTP/1.1 {status} Injected\r\nContent-Type: application/xml\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        )?;
        client.flush()?;
        return client.shutdown(Shutdown::Both);
    }
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    for line in &head {
        server.write_all(line.as_bytes())?;
    }
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&body)?;
    server.flush()?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    client.write_all(&response)?;
    client.flush()?;
    client.shutdown(Shutdown::Both)
}
