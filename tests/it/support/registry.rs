//! A real registry for push tests (Debian's `docker-registry`, the CNCF distribution
//! registry, on 127.0.0.1) and a fault-injecting HTTP proxy in front of it: error statuses,
//! a registry that dies mid-push, and a Bearer token service.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::harness::require;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `docker-registry` process with its storage in a temporary directory.
#[derive(Debug)]
pub struct Registry {
    dir: tempfile::TempDir,
    addr: String,
    /// It speaks HTTPS only (a plain request is answered 400).
    tls: bool,
    child: Option<Child>,
}

impl Registry {
    /// Start a registry, with htpasswd Basic auth for `auth`. Fails when `docker-registry`
    /// or, for auth, `htpasswd` is not installed (its tests are `#[ignore = "needs …"]`).
    pub fn start(auth: Option<(&str, &str)>) -> Registry {
        Registry::start_with("127.0.0.1", auth, None)
    }

    /// `start` on the address `ip` of this machine, speaking HTTPS with `tls` (a PEM
    /// certificate and its key) when given.
    pub fn start_with(
        ip: &str,
        auth: Option<(&str, &str)>,
        tls: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Registry {
        require(&["docker-registry"]);
        if auth.is_some() {
            require(&["htpasswd"]);
        }
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("{ip}:{}", free_port());
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = tls {
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
        }
        if let Some((user, pass)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .unwrap();
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            fs_err::write(&file, &out.stdout).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: compose-test\n    path: {}\n",
                file.display()
            );
        }
        fs_err::write(dir.path().join("config.yml"), config).unwrap();
        let mut r = Registry {
            dir,
            addr,
            tls: tls.is_some(),
            child: None,
        };
        r.restart();
        r
    }

    /// Where the registry keeps its blobs (`docker/registry/v2/...`), to tamper with.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Everything the registry printed (its access log included).
    pub fn log(&self) -> String {
        fs_err::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Completed blob uploads into `repo`, from the access log. The registry writes a line
    /// just after its answer (and compose, retrying without delay, may be gone by then), so
    /// the log is read once it has not grown for 200 ms.
    pub fn blob_upload_puts(&self, repo: &str) -> usize {
        let needle = format!("\"PUT /v2/{repo}/blobs/uploads/");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut log = self.log();
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let again = self.log();
            if again == log || Instant::now() > deadline {
                break;
            }
            log = again;
        }
        log.lines().filter(|l| l.contains(&needle)).count()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start (again) on the same port and storage, and wait until `/v2/` answers.
    pub fn restart(&mut self) {
        self.stop();
        let log = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap().into_parts().0)
            .stderr(log.into_parts().0)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(status) = raw_get(&self.addr, "/v2/")
                && (status == 200 || status == 401 || (self.tls && status == 400))
            {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("docker-registry did not start:\n{}", self.log());
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The status of a plain `GET path` (HTTP/1.0, no body read).
fn raw_get(addr: &str, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))
}

/// An IPv4 address of this machine that is not loopback (the one its default route uses),
/// if it has one. No packet is sent.
pub fn outward_ip() -> Option<String> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then(|| ip.to_string())
}

const TOKEN: &str = "compose-test-token";

#[derive(Debug)]
struct Fault {
    method: String,
    contains: String,
    left: usize,
    status: u16,
}

#[derive(Debug, Default)]
struct ProxyState {
    requests: Vec<String>,
    faults: Vec<Fault>,
    /// Requests still forwarded before the proxy plays dead (`None`: never).
    forward_left: Option<usize>,
    bearer: Option<(String, String)>,
    token_queries: Vec<String>,
    /// Read requests but never answer them.
    hang: bool,
    /// Hold requests (read, not yet forwarded) until `resume`.
    paused: bool,
}

/// A forwarding HTTP/1.1 proxy on 127.0.0.1 with fault injection; one request per
/// connection. `Host` is passed through, so the registry's `Location`s point at the proxy.
/// A `CONNECT` is tunnelled to the host it names (as `HTTPS_PROXY`), not to the upstream.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    stop: Arc<AtomicBool>,
}

fn lock(state: &Mutex<ProxyState>) -> MutexGuard<'_, ProxyState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        Proxy::start_on("127.0.0.1", upstream)
    }

    /// A proxy listening on another address of this machine (`ip`).
    pub fn start_on(ip: &str, upstream: &str) -> Proxy {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (state2, stop2, upstream) = (state.clone(), stop.clone(), upstream.to_owned());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (state, upstream) = (state2.clone(), upstream.clone());
                thread::spawn(move || {
                    let _ = handle(stream, &upstream, &state, addr);
                });
            }
        });
        Proxy { addr, state, stop }
    }

    /// `IP:PORT`.
    pub fn url_host(&self) -> String {
        self.addr.to_string()
    }

    /// Every request seen, as `METHOD TARGET`, in arrival order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }

    /// Answer the next `times` requests with this method whose target contains
    /// `target_contains` with `status` (not forwarded).
    pub fn fail_next(&self, method: &str, target_contains: &str, times: usize, status: u16) {
        lock(&self.state).faults.push(Fault {
            method: method.to_owned(),
            contains: target_contains.to_owned(),
            left: times,
            status,
        });
    }

    /// After `n` more forwarded requests, close every connection without an answer.
    pub fn die_after(&self, n: usize) {
        lock(&self.state).forward_left = Some(n);
    }

    /// Read every request and never answer (a registry that stopped responding).
    pub fn hang(&self) {
        lock(&self.state).hang = true;
    }

    pub fn revive(&self) {
        lock(&self.state).forward_left = None;
    }

    /// Hold every request (it is read and listed in `requests`) until `resume`.
    pub fn pause(&self) {
        lock(&self.state).paused = true;
    }

    pub fn resume(&self) {
        lock(&self.state).paused = false;
    }

    /// Demand a Bearer token for `/v2/` (the proxy is its own token service at `/token`,
    /// granting it for Basic `user:pass`).
    pub fn require_bearer(&self, user: &str, pass: &str) {
        lock(&self.state).bearer = Some((user.to_owned(), pass.to_owned()));
    }

    /// The query strings of token requests.
    pub fn token_queries(&self) -> Vec<String> {
        lock(&self.state).token_queries.clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A parsed request or response head plus its (de-chunked) body.
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Read a head and a body (Content-Length, chunked, or — for responses — until EOF).
fn read_message(
    r: &mut BufReader<TcpStream>,
    is_response: bool,
    no_body: bool,
) -> std::io::Result<Message> {
    let mut start = String::new();
    if r.read_line(&mut start)? == 0 {
        return Err(std::io::Error::other("connection closed"));
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut m = Message {
        start: start.trim_end().to_owned(),
        headers,
        body: Vec::new(),
    };
    if no_body {
        return Ok(m);
    }
    if m.header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(std::io::Error::other)?;
            if n == 0 {
                let mut end = String::new();
                r.read_line(&mut end)?;
                break;
            }
            let mut chunk = vec![0; n];
            r.read_exact(&mut chunk)?;
            m.body.extend(chunk);
            let mut crlf = [0; 2];
            r.read_exact(&mut crlf)?;
        }
        m.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("transfer-encoding"));
    } else if let Some(n) = m.header("content-length").and_then(|v| v.parse().ok()) {
        m.body = vec![0; n];
        r.read_exact(&mut m.body)?;
    } else if is_response {
        r.read_to_end(&mut m.body)?;
    }
    Ok(m)
}

fn write_message(out: &mut TcpStream, m: &Message, head_only: bool) -> std::io::Result<()> {
    let mut text = format!("{}\r\n", m.start);
    for (k, v) in &m.headers {
        if k.eq_ignore_ascii_case("connection") || k.eq_ignore_ascii_case("content-length") {
            continue;
        }
        text += &format!("{k}: {v}\r\n");
    }
    let length = if head_only {
        m.header("content-length")
            .map_or_else(|| m.body.len().to_string(), str::to_owned)
    } else {
        m.body.len().to_string()
    };
    text += &format!("Content-Length: {length}\r\nConnection: close\r\n\r\n");
    out.write_all(text.as_bytes())?;
    if !head_only {
        out.write_all(&m.body)?;
    }
    out.flush()
}

fn reply(out: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let m = Message {
        start: format!("HTTP/1.1 {status} Injected"),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        body: body.to_vec(),
    };
    let _ = write_message(out, &m, false);
}

/// The repository in a `/v2/<repo>/(blobs|manifests|tags)/...` path.
fn repository(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/")?;
    ["/blobs/", "/manifests/", "/tags/"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .map(|i| &rest[..i])
}

fn handle(
    stream: TcpStream,
    upstream: &str,
    state: &Mutex<ProxyState>,
    me: SocketAddr,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut req = read_message(&mut reader, false, false)?;
    let mut parts = req.start.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let bearer = match admit(state, &method, &target) {
        Admission::Hang => {
            thread::sleep(Duration::from_secs(120));
            return Ok(());
        }
        Admission::Fault(status) => {
            reply(&mut out, status, &[], b"");
            return Ok(());
        }
        Admission::Pass(bearer) => bearer,
    };
    if method == "CONNECT" {
        return tunnel(out, &target);
    }
    if let Some((user, pass)) = bearer {
        let answered = play_token_service(&mut out, &mut req, &target, state, me, &user, &pass)?;
        if answered {
            return Ok(());
        }
    }
    {
        let mut s = lock(state);
        match s.forward_left {
            Some(0) => return Ok(()), // dead: close without an answer
            Some(n) => s.forward_left = Some(n - 1),
            None => {}
        }
    }
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    write_message(&mut up, &req, false)?;
    let mut up_reader = BufReader::new(up);
    let head = method == "HEAD";
    let resp = read_message(&mut up_reader, true, head)?;
    write_message(&mut out, &resp, head)
}

/// Answer a `CONNECT` (an `HTTPS_PROXY` client) and carry its bytes both ways to `target`
/// (`HOST:PORT`) until either side hangs up.
fn tunnel(mut out: TcpStream, target: &str) -> std::io::Result<()> {
    let up = TcpStream::connect(target)?;
    out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    let (mut down_r, mut up_w) = (out.try_clone()?, up.try_clone()?);
    let upward = thread::spawn(move || {
        let _ = std::io::copy(&mut down_r, &mut up_w);
        let _ = up_w.shutdown(std::net::Shutdown::Write);
    });
    let mut up_r = up;
    let _ = std::io::copy(&mut up_r, &mut out);
    let _ = out.shutdown(std::net::Shutdown::Write);
    let _ = upward.join();
    Ok(())
}

/// What the proxy does with a request, once recorded.
enum Admission {
    /// `hang()`: hold the connection without an answer.
    Hang,
    /// An injected fault: answer with this status.
    Fault(u16),
    /// Go on, as the token service of these credentials when there are some.
    Pass(Option<(String, String)>),
}

/// Record the request, wait while paused, and decide what happens to it.
fn admit(state: &Mutex<ProxyState>, method: &str, target: &str) -> Admission {
    let mut s = lock(state);
    s.requests.push(format!("{method} {target}"));
    if s.hang {
        return Admission::Hang;
    }
    while s.paused {
        drop(s);
        thread::sleep(Duration::from_millis(20));
        s = lock(state);
    }
    let fault = s
        .faults
        .iter_mut()
        .find(|f| f.left > 0 && f.method == method && target.contains(&f.contains))
        .map(|f| {
            f.left -= 1;
            f.status
        });
    match fault {
        Some(status) => Admission::Fault(status),
        None => Admission::Pass(s.bearer.clone()),
    }
}

/// The Bearer token service the proxy plays for `user:pass`: it answers `/token` and
/// challenges a `/v2/` request without the token (`true`: answered here); a request with
/// the token goes on without it (the registry behind knows no tokens).
fn play_token_service(
    out: &mut TcpStream,
    req: &mut Message,
    target: &str,
    state: &Mutex<ProxyState>,
    me: SocketAddr,
    user: &str,
    pass: &str,
) -> std::io::Result<bool> {
    let path = target.split('?').next().unwrap_or("");
    if path == "/token" {
        let query = target.split_once('?').map_or("", |(_, q)| q).to_owned();
        lock(state).token_queries.push(query);
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        if req.header("authorization") == Some(want.as_str()) {
            let body =
                format!(r#"{{"token":"{TOKEN}","access_token":"{TOKEN}","expires_in":300}}"#);
            reply(
                out,
                200,
                &[("Content-Type", "application/json".into())],
                body.as_bytes(),
            );
        } else {
            reply(out, 401, &[], b"{}");
        }
        return Ok(true);
    }
    if !path.starts_with("/v2/") {
        return Ok(false);
    }
    if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        let mut challenge = format!(r#"Bearer realm="http://{me}/token",service="compose-test""#);
        if let Some(repo) = repository(path) {
            challenge += &format!(r#",scope="repository:{repo}:pull,push""#);
        }
        reply(
            out,
            401,
            &[
                ("WWW-Authenticate", challenge),
                ("Content-Type", "application/json".into()),
            ],
            b"{}",
        );
        return Ok(true);
    }
    req.headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "needs docker-registry"]
    fn proxy_forwards_injects_and_plays_dead() {
        let registry = Registry::start(None);
        let proxy = Proxy::start(&registry.addr());
        assert_eq!(raw_get(&proxy.url_host(), "/v2/").unwrap(), 200);
        proxy.fail_next("GET", "/v2/", 1, 503);
        assert_eq!(raw_get(&proxy.url_host(), "/v2/").unwrap(), 503);
        assert_eq!(raw_get(&proxy.url_host(), "/v2/").unwrap(), 200);
        proxy.die_after(0);
        assert!(raw_get(&proxy.url_host(), "/v2/").is_err());
        proxy.revive();
        assert_eq!(raw_get(&proxy.url_host(), "/v2/").unwrap(), 200);
        proxy.require_bearer("u", "p");
        assert_eq!(raw_get(&proxy.url_host(), "/v2/").unwrap(), 401);
        assert_eq!(repository("/v2/a/b/blobs/uploads/"), Some("a/b"));
        assert_eq!(proxy.requests().len(), 6);
    }
}
