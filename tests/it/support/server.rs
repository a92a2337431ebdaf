//! A tiny static HTTP/1.1 file server on 127.0.0.1 with fault injection (error statuses,
//! truncated, endless and overlong bodies, lying lengths), so the pipeline is tested against a
//! real socket without the internet.
//!
//! One thread accepts, one thread per connection serves. GET and HEAD only; keep-alive is
//! honoured until a fault, a 404 or `Connection: close`. Paths are percent-decoded, a query
//! string is ignored, and nothing outside the root is ever served.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
enum Fault {
    Status(u16),
    Truncate,
    /// A body without end (and without a length), until the client hangs up.
    Endless,
    /// The real body, announced with this `Content-Length` (larger or smaller than it).
    Length(u64),
    /// The real body and this many bytes more, announced with its length or not.
    Longer {
        extra: usize,
        announce: bool,
    },
}

#[derive(Debug)]
struct Injection {
    suffix: String,
    left: usize,
    fault: Fault,
}

#[derive(Debug, Default)]
struct Shared {
    requests: Vec<String>,
    faults: Vec<Injection>,
    /// `require_basic`: the `Authorization` value every request must carry, else 401.
    basic: Option<String>,
    /// For each request, in arrival order: whether it carried an `Authorization` header.
    carried: Vec<bool>,
}

/// Serves the files under a root directory until dropped.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// A mirror URL for builds that use the server as their proxy (`as_proxy`): a name
    /// under the reserved `.test` domain, which no resolver answers.
    pub const PROXIED: &'static str = "http://fixture.test";

    /// Bind 127.0.0.1 on a free port and serve `root` from background threads.
    pub fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared2, stop2, root) = (shared.clone(), stop.clone(), root.to_path_buf());
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (shared, root) = (shared2.clone(), root.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &root, &shared);
                });
            }
        });
        Server {
            addr,
            shared,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment that makes this server the HTTP proxy of a build (registries on
    /// 127.0.0.1 reached directly): the mirror can then be `Server::PROXIED`, a name that
    /// resolves nowhere. The SPDX tools refuse an IP address in a download location.
    pub fn as_proxy(&self) -> [(&'static str, String); 4] {
        let direct = "127.0.0.1".to_owned();
        [
            ("http_proxy", self.url()),
            ("HTTP_PROXY", self.url()),
            ("no_proxy", direct.clone()),
            ("NO_PROXY", direct),
        ]
    }

    /// Paths requested so far (GET and HEAD, as sent, query included), in arrival order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared).requests.clone()
    }

    /// Answer the next `times` requests for paths ending with `path_suffix` with `status`
    /// and an empty body (then `Connection: close`).
    pub fn fail_next(&self, path_suffix: &str, times: usize, status: u16) {
        self.inject(path_suffix, times, Fault::Status(status));
    }

    /// For the next `times` requests for paths ending with `path_suffix`, announce the full
    /// Content-Length but close the connection after half the body.
    pub fn truncate_next(&self, path_suffix: &str, times: usize) {
        self.inject(path_suffix, times, Fault::Truncate);
    }

    /// Answer the next `times` requests for paths ending with `path_suffix` with a body that
    /// never ends (no `Content-Length`; the file's bytes, then zeros, until the client hangs up).
    pub fn endless_next(&self, path_suffix: &str, times: usize) {
        self.inject(path_suffix, times, Fault::Endless);
    }

    /// For the next `times` requests for paths ending with `path_suffix`, announce
    /// `Content-Length: length` (a lie, larger or smaller), then send the real body and close.
    pub fn content_length_next(&self, path_suffix: &str, times: usize, length: u64) {
        self.inject(path_suffix, times, Fault::Length(length));
    }

    /// For the next `times` requests for paths ending with `path_suffix`, send the real body
    /// followed by `extra` more bytes, with a `Content-Length` that counts them when
    /// `announce`, else none (the body ends when the connection closes).
    pub fn longer_next(&self, path_suffix: &str, times: usize, extra: usize, announce: bool) {
        self.inject(path_suffix, times, Fault::Longer { extra, announce });
    }

    /// Answer every request without `Authorization: Basic` for `user:password` with 401
    /// (and `WWW-Authenticate`), as a private mirror does.
    pub fn require_basic(&self, user: &str, password: &str) {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        lock(&self.shared).basic = Some(format!("Basic {token}"));
    }

    /// For each request so far, whether it carried an `Authorization` header.
    pub fn carried_credentials(&self) -> Vec<bool> {
        lock(&self.shared).carried.clone()
    }

    fn inject(&self, suffix: &str, times: usize, fault: Fault) {
        lock(&self.shared).faults.push(Injection {
            suffix: suffix.to_owned(),
            left: times,
            fault,
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag and closes the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

/// A poisoned lock (a panicking test thread) must not hide the requests from other asserts.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Note whether `req` carried credentials; whether it may be served (`require_basic`).
fn authorized(shared: &Mutex<Shared>, req: &Request) -> bool {
    let mut s = lock(shared);
    s.carried.push(req.authorization.is_some());
    match &s.basic {
        Some(expected) => req.authorization.as_ref() == Some(expected),
        None => true,
    }
}

/// Record the request and take the first pending fault whose suffix matches.
fn record(shared: &Mutex<Shared>, path: &str) -> Option<Fault> {
    let mut s = lock(shared);
    s.requests.push(path.to_owned());
    let hit = s
        .faults
        .iter_mut()
        .find(|i| i.left > 0 && path.ends_with(i.suffix.as_str()))?;
    hit.left -= 1;
    Some(hit.fault)
}

/// The file for a request target under `root`: query dropped, percent-decoded, and only
/// plain components (no `..`, no absolute parts).
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path)?;
    let mut file = root.to_path_buf();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => file.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(file)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One request line and the headers that matter.
struct Request {
    method: String,
    target: String,
    /// `Connection: close` or HTTP/1.0: answer, then hang up.
    close: bool,
    /// The `Authorization` header, if any.
    authorization: Option<String>,
}

/// The next request on the connection; `None` when the client hung up.
fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut request = String::new();
    if reader.read_line(&mut request)? == 0 {
        return Ok(None);
    }
    let mut close = false;
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if lower.starts_with("connection:") && lower.contains("close") {
            close = true;
        }
        if lower.starts_with("authorization:") {
            authorization = Some(h["authorization:".len()..].trim().to_owned());
        }
    }
    let mut parts = request.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("/");
    // A proxy's absolute form (`GET http://NAME/dists/...`) is served as its path: as the
    // proxy of a build, the server gives a mirror a name (`Server::PROXIED`).
    let target = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    }
    .to_owned();
    if parts.next() == Some("HTTP/1.0") {
        close = true;
    }
    Ok(Some(Request {
        method,
        target,
        close,
        authorization,
    }))
}

fn serve(stream: TcpStream, root: &Path, shared: &Mutex<Shared>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    while let Some(req) = read_request(&mut reader)? {
        if req.method != "GET" && req.method != "HEAD" {
            write!(
                out,
                "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return Ok(());
        }
        if !authorized(shared, &req) {
            write!(
                out,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"fixture\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return Ok(());
        }
        let fault = record(shared, &req.target);
        let body = resolve(root, &req.target).and_then(|f| fs_err::read(f).ok());
        let keep_alive = respond(&mut out, &req, fault, body)?;
        if !keep_alive {
            return Ok(());
        }
    }
    Ok(())
}

/// Answer with `status` (`404 Not Found`) and no body, then hang up.
fn empty(out: &mut TcpStream, status: &str) -> std::io::Result<bool> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    Ok(false)
}

/// Answer `req` with `body` (`None`: not found), as `fault` says; whether the connection
/// stays open for another request.
fn respond(
    out: &mut TcpStream,
    req: &Request,
    fault: Option<Fault>,
    body: Option<Vec<u8>>,
) -> std::io::Result<bool> {
    const OCTETS: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n";
    let get = req.method == "GET";
    let Some(mut body) = body else {
        return match fault {
            Some(Fault::Status(code)) => empty(out, &format!("{code} Injected")),
            _ => empty(out, "404 Not Found"),
        };
    };
    let (head, sent): (String, &[u8]) = match fault {
        Some(Fault::Status(code)) => return empty(out, &format!("{code} Injected")),
        Some(Fault::Endless) => {
            write!(out, "{OCTETS}Connection: close\r\n\r\n")?;
            if get {
                out.write_all(&body)?;
                let zeros = vec![0u8; 64 << 10];
                // Ends with an error when the client hangs up.
                loop {
                    out.write_all(&zeros)?;
                }
            }
            return Ok(false);
        }
        Some(Fault::Length(length)) => (
            format!("{OCTETS}Content-Length: {length}\r\nConnection: close\r\n\r\n"),
            &body,
        ),
        Some(Fault::Longer { extra, announce }) => {
            body.extend(std::iter::repeat_n(b'x', extra));
            let length = if announce {
                format!("Content-Length: {}\r\n", body.len())
            } else {
                String::new()
            };
            (format!("{OCTETS}{length}Connection: close\r\n\r\n"), &body)
        }
        Some(Fault::Truncate) => (
            format!(
                "{OCTETS}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ),
            &body[..body.len() / 2],
        ),
        None => (
            format!(
                "{OCTETS}Content-Length: {}\r\n{}\r\n",
                body.len(),
                if req.close {
                    "Connection: close\r\n"
                } else {
                    ""
                }
            ),
            &body,
        ),
    };
    out.write_all(head.as_bytes())?;
    if get {
        out.write_all(sent)?;
    }
    out.flush()?;
    Ok(fault.is_none() && !req.close)
}

/// A server over a small root (`f.txt` = `hello`, `pool/a/x+1~2.deb` = `deb!`) with a file
/// beside the root it must never serve.
struct Fixture {
    _dir: tempfile::TempDir,
    server: Server,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs_err::create_dir_all(root.join("pool/a")).unwrap();
        fs_err::write(root.join("f.txt"), b"hello").unwrap();
        fs_err::write(root.join("pool/a/x+1~2.deb"), b"deb!").unwrap();
        fs_err::write(dir.path().join("outside"), b"secret").unwrap();
        let server = Server::start(&root);
        Fixture { _dir: dir, server }
    }

    /// Send `req` raw and read until the server hangs up.
    fn exchange(&self, req: &str) -> String {
        use std::io::Read;
        let mut c = TcpStream::connect(self.server.addr).unwrap();
        c.write_all(req.as_bytes()).unwrap();
        let mut r = String::new();
        let _ = c.read_to_string(&mut r);
        r
    }

    fn get(&self, p: &str) -> String {
        self.exchange(&format!(
            "GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ))
    }
}

#[test]
fn server_serves_files_and_heads_and_nothing_else() {
    let f = Fixture::new();
    assert!(f.server.url().starts_with("http://127.0.0.1:"));
    let ok = f.get("/f.txt");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(
        ok.contains("Content-Length: 5\r\n") && ok.ends_with("\r\n\r\nhello"),
        "{ok}"
    );
    let head = f.exchange("HEAD /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(
        head.contains("Content-Length: 5\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    assert!(f.get("/missing").starts_with("HTTP/1.1 404"));
    assert!(
        f.get("/pool").starts_with("HTTP/1.1 404"),
        "directories are not served"
    );
    assert!(
        f.get("/../outside").starts_with("HTTP/1.1 404"),
        "nothing outside the root"
    );
    assert!(
        f.get("/pool/a/x%2B1%7e2.deb?x=1").ends_with("deb!"),
        "percent-decoded, query dropped"
    );
}

/// Keep-alive: two requests on one connection.
#[test]
fn server_keeps_a_connection_alive() {
    let f = Fixture::new();
    let two = f.exchange(
        "GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(two.matches("HTTP/1.1 200 OK").count(), 2, "{two}");
}

/// Faults: only for the matching suffix, only `times` times, in order of injection.
#[test]
fn server_injects_statuses_and_truncations() {
    let f = Fixture::new();
    f.server.fail_next(".txt", 2, 503);
    assert!(f.get("/pool/a/x+1~2.deb").ends_with("deb!"));
    assert!(f.get("/f.txt").starts_with("HTTP/1.1 503"));
    assert!(f.get("/f.txt").starts_with("HTTP/1.1 503"));
    assert!(f.get("/f.txt").ends_with("hello"));
    f.server.truncate_next("f.txt", 1);
    let cut = f.get("/f.txt");
    assert!(
        cut.contains("Content-Length: 5\r\n") && cut.ends_with("\r\n\r\nhe"),
        "{cut}"
    );
    assert!(f.get("/f.txt").ends_with("hello"));
}

#[test]
fn server_lies_about_lengths() {
    let f = Fixture::new();
    f.server.content_length_next("f.txt", 1, 10_995_116_277_760);
    let lie = f.get("/f.txt");
    assert!(
        lie.contains("Content-Length: 10995116277760\r\n") && lie.ends_with("\r\n\r\nhello"),
        "{lie}"
    );
    f.server.longer_next("f.txt", 1, 3, false);
    let long = f.get("/f.txt");
    assert!(
        !long.contains("Content-Length") && long.ends_with("\r\n\r\nhelloxxx"),
        "{long}"
    );
    f.server.longer_next("f.txt", 1, 2, true);
    assert!(
        f.get("/f.txt")
            .ends_with("Content-Length: 7\r\nConnection: close\r\n\r\nhelloxx")
    );
}

#[test]
fn server_sends_an_endless_body_once() {
    use std::io::Read;
    let f = Fixture::new();
    f.server.endless_next("f.txt", 1);
    let mut c = TcpStream::connect(f.server.addr).unwrap();
    c.write_all(b"GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0;
    while got < buf.len() {
        got += c.read(&mut buf[got..]).unwrap();
    }
    let text = String::from_utf8_lossy(&buf[..200]);
    assert!(
        !text.contains("Content-Length") && text.contains("\r\n\r\nhello\0"),
        "{text}"
    );
    drop(c);
    assert!(f.get("/f.txt").ends_with("hello"));
}

/// Every request is recorded as asked (before decoding), faulted or not.
#[test]
fn server_records_requests_as_asked() {
    let f = Fixture::new();
    f.server.fail_next(".txt", 1, 503);
    f.get("/f.txt");
    f.get("/pool/a/x%2B1%7e2.deb?x=1");
    f.get("/missing");
    assert_eq!(
        f.server.requests(),
        ["/f.txt", "/pool/a/x%2B1%7e2.deb?x=1", "/missing"]
    );
}

/// Dropping stops it: the port no longer accepts.
#[test]
fn server_stops_when_dropped() {
    let f = Fixture::new();
    let addr = f.server.addr;
    drop(f);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}
