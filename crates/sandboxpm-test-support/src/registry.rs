//! A registry on the loopback interface, for tests that must not leave the machine.
//!
//! It is a deliberately small HTTP/1.1 server on plain `std` threads: one thread accepts, one
//! short-lived thread serves each connection, and every response closes its connection. That
//! keeps it independent of the async runtime under test (a test can block a runtime thread and
//! the server still answers), makes delays trivial (the connection's thread sleeps), and leaves
//! no keep-alive state to reason about.
//!
//! Packuments are generated from the packages a test adds: each version's `package.json`
//! reduced to the abbreviated fields, `hasInstallScript` computed from its scripts, and
//! `dist.integrity`/`dist.shasum` computed over the tarball. Failures are configured per
//! request path (see [`FixtureRegistry::packument_path`] and
//! [`FixtureRegistry::tarball_path`]).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Map, Value, json};

use crate::integrity::sha1_hex;
use crate::package::BuiltPackage;

/// Fields of a version manifest that an abbreviated packument keeps.
const ABBREVIATED_FIELDS: &[&str] = &[
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bundleDependencies",
    "bundledDependencies",
    "bin",
    "directories",
    "os",
    "cpu",
    "libc",
    "engines",
    "deprecated",
];

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, …
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// Headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
struct Version {
    manifest: Value,
    tarball: Vec<u8>,
    integrity: String,
    shasum: String,
    file_name: String,
}

#[derive(Debug, Default)]
struct Package {
    versions: BTreeMap<String, Version>,
    dist_tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
struct Rule {
    /// Status to answer with, and how many more times (`None`: forever).
    fail: Option<(u16, Option<usize>)>,
    retry_after: Option<String>,
    delay: Option<Duration>,
    redirect: Option<String>,
}

#[derive(Debug)]
struct State {
    base_url: String,
    tarball_base: String,
    packages: BTreeMap<String, Package>,
    rules: HashMap<String, Rule>,
    token: Option<String>,
    etags: bool,
    gzip: bool,
    counts: HashMap<String, usize>,
    log: Vec<RecordedRequest>,
}

/// A loopback npm registry. Dropping it stops the server.
#[derive(Debug)]
pub struct FixtureRegistry {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not turn every later request into a second panic.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Requests with `%2F` and `%2f` for the scope separator are the same request.
fn normalize(path: &str) -> String {
    path.replace("%2F", "%2f")
}

impl FixtureRegistry {
    /// Start a server on `127.0.0.1` with a free port.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound or the acceptor thread cannot be started.
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}/");
        let state = Arc::new(Mutex::new(State {
            tarball_base: base_url.clone(),
            base_url,
            packages: BTreeMap::new(),
            rules: HashMap::new(),
            token: None,
            etags: true,
            gzip: false,
            counts: HashMap::new(),
            log: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            thread::Builder::new()
                .name(format!("fixture-registry-{}", addr.port()))
                .spawn(move || accept_loop(&listener, &state, &stop))?
        };
        Ok(Self {
            addr,
            state,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The registry URL, `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        lock(&self.state).base_url.clone()
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The request path of `name`'s packument: `/name` or `/@scope%2fname`.
    pub fn packument_path(name: &str) -> String {
        format!("/{}", name.replacen('/', "%2f", 1))
    }

    /// The request path of a tarball: `/<name>/-/<bare name>-<version>.tgz`.
    pub fn tarball_path(name: &str, version: &str) -> String {
        let bare = name.rsplit('/').next().unwrap_or(name);
        format!("/{name}/-/{bare}-{version}.tgz")
    }

    /// The full URL of a path on this server.
    pub fn url_of(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serve `package`; the version becomes `latest`.
    pub fn add(&self, package: &BuiltPackage) {
        let mut state = lock(&self.state);
        let entry = state.packages.entry(package.name.clone()).or_default();
        entry.versions.insert(
            package.version.clone(),
            Version {
                manifest: package.manifest.clone(),
                tarball: package.tarball.clone(),
                integrity: package.integrity.clone(),
                shasum: package.shasum.clone(),
                file_name: package.file_name(),
            },
        );
        entry
            .dist_tags
            .insert("latest".into(), package.version.clone());
    }

    /// Point dist-tag `tag` of `name` at `version`.
    pub fn set_dist_tag(&self, name: &str, tag: &str, version: &str) {
        let mut state = lock(&self.state);
        if let Some(package) = state.packages.get_mut(name) {
            package.dist_tags.insert(tag.into(), version.into());
        }
    }

    /// Change the served tarball of `name@version` after its integrity was computed, as a
    /// compromised mirror would. The packument keeps announcing the original integrity.
    pub fn tamper_tarball(&self, name: &str, version: &str) {
        let mut state = lock(&self.state);
        if let Some(v) = state
            .packages
            .get_mut(name)
            .and_then(|p| p.versions.get_mut(version))
        {
            let middle = v.tarball.len() / 2;
            if let Some(byte) = v.tarball.get_mut(middle) {
                *byte ^= 0xff;
            } else {
                v.tarball.push(0);
            }
        }
    }

    /// Make packuments announce tarball URLs on another server (e.g. a second fixture acting
    /// as a CDN), `base` being that server's URL.
    pub fn set_tarball_base(&self, base: &str) {
        let mut base = base.to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        lock(&self.state).tarball_base = base;
    }

    fn rule(&self, path: &str, change: impl FnOnce(&mut Rule)) {
        change(lock(&self.state).rules.entry(normalize(path)).or_default());
    }

    /// Answer `status` the next `times` requests for `path`, then serve normally.
    pub fn fail_times(&self, path: &str, status: u16, times: usize) {
        self.rule(path, |r| r.fail = Some((status, Some(times))));
    }

    /// Answer `status` to every request for `path`.
    pub fn fail_always(&self, path: &str, status: u16) {
        self.rule(path, |r| r.fail = Some((status, None)));
    }

    /// Send `Retry-After: value` with the failures configured for `path`.
    pub fn retry_after(&self, path: &str, value: &str) {
        self.rule(path, |r| r.retry_after = Some(value.to_owned()));
    }

    /// Answer 404 for `path` even if the package exists.
    pub fn not_found(&self, path: &str) {
        self.fail_always(path, 404);
    }

    /// Wait `delay` before answering requests for `path`.
    pub fn delay(&self, path: &str, delay: Duration) {
        self.rule(path, |r| r.delay = Some(delay));
    }

    /// Answer requests for `path` with `302 Found` to `location`.
    pub fn redirect(&self, path: &str, location: &str) {
        self.rule(path, |r| r.redirect = Some(location.to_owned()));
    }

    /// Remove every rule for `path`.
    pub fn clear_rules(&self, path: &str) {
        lock(&self.state).rules.remove(&normalize(path));
    }

    /// Require `Authorization: Bearer <token>` on every request (401 otherwise), or nothing.
    pub fn require_token(&self, token: Option<&str>) {
        lock(&self.state).token = token.map(str::to_owned);
    }

    /// Send `ETag`s with packuments and answer `If-None-Match` with 304 (on by default).
    pub fn set_etags(&self, enabled: bool) {
        lock(&self.state).etags = enabled;
    }

    /// Gzip-encode packuments for clients that accept it (off by default).
    pub fn set_gzip(&self, enabled: bool) {
        lock(&self.state).gzip = enabled;
    }

    /// How many requests arrived for `path`.
    pub fn requests(&self, path: &str) -> usize {
        lock(&self.state)
            .counts
            .get(&normalize(path))
            .copied()
            .unwrap_or(0)
    }

    /// How many requests arrived in total.
    pub fn total_requests(&self) -> usize {
        lock(&self.state).counts.values().sum()
    }

    /// Every request so far, oldest first.
    pub fn request_log(&self) -> Vec<RecordedRequest> {
        lock(&self.state).log.clone()
    }

    /// The packument of `name` as this server would send it, if the package exists.
    pub fn packument(&self, name: &str) -> Option<Value> {
        let state = lock(&self.state);
        packument_json(&state, name)
    }
}

impl Drop for FixtureRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, state: &Arc<Mutex<State>>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let state = Arc::clone(state);
        // Connection threads are detached: each ends with its response (or its client), and
        // the longest one lives as long as the longest configured delay.
        let _ = thread::Builder::new()
            .name("fixture-conn".into())
            .spawn(move || {
                let _ = serve(stream, &state);
            });
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

fn read_request(stream: &TcpStream) -> io::Result<Option<RecordedRequest>> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.take(64 * 1024));
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Ok(Some(RecordedRequest {
        method,
        path,
        headers,
    }))
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) -> io::Result<()> {
    let Some(request) = read_request(&stream)? else {
        return Ok(());
    };
    let (response, delay) = respond(state, &request);
    if let Some(delay) = delay {
        thread::sleep(delay);
    }
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if request.method != "HEAD" {
        stream.write_all(&response.body)?;
    }
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Decide the answer under the lock; the caller sleeps and writes outside it.
fn respond(state: &Mutex<State>, request: &RecordedRequest) -> (Response, Option<Duration>) {
    let mut state = lock(state);
    let path = normalize(request.path.split('?').next().unwrap_or(""));
    *state.counts.entry(path.clone()).or_default() += 1;
    state.log.push(request.clone());

    let mut delay = None;
    if let Some(rule) = state.rules.get_mut(&path) {
        delay = rule.delay;
        if let Some(location) = &rule.redirect {
            return (
                Response::new(302, "").header("Location", location.clone()),
                delay,
            );
        }
        if let Some((status, remaining)) = rule.fail {
            let active = remaining.is_none_or(|n| n > 0);
            if active {
                rule.fail = Some((status, remaining.map(|n| n - 1)));
                let mut response =
                    Response::new(status, format!("{{\"error\":\"injected {status}\"}}"));
                if let Some(after) = &rule.retry_after {
                    response = response.header("Retry-After", after.clone());
                }
                return (response, delay);
            }
        }
    }
    if let Some(token) = &state.token {
        let expected = format!("Bearer {token}");
        if request.header("authorization") != Some(expected.as_str()) {
            let response = Response::new(401, "{\"error\":\"authentication required\"}")
                .header("WWW-Authenticate", "Bearer");
            return (response, delay);
        }
    }
    if request.method != "GET" && request.method != "HEAD" {
        return (Response::new(405, ""), delay);
    }
    (route(&state, request, &path), delay)
}

fn route(state: &State, request: &RecordedRequest, path: &str) -> Response {
    let not_found = || Response::new(404, "{\"error\":\"Not found\"}");
    let Some(rest) = path.strip_prefix('/') else {
        return not_found();
    };
    if let Some((name, file)) = rest.split_once("/-/") {
        let name = name.replace("%2f", "/");
        let version = state
            .packages
            .get(&name)
            .and_then(|p| p.versions.values().find(|v| v.file_name == file));
        return match version {
            Some(v) => Response::new(200, v.tarball.clone())
                .header("Content-Type", "application/octet-stream"),
            None => not_found(),
        };
    }
    let name = rest.replace("%2f", "/");
    let Some(doc) = packument_json(state, &name) else {
        return not_found();
    };
    let body = doc.to_string().into_bytes();
    let accept = request.header("accept").unwrap_or_default();
    let content_type = if accept.contains("application/vnd.npm.install-v1+json") {
        "application/vnd.npm.install-v1+json"
    } else {
        "application/json"
    };
    let etag = format!("\"{}\"", &sha1_hex(&body)[..16]);
    if state.etags {
        let matches = request
            .header("if-none-match")
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        if matches {
            return Response::new(304, "").header("ETag", etag);
        }
    }
    let gzip = state.gzip
        && request
            .header("accept-encoding")
            .is_some_and(|v| v.contains("gzip"));
    let mut response = if gzip {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        match encoder.write_all(&body).and_then(|()| encoder.finish()) {
            Ok(compressed) => Response::new(200, compressed).header("Content-Encoding", "gzip"),
            Err(_) => Response::new(500, ""),
        }
    } else {
        Response::new(200, body)
    };
    response = response.header("Content-Type", content_type);
    if state.etags {
        response = response.header("ETag", etag);
    }
    response
}

fn packument_json(state: &State, name: &str) -> Option<Value> {
    let package = state.packages.get(name)?;
    let versions: Map<String, Value> = package
        .versions
        .iter()
        .map(|(version, v)| {
            let full = v.manifest.as_object().cloned().unwrap_or_default();
            let mut abbreviated: Map<String, Value> = full
                .iter()
                .filter(|(k, _)| ABBREVIATED_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let has_install_script = full
                .get("scripts")
                .and_then(Value::as_object)
                .is_some_and(|s| ["preinstall", "install", "postinstall"].iter().any(|e| s.contains_key(*e)));
            if has_install_script {
                abbreviated.insert("hasInstallScript".into(), json!(true));
            }
            abbreviated.insert(
                "dist".into(),
                {
                    // An empty hash is left out, as old registry entries (sha1 only) and
                    // some private registries (nothing) do.
                    let mut dist = json!({
                        "tarball": format!("{}{}", state.tarball_base, &FixtureRegistry::tarball_path(name, version)[1..]),
                    });
                    for (key, value) in [("integrity", &v.integrity), ("shasum", &v.shasum)] {
                        if !value.is_empty() {
                            dist[key] = Value::String(value.clone());
                        }
                    }
                    dist
                },
            );
            (version.clone(), Value::Object(abbreviated))
        })
        .collect();
    Some(json!({
        "name": name,
        "dist-tags": package.dist_tags,
        "modified": "2020-01-01T00:00:00.000Z",
        "versions": versions,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::{PackageBuilder, sri_sha512};

    /// A bare-bones GET, so the server is tested without the client under test.
    fn get(
        registry: &FixtureRegistry,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String, Vec<u8>) {
        let mut stream = TcpStream::connect(registry.addr()).unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", registry.addr());
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let status = head[9..12].parse().unwrap();
        (status, head, raw[split + 4..].to_vec())
    }

    #[test]
    fn serves_packument_and_tarball_with_matching_integrity() {
        let registry = FixtureRegistry::start().unwrap();
        let pkg = PackageBuilder::new("@s/p", "1.0.0")
            .script("postinstall", "node x.js")
            .field("description", json!("dropped from the abbreviated form"))
            .build()
            .unwrap();
        registry.add(&pkg);
        let (status, head, body) = get(
            &registry,
            "/@s%2Fp",
            &[("Accept", "application/vnd.npm.install-v1+json")],
        );
        assert_eq!(status, 200, "{head}");
        assert!(head.contains("application/vnd.npm.install-v1+json"));
        let doc: Value = serde_json::from_slice(&body).unwrap();
        let v = &doc["versions"]["1.0.0"];
        assert_eq!(v["dist"]["integrity"], pkg.integrity);
        assert_eq!(v["hasInstallScript"], true);
        assert!(v.get("description").is_none());
        let tarball_url = v["dist"]["tarball"].as_str().unwrap();
        assert_eq!(tarball_url, registry.url_of("/@s/p/-/p-1.0.0.tgz"));
        let (status, _, tgz) = get(&registry, "/@s/p/-/p-1.0.0.tgz", &[]);
        assert_eq!(status, 200);
        assert_eq!(sri_sha512(&tgz), pkg.integrity);
        assert_eq!(registry.requests("/@s%2fp"), 1);
    }

    #[test]
    fn knobs_fail_tamper_etag_and_token() {
        let registry = FixtureRegistry::start().unwrap();
        let pkg = PackageBuilder::new("p", "1.0.0").build().unwrap();
        registry.add(&pkg);
        registry.fail_times("/p", 503, 1);
        assert_eq!(get(&registry, "/p", &[]).0, 503);
        let (status, head, _) = get(&registry, "/p", &[]);
        assert_eq!(status, 200);
        let etag = head
            .lines()
            .find_map(|l| l.strip_prefix("ETag: "))
            .unwrap()
            .to_owned();
        assert_eq!(get(&registry, "/p", &[("If-None-Match", &etag)]).0, 304);

        registry.tamper_tarball("p", "1.0.0");
        let tgz = get(&registry, &FixtureRegistry::tarball_path("p", "1.0.0"), &[]).2;
        assert_ne!(sri_sha512(&tgz), pkg.integrity);

        registry.require_token(Some("t"));
        assert_eq!(get(&registry, "/p", &[]).0, 401);
        assert_eq!(
            get(&registry, "/p", &[("Authorization", "Bearer t")]).0,
            200
        );
        assert_eq!(
            get(&registry, "/missing", &[("Authorization", "Bearer t")]).0,
            404
        );
        assert_eq!(registry.requests("/p"), 5);
    }
}
