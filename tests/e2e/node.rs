//! Real nodes for the tests: `wasmnn serve` processes on loopback with their own data
//! dirs, and a raw HTTP/1.1 client that can send what no well-behaved client would
//! (cut-off bodies, hostile paths).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wasmnn_registry::client::RegistryClient;

/// A `wasmnn serve` process, killed when dropped.
pub struct Node {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its data dir.
    pub data: PathBuf,
}

impl Node {
    /// Starts a node on a free loopback port over `data` (node key `<data>.key`), with
    /// extra `serve` arguments; returns once it listens. Its logs go to `<data>.log`.
    pub fn start(data: &Path, extra: &[&str]) -> Node {
        Node::try_start(data, extra).unwrap_or_else(|log| panic!("the node did not start; its log:\n{log}"))
    }

    /// Like [`Node::start`], but a node that exits instead of listening (a `--backend gpu`
    /// with no adapter, say) is an `Err` with its log.
    pub fn try_start(data: &Path, extra: &[&str]) -> Result<Node, String> {
        Node::spawn("serve", data, extra)
    }

    /// Starts `wasmnn demo` on the CPU backend (the examples built without optimizations
    /// unless `release`) the way [`Node::start`] starts a node.
    pub fn demo(data: &Path, release: bool) -> Node {
        let extra: &[&str] = if release { &["--backend", "cpu"] } else { &["--backend", "cpu", "--debug"] };
        Node::spawn("demo", data, extra).unwrap_or_else(|log| panic!("the demo did not start; its log:\n{log}"))
    }

    /// Runs `wasmnn <subcommand>` (`serve` or `demo`) on a free port over `data`.
    fn spawn(subcommand: &str, data: &Path, extra: &[&str]) -> Result<Node, String> {
        let log = std::fs::File::create(data.with_extension("log")).expect("node log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmnn"))
            .args([subcommand, "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--node-key")
            .arg(data.with_extension("key"))
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("wasmnn serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut line).expect("the node prints its address");
        // Keep reading what else it prints (the demo's curl lines), so it never writes into
        // a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let Some(url) = line.split_whitespace().find(|word| word.starts_with("http://")).map(str::to_owned) else {
            let _ = child.wait();
            return Err(read_log(data));
        };
        let addr = url.trim_start_matches("http://").parse().expect("a socket address");
        Ok(Node { child, url, addr, data: data.to_owned() })
    }

    /// A registry client for this node.
    pub fn client(&self) -> RegistryClient {
        RegistryClient::new(&self.url).expect("client")
    }

    /// Kills the process with SIGKILL (no clean shutdown) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (a graceful stop) and waits up to 30 s for the process to exit;
    /// returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().is_ok_and(|s| s.success());
        assert!(sent, "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends one raw HTTP/1.1 request and returns the status and the body; a
    /// `Content-Length` is added unless `headers` frame the body themselves.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut stream = self.connect();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        let framed =
            |name: &str| name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding");
        if !headers.iter().any(|(name, _)| framed(name)) {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("request head");
        // The node may answer (and close) before reading the whole body of a refused request.
        let _ = stream.write_all(body);
        read_response(stream)
    }

    /// Opens a connection to the node.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        stream
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `error.code` of a JSON error body, after checking its shape.
    pub fn error_code(&self) -> String {
        let json = self.json();
        let error = &json["error"];
        assert!(error["message"].is_string() && error["type"].is_string(), "error body shape: {json}");
        error["code"].as_str().unwrap_or_else(|| panic!("no error code: {json}")).to_owned()
    }
}

/// Reads a whole `Connection: close` response (bodies with Content-Length only).
pub fn read_response(mut stream: TcpStream) -> Response {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("response");
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).expect("a status");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Response { status, headers, body: bytes[split + 4..].to_vec() }
}

/// The node's log so far.
pub fn read_log(data: &Path) -> String {
    std::fs::read_to_string(data.with_extension("log")).unwrap_or_default()
}

/// Everything under a data dir that says what it holds: blob files, unfinished uploads
/// and quarantined copies (the index is compared through the API).
pub fn stored_files(data: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["blobs/sha256", "tmp", "quarantine"] {
        if let Ok(entries) = std::fs::read_dir(data.join(dir)) {
            files.extend(entries.map(|e| format!("{dir}/{}", e.expect("entry").file_name().to_string_lossy())));
        }
    }
    files.sort();
    files
}
