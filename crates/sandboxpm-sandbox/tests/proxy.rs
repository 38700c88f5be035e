//! The proxy against loopback servers started by each test. Clients talk to the proxy's unix
//! socket directly (the in-sandbox bridge is not part of this crate). Nothing connects anywhere but
//! 127.0.0.1 or ::1, and every socket has a timeout so a broken proxy fails a test, never hangs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sandboxpm_sandbox::proxy::{BlockReason, Blocked, Proxy, ProxyRules};

const TIMEOUT: Duration = Duration::from_secs(10);

struct Fixture {
    proxy: Proxy,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

fn start(entries: &[String]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.sock");
    let proxy = Proxy::start(ProxyRules::parse(entries).unwrap(), &path).unwrap();
    Fixture {
        proxy,
        path,
        _dir: dir,
    }
}

fn client(path: &Path) -> UnixStream {
    let stream = UnixStream::connect(path).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// A TCP echo server on 127.0.0.1; the counter says how many connections it accepted.
fn echo_server() -> (u16, Arc<AtomicUsize>) {
    echo_server_on("127.0.0.1:0").unwrap()
}

fn echo_server_on(address: &str) -> std::io::Result<(u16, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind(address)?;
    let port = listener.local_addr()?.port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            thread::spawn(move || {
                stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    Ok((port, accepted))
}

/// An HTTP server on 127.0.0.1 that records each request (head and `Content-Length` body) and
/// answers `hello`.
fn http_server() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(TIMEOUT)).ok();
            let mut request = read_head(&mut stream);
            let length = request
                .lines()
                .find_map(|line| line.strip_prefix("Content-Length: "))
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            if stream.read_exact(&mut body).is_err() {
                continue;
            }
            request.push_str(&String::from_utf8_lossy(&body));
            let _ = sender.send(request);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    (port, receiver)
}

/// Reads up to and including the blank line ending an HTTP head, one byte at a time so that
/// nothing after it is consumed.
fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn read_rest(stream: &mut impl Read) -> String {
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    String::from_utf8_lossy(&rest).into_owned()
}

fn request(path: &Path, text: &str) -> String {
    let mut stream = client(path);
    stream.write_all(text.as_bytes()).unwrap();
    read_rest(&mut stream)
}

fn connect_tunnel(path: &Path, authority: &str) -> (UnixStream, String) {
    let mut stream = client(path);
    write!(
        stream,
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut stream);
    (stream, head)
}

fn echo_round_trip(stream: &mut UnixStream, message: &[u8]) {
    stream.write_all(message).unwrap();
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, message);
}

#[test]
fn connect_to_a_listed_ip_relays_bytes_both_ways() {
    let (port, accepted) = echo_server();
    let fixture = start(&[format!("127.0.0.1:{port}")]);
    let (mut stream, head) = connect_tunnel(&fixture.path, &format!("127.0.0.1:{port}"));
    assert_eq!(head, "HTTP/1.1 200 Connection Established\r\n\r\n");
    echo_round_trip(&mut stream, b"ping");
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let big = big.clone();
        thread::spawn(move || stream.write_all(&big).unwrap())
    };
    let mut back = vec![0u8; big.len()];
    stream.read_exact(&mut back).unwrap();
    writer.join().unwrap();
    assert!(back == big, "the tunnel altered the data");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    drop(stream);
    let log = fixture.proxy.stop();
    assert_eq!(log.allowed, vec![("127.0.0.1".to_string(), port)]);
    assert!(log.blocked.is_empty(), "{:?}", log.blocked);
}

#[test]
fn bytes_sent_right_after_connect_reach_the_upstream() {
    let (port, _) = echo_server();
    let fixture = start(&[format!("127.0.0.1:{port}")]);
    let mut stream = client(&fixture.path);
    // A client that does not wait for the 200 (TLS false start style) must not lose its bytes.
    write!(stream, "CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\nearly").unwrap();
    assert_eq!(
        read_head(&mut stream),
        "HTTP/1.1 200 Connection Established\r\n\r\n"
    );
    let mut back = [0u8; 5];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"early");
}

#[test]
fn a_client_half_close_still_gets_the_reply() {
    let (port, _) = echo_server();
    let fixture = start(&[format!("127.0.0.1:{port}")]);
    let (mut stream, head) = connect_tunnel(&fixture.path, &format!("127.0.0.1:{port}"));
    assert!(head.starts_with("HTTP/1.1 200"));
    stream.write_all(b"last words").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_rest(&mut stream), "last words");
}

#[test]
fn connect_to_an_unlisted_port_of_a_listed_ip_is_refused() {
    let (port, _) = echo_server();
    let (other, other_accepted) = echo_server();
    let fixture = start(&[format!("127.0.0.1:{port}")]);
    let (mut stream, head) = connect_tunnel(&fixture.path, &format!("127.0.0.1:{other}"));
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    assert!(head.contains("Connection: close\r\n"), "{head}");
    assert_eq!(
        read_rest(&mut stream),
        format!("sandboxpm: connection to 127.0.0.1:{other} refused: not in the allowlist\n")
    );
    assert_eq!(other_accepted.load(Ordering::SeqCst), 0);
    assert_eq!(
        fixture.proxy.blocked(),
        vec![Blocked {
            host: "127.0.0.1".into(),
            port: other,
            reason: BlockReason::NotAllowed
        }]
    );
    assert!(fixture.proxy.allowed().is_empty());
}

#[test]
fn an_allowed_name_resolving_to_loopback_is_refused() {
    // DNS rebinding: the name is allowed, the address it resolves to is the host's own.
    let (port, accepted) = echo_server();
    let fixture = start(&[format!("localhost:{port}")]);
    let (mut stream, head) = connect_tunnel(&fixture.path, &format!("LocalHost.:{port}"));
    assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
    let body = read_rest(&mut stream);
    assert!(
        body.starts_with(&format!(
            "sandboxpm: connection to localhost:{port} refused: it resolves to "
        )),
        "{body}"
    );
    assert!(body.contains("a loopback address"), "{body}");
    let blocked = fixture.proxy.blocked();
    assert_eq!(blocked.len(), 1);
    assert_eq!(
        (blocked[0].host.as_str(), blocked[0].port),
        ("localhost", port)
    );
    assert!(
        matches!(blocked[0].reason, BlockReason::PrivateAddress(ip) if ip.is_loopback()),
        "{blocked:?}"
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "the upstream was reached"
    );
}

#[test]
fn an_unlisted_ip_literal_is_refused_before_connecting() {
    let (port, accepted) = echo_server();
    let fixture = start(&[format!("localhost:{port}"), "*.example.org".into()]);
    for target in [
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("127.1:{port}"),
    ] {
        let (mut stream, head) = connect_tunnel(&fixture.path, &target);
        assert!(head.starts_with("HTTP/1.1 403"), "{target}: {head}");
        assert!(
            read_rest(&mut stream).contains("an IP address must be listed in the allowlist itself"),
            "{target}"
        );
    }
    let reasons: Vec<(String, BlockReason)> = fixture
        .proxy
        .blocked()
        .into_iter()
        .map(|b| (b.host, b.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("127.0.0.1".into(), BlockReason::IpLiteral),
            ("::1".into(), BlockReason::IpLiteral),
            ("127.1".into(), BlockReason::IpLiteral),
        ]
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
}

#[test]
fn a_name_outside_the_allowlist_is_refused_without_a_lookup() {
    // `.invalid` never resolves; a NotAllowed (not ResolveFailed) shows no lookup was made.
    let fixture = start(&["*.example.org".into()]);
    let (mut stream, head) = connect_tunnel(&fixture.path, "evil.invalid:443");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert_eq!(
        read_rest(&mut stream),
        "sandboxpm: connection to evil.invalid:443 refused: not in the allowlist\n"
    );
    assert_eq!(fixture.proxy.blocked()[0].reason, BlockReason::NotAllowed);
}

#[test]
fn a_plain_get_is_forwarded_in_origin_form_without_proxy_headers() {
    let (port, requests) = http_server();
    let fixture = start(&[format!("127.0.0.1:{port}")]);
    let response = request(
        &fixture.path,
        &format!(
            "GET http://127.0.0.1:{port}/x?y=1 HTTP/1.1\r\n\
             Host: evil.example\r\n\
             Proxy-Authorization: Basic c2VjcmV0\r\n\
             Proxy-Connection: keep-alive\r\n\
             Connection: keep-alive\r\n\
             User-Agent: test\r\n\r\n"
        ),
    );
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nhello"), "{response}");
    let seen = requests.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        seen,
        format!(
            "GET /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: test\r\n\
             Connection: close\r\n\r\n"
        )
    );
    assert!(!seen.contains("c2VjcmV0"));
    assert_eq!(
        fixture.proxy.allowed(),
        vec![("127.0.0.1".to_string(), port)]
    );
}

#[test]
fn a_forwarded_body_arrives_whole() {
    let (port, requests) = http_server();
    let fixture = start(&[format!("127.0.0.1:{port}")]);
    let mut stream = client(&fixture.path);
    // Part of the body with the head, the rest in a later write.
    write!(
        stream,
        "POST http://127.0.0.1:{port}/upload HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello"
    )
    .unwrap();
    thread::sleep(Duration::from_millis(50));
    stream.write_all(b" world").unwrap();
    assert!(read_rest(&mut stream).ends_with("hello"));
    let seen = requests.recv_timeout(TIMEOUT).unwrap();
    assert!(seen.starts_with("POST /upload HTTP/1.1\r\n"), "{seen}");
    assert!(seen.ends_with("\r\n\r\nhello world"), "{seen}");
}

#[test]
fn a_forward_to_an_unlisted_host_is_refused() {
    let (port, requests) = http_server();
    let fixture = start(&["registry.example".into()]);
    let response = request(
        &fixture.path,
        &format!("GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n"),
    );
    assert!(
        response.starts_with("HTTP/1.1 403 Forbidden\r\n"),
        "{response}"
    );
    assert!(requests.try_recv().is_err(), "the upstream got a request");
}

#[test]
fn a_garbage_request_gets_400() {
    let fixture = start(&["*.example.org".into()]);
    let cases = [
        "\x16\x03\x01\x00\x05hello\r\n\r\n",
        "GET /not-a-proxy-request HTTP/1.1\r\n\r\n",
        "GET https://a.example.org/ HTTP/1.1\r\n\r\n",
        "CONNECT a.example.org HTTP/1.1\r\n\r\n",
        "GET http://a.example.org/ HTTP/1.1\r\n folded\r\n\r\n",
    ];
    for case in cases {
        let response = request(&fixture.path, case);
        assert!(
            response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{case:?}: {response}"
        );
        assert!(
            response.contains("\r\n\r\nsandboxpm: bad proxy request: "),
            "{response}"
        );
    }
    let blocked = fixture.proxy.blocked();
    assert_eq!(blocked.len(), cases.len());
    assert!(blocked.iter().all(|b| b.reason == BlockReason::BadRequest));
}

#[test]
fn an_oversized_head_gets_431() {
    let fixture = start(&["*.example.org".into()]);
    let mut stream = client(&fixture.path);
    let mut text = b"GET http://a.example.org/ HTTP/1.1\r\nX-Big: ".to_vec();
    text.resize(70 * 1024, b'a');
    // The proxy may close before reading everything; a write error is fine.
    let _ = stream.write_all(&text);
    let response = read_rest(&mut stream);
    assert!(
        response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{response}"
    );
    assert_eq!(fixture.proxy.blocked()[0].reason, BlockReason::BadRequest);
}

#[test]
fn a_listed_ip_that_refuses_the_connection_is_a_502() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let fixture = start(&[format!("127.0.0.1:{closed}")]);
    let (mut stream, head) = connect_tunnel(&fixture.path, &format!("127.0.0.1:{closed}"));
    assert!(head.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{head}");
    assert_eq!(
        read_rest(&mut stream),
        format!(
            "sandboxpm: connection to 127.0.0.1:{closed} failed: no address accepted the connection\n"
        )
    );
    assert_eq!(
        fixture.proxy.blocked()[0].reason,
        BlockReason::ConnectFailed
    );
}

#[test]
fn a_listed_ipv6_literal_is_tunnelled() {
    let Ok((port, _)) = echo_server_on("[::1]:0") else {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    };
    let fixture = start(&[format!("[::1]:{port}")]);
    let (mut stream, head) = connect_tunnel(&fixture.path, &format!("[0:0::1]:{port}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    echo_round_trip(&mut stream, b"v6");
    assert_eq!(fixture.proxy.allowed(), vec![("::1".to_string(), port)]);
}

#[test]
fn the_socket_is_private_and_an_existing_path_is_not_replaced() {
    let fixture = start(&[]);
    let mode = std::fs::metadata(&fixture.path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let error = Proxy::start(ProxyRules::default(), &fixture.path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
    assert!(
        error.to_string().contains("binding the proxy socket"),
        "{error}"
    );
    assert!(
        fixture.path.exists(),
        "a failed start removed another proxy's socket"
    );
}

#[test]
fn stop_removes_the_socket_and_returns_promptly_with_a_tunnel_open() {
    let (port, _) = echo_server();
    let fixture = start(&[format!("127.0.0.1:{port}")]);
    let (mut stream, head) = connect_tunnel(&fixture.path, &format!("127.0.0.1:{port}"));
    assert!(head.starts_with("HTTP/1.1 200"));
    echo_round_trip(&mut stream, b"before stop");

    let started = Instant::now();
    let log = fixture.proxy.stop();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stop took {:?}",
        started.elapsed()
    );
    assert!(!fixture.path.exists(), "the socket file is still there");
    assert_eq!(log.allowed, vec![("127.0.0.1".to_string(), port)]);

    // The tunnel is closed: the client sees the end of the stream, not a hang.
    let waited = Instant::now();
    let mut buf = [0u8; 16];
    let read = stream.read(&mut buf);
    assert!(
        matches!(read, Ok(0)) || read.is_err() && waited.elapsed() < Duration::from_secs(5),
        "{read:?}"
    );
    assert!(waited.elapsed() < Duration::from_secs(5));
    assert!(UnixStream::connect(&fixture.path).is_err());
}

#[test]
fn three_hundred_parallel_connections_are_served_or_turned_away() {
    let (port, _) = echo_server();
    let fixture = start(&[format!("127.0.0.1:{port}")]);
    const CLIENTS: usize = 300;
    let answered = Arc::new((Mutex::new(0usize), Condvar::new()));
    let (sender, results) = mpsc::channel();
    for _ in 0..CLIENTS {
        let path = fixture.path.clone();
        let answered = Arc::clone(&answered);
        let sender = sender.clone();
        thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || {
                let (mut stream, head) = connect_tunnel(&path, &format!("127.0.0.1:{port}"));
                let status = head.get(9..12).unwrap_or("").to_string();
                if status == "200" {
                    echo_round_trip(&mut stream, b"ping");
                }
                // Hold the connection until every client has its answer, so the limit is hit.
                let (count, all) = &*answered;
                let mut count = count.lock().unwrap();
                *count += 1;
                all.notify_all();
                let deadline = Instant::now() + Duration::from_secs(30);
                while *count < CLIENTS && Instant::now() < deadline {
                    count = all
                        .wait_timeout(count, Duration::from_millis(100))
                        .unwrap()
                        .0;
                }
                drop(count);
                let _ = sender.send(status);
            })
            .unwrap();
    }
    drop(sender);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut statuses = Vec::new();
    while statuses.len() < CLIENTS {
        let left = deadline.saturating_duration_since(Instant::now());
        match results.recv_timeout(left) {
            Ok(status) => statuses.push(status),
            Err(_) => panic!(
                "deadlock: only {} of {CLIENTS} clients finished",
                statuses.len()
            ),
        }
    }
    let served = statuses.iter().filter(|s| *s == "200").count();
    let turned_away = statuses.iter().filter(|s| *s == "503").count();
    assert_eq!(
        served,
        sandboxpm_sandbox::proxy::MAX_CONNECTIONS,
        "{statuses:?}"
    );
    assert_eq!(served + turned_away, CLIENTS, "{statuses:?}");

    // Once the crowd has left, the proxy serves again.
    let wait = Instant::now();
    loop {
        let (mut stream, head) = connect_tunnel(&fixture.path, &format!("127.0.0.1:{port}"));
        if head.starts_with("HTTP/1.1 200") {
            echo_round_trip(&mut stream, b"again");
            break;
        }
        assert!(
            wait.elapsed() < TIMEOUT,
            "the proxy never recovered: {head}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn blocked_attempts_serialise_for_block_events() {
    let blocked = vec![
        Blocked {
            host: "a.example".into(),
            port: 443,
            reason: BlockReason::PrivateAddress(IpAddr::from([10, 0, 0, 1])),
        },
        Blocked {
            host: "b.example".into(),
            port: 80,
            reason: BlockReason::NotAllowed,
        },
    ];
    let json = serde_json::to_string(&blocked).unwrap();
    assert_eq!(
        json,
        r#"[{"host":"a.example","port":443,"reason":{"private_address":"10.0.0.1"}},{"host":"b.example","port":80,"reason":"not_allowed"}]"#
    );
    assert_eq!(
        serde_json::from_str::<Vec<Blocked>>(&json).unwrap(),
        blocked
    );
}

#[test]
fn stop_is_prompt_even_if_the_socket_file_was_deleted() {
    let fixture = start(&[]);
    std::fs::remove_file(&fixture.path).unwrap();
    let started = Instant::now();
    fixture.proxy.stop();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "stop took {:?}",
        started.elapsed()
    );
}

#[test]
fn stop_leaves_a_file_that_replaced_the_socket_alone() {
    let fixture = start(&[]);
    std::fs::remove_file(&fixture.path).unwrap();
    std::fs::write(&fixture.path, "someone else's").unwrap();
    fixture.proxy.stop();
    assert_eq!(
        std::fs::read_to_string(&fixture.path).unwrap(),
        "someone else's"
    );
}
