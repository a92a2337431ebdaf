//! A tiny static HTTP/1.1 file server on 127.0.0.1 with fault injection (error statuses and
//! truncated bodies), so the pipeline is tested against a real socket without the internet.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Fault {
    Status(u16),
    Truncate,
}

#[derive(Debug, Default)]
struct Shared {
    requests: Vec<String>,
    /// (path suffix, remaining count, fault)
    faults: Vec<(String, usize, Fault)>,
}

/// Serves files under a root directory until dropped.
#[derive(Debug)]
pub struct Server {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, stop2, root) = (shared.clone(), stop.clone(), root.to_path_buf());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (s3, root) = (s2.clone(), root.clone());
                        thread::spawn(move || {
                            let _ = serve(stream, &root, &s3);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { port, shared, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// Answer the next `times` requests for paths ending with `suffix` with `status`.
    pub fn fail_next(&self, suffix: &str, times: usize, status: u16) {
        self.shared
            .lock()
            .unwrap()
            .faults
            .push((suffix.into(), times, Fault::Status(status)));
    }

    /// Send the right Content-Length but only half the body, `times` times.
    pub fn truncate_next(&self, suffix: &str, times: usize) {
        self.shared
            .lock()
            .unwrap()
            .faults
            .push((suffix.into(), times, Fault::Truncate));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(stream: TcpStream, root: &Path, shared: &Mutex<Shared>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
                break;
            }
        }
        let mut parts = request.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("/").to_owned();
        let fault = {
            let mut s = shared.lock().unwrap();
            s.requests.push(path.clone());
            let mut hit = None;
            for (suffix, left, fault) in s.faults.iter_mut() {
                if *left > 0 && path.ends_with(suffix.as_str()) {
                    *left -= 1;
                    hit = Some(fault.clone());
                    break;
                }
            }
            hit
        };
        let file: PathBuf = root.join(path.trim_start_matches('/'));
        let body = if path.contains("..") {
            None
        } else {
            fs_err::read(&file).ok()
        };
        match (fault, body) {
            (Some(Fault::Status(code)), _) => {
                write!(
                    out,
                    "HTTP/1.1 {code} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )?;
                return Ok(());
            }
            (_, None) => {
                write!(
                    out,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )?;
                return Ok(());
            }
            (Some(Fault::Truncate), Some(body)) => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )?;
                out.write_all(&body[..body.len() / 2])?;
                return Ok(());
            }
            (None, Some(body)) => {
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )?;
                if method != "HEAD" {
                    out.write_all(&body)?;
                }
            }
        }
    }
}

#[test]
fn server_serves_and_injects() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("f.txt"), b"hello").unwrap();
    let s = Server::start(dir.path());
    let get = |p: &str| {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        write!(
            c,
            "GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut r = String::new();
        let _ = c.read_to_string(&mut r);
        r
    };
    assert!(get("/f.txt").ends_with("hello"));
    assert!(get("/missing").starts_with("HTTP/1.1 404"));
    s.fail_next(".txt", 1, 503);
    assert!(get("/f.txt").starts_with("HTTP/1.1 503"));
    assert!(get("/f.txt").ends_with("hello"));
    s.truncate_next(".txt", 1);
    assert!(get("/f.txt").ends_with("\r\n\r\nhe"));
    assert_eq!(s.requests().len(), 5);
}
