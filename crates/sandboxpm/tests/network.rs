//! `--allow-net`: the only way out is the filtering proxy, and it lets through only what was
//! granted. Loopback test servers only, plus one test against the registry npm is configured with.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::*;

/// A one-line HTTP server on 127.0.0.1 that counts the connections it accepted.
fn server(body: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let reply = format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (port, hits)
}

const FETCH: &str = r#"python3 - <<'PY'
import urllib.request, socket
for url in URLS:
    try:
        print("GOT", url, urllib.request.urlopen(url, timeout=5).read().decode())
    except Exception as e:
        print("REFUSED", url, e)
try:
    socket.create_connection(("127.0.0.1", DIRECT_PORT), timeout=2); print("DIRECT-CONNECTED")
except Exception as e:
    print("DIRECT-REFUSED", e)
PY"#;

#[test]
fn allow_net_reaches_only_the_granted_host() {
    if !require(
        backend_available("native"),
        "the native backend is unavailable here",
    ) {
        return;
    }
    let (granted, granted_hits) = server("GRANTED-BODY");
    let (other, other_hits) = server("OTHER-BODY");
    let mut backends = vec!["native"];
    if require(
        backend_available("bwrap"),
        "the bwrap backend is unavailable here",
    ) {
        backends.push("bwrap");
    }
    for (backend, identity) in backends
        .iter()
        .flat_map(|b| identities().into_iter().map(move |i| (*b, i)))
    {
        let f = Fixture::new(&identity);
        let urls = format!(
            "['http://127.0.0.1:{granted}/', 'http://127.0.0.1:{other}/', 'http://localhost:{granted}/']"
        );
        let script = FETCH
            .replace("URLS", &urls)
            .replace("DIRECT_PORT", &granted.to_string());
        let before = granted_hits.load(Ordering::SeqCst);
        let allow = format!("127.0.0.1:{granted}");
        let out = f.exec(
            backend,
            &["--allow-net", &allow],
            &["sh", "-c", &format!("{script}\n{CONTROL}")],
        );
        let t = text(&out);
        let context = format!("allow-net with {backend} as {}", identity.label());
        assert_control_ran(&out, &context);
        assert!(
            t.contains("GRANTED-BODY"),
            "{context}: the granted host was not reached:\n{t}"
        );
        assert!(
            !t.contains("OTHER-BODY"),
            "{context}: a host outside the grant was reached:\n{t}"
        );
        assert!(
            t.contains("DIRECT-REFUSED"),
            "{context}: a direct connection went through:\n{t}"
        );
        assert!(
            t.contains(&format!("blocked: connection to 127.0.0.1:{other}")),
            "{context}: refusal not reported:\n{t}"
        );
        // `localhost` resolves to loopback: refused even though the port is granted for the IP.
        assert!(
            t.contains("blocked: connection to localhost"),
            "{context}:\n{t}"
        );
        assert_eq!(
            other_hits.load(Ordering::SeqCst),
            0,
            "{context}: the other server saw a connection"
        );
        assert_eq!(
            granted_hits.load(Ordering::SeqCst),
            before + 1,
            "{context}: exactly one proxied request"
        );
    }
}

#[test]
fn allow_net_entries_are_validated() {
    let f = Fixture::new(&Identity::Root);
    let out = f.exec("native", &["--allow-net", "bad host:99999"], &["true"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out).contains("bad host:99999"), "{}", text(&out));
}

#[test]
fn allow_net_lets_npm_reach_its_registry_and_nothing_else() {
    if !require(
        backend_available("native"),
        "the native backend is unavailable here",
    ) {
        return;
    }
    // The registry comes from npm's own configuration, never from this repository.
    let Ok(out) = std::process::Command::new("npm")
        .args(["config", "get", "registry"])
        .output()
    else {
        require(false, "npm is not installed");
        return;
    };
    let registry = String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_end_matches('/')
        .to_string();
    let host = registry
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(!host.is_empty(), "npm reported no registry");
    let f = Fixture::new(&Identity::Root);
    let mut extra = vec!["--allow-net", host.as_str()];
    // This machine's TLS interception CA, when the host environment names one.
    let ca = std::env::var("NODE_EXTRA_CA_CERTS").ok();
    if ca.is_some() {
        extra.extend(["--env", "NODE_EXTRA_CA_CERTS"]);
    }
    let script = "npm view is-number name --registry \"$REG\" && python3 -c \"import urllib.request as u; u.urlopen('https://example.com/')\" 2>&1 | tail -1";
    let mut cmd = f.command(&["exec"]);
    cmd.args(&extra)
        .args(["--env", "REG", "--", "sh", "-c", script])
        .env("REG", &registry);
    if let Some(ca) = ca {
        cmd.env("NODE_EXTRA_CA_CERTS", ca);
    }
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    let t = text(&out);
    assert!(
        t.lines().any(|l| l.trim() == "is-number"),
        "npm could not reach {host} through the proxy:\n{t}"
    );
    assert!(
        t.contains("blocked: connection to example.com:443"),
        "another host was not refused:\n{t}"
    );
}
