//! Just enough HTTP/1.1 to be a proxy: read a request head, parse it strictly, rewrite a forwarded
//! request, and write short replies.
//!
//! The proxy never parses bodies or responses. After the head it relays bytes both ways, and it
//! forces `Connection: close` upstream so that one client connection maps to one upstream
//! connection to one checked host. Strictness is deliberate: anything ambiguous (folded headers,
//! both `Content-Length` and `Transfer-Encoding`, stray control characters) is a `400`, because a
//! lenient proxy in front of a strict server is how request smuggling starts.

use std::io::{self, Read, Write};

use super::host::{Host, HostError, parse_authority};

/// The largest request head (request line and headers) the proxy reads.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Why no request head could be read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The client closed before sending anything: not an attempt worth reporting.
    Empty,
    /// The head did not end within [`MAX_HEAD`] bytes.
    TooLarge,
    /// The connection ended, failed or timed out in the middle of the head.
    Broken,
}

/// Reads up to the blank line that ends the head. Returns the head (without the blank line) and
/// whatever was read after it, which belongs to the body or the tunnel and must be forwarded.
pub(crate) fn read_head(reader: &mut impl Read) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut scanned = 0;
    loop {
        let read = match reader.read(&mut chunk) {
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(HeadError::Broken),
        };
        if read == 0 {
            return Err(if buf.is_empty() {
                HeadError::Empty
            } else {
                HeadError::Broken
            });
        }
        buf.extend_from_slice(&chunk[..read]);
        if let Some((head_end, body_start)) = find_head_end(&buf, scanned) {
            if head_end > MAX_HEAD {
                return Err(HeadError::TooLarge);
            }
            let rest = buf.split_off(body_start);
            buf.truncate(head_end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD + 4 {
            return Err(HeadError::TooLarge);
        }
        // The terminator may straddle two reads; rescan the last few bytes.
        scanned = buf.len().saturating_sub(3);
    }
}

/// Finds the empty line ending the head: `\n\r\n` or `\n\n` (bare LF is tolerated as a line end).
/// Returns where the head's last line ends and where the body starts.
fn find_head_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            match buf.get(i + 1..) {
                Some([b'\n', ..]) => return Some((i + 1, i + 2)),
                Some([b'\r', b'\n', ..]) => return Some((i + 1, i + 3)),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// A proxy request, parsed and checked for form (not yet for policy).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// `CONNECT host:port`: open a tunnel.
    Connect {
        /// The target host.
        host: Host,
        /// The target port.
        port: u16,
    },
    /// An absolute-form `http://` request to forward.
    Forward {
        /// The target host.
        host: Host,
        /// The target port.
        port: u16,
        /// The request head to send upstream, in origin form, ending with the blank line.
        head: Vec<u8>,
    },
}

/// Why a request head was refused before any policy check.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RequestError {
    /// Malformed or unsupported; the text is shown to the client.
    Bad(&'static str),
    /// The target host is a numeric name that the resolver would read as an IPv4 address.
    NumericHost {
        /// The host as written.
        host: String,
        /// The target port.
        port: u16,
    },
}

/// Headers that describe one hop and must not be forwarded (RFC 9110 section 7.6.1), plus
/// `Host`, which is replaced by the target's authority.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "host",
];

/// Parses a request head (without its blank line).
pub(crate) fn parse_request(head: &[u8]) -> Result<Request, RequestError> {
    let head = head.strip_suffix(b"\n").unwrap_or(head);
    let head = head.strip_suffix(b"\r").unwrap_or(head);
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let request_line = std::str::from_utf8(request_line)
        .map_err(|_| RequestError::Bad("request line is not ASCII"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Bad(
            "the request line must be `METHOD target HTTP/1.1`",
        ));
    };
    if method.is_empty() || method.len() > 32 || !method.bytes().all(is_token_byte) {
        return Err(RequestError::Bad("invalid method"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(RequestError::Bad(
            "only HTTP/1.0 and HTTP/1.1 are supported",
        ));
    }
    if target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RequestError::Bad("invalid request target"));
    }
    let headers = parse_headers(lines)?;

    if method == "CONNECT" {
        let (host, port) = authority(target, None)?;
        return Ok(Request::Connect { host, port });
    }
    let Some(rest) = strip_prefix_ignore_case(target, "http://") else {
        return Err(RequestError::Bad(
            if strip_prefix_ignore_case(target, "https://").is_some() {
                "https:// URLs must be tunnelled with CONNECT"
            } else if target.starts_with('/') {
                "not a proxy request: the target must be an absolute http:// URL"
            } else {
                "unsupported request target"
            },
        ));
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority_text, path) = rest.split_at(authority_end);
    if authority_text.contains('@') {
        return Err(RequestError::Bad(
            "credentials in the URL are not forwarded",
        ));
    }
    let (host, port) = authority(authority_text, Some(80))?;
    let path = path.split('#').next().unwrap_or_default();
    let origin = match path.as_bytes().first() {
        None => "/".to_owned(),
        Some(b'?') => format!("/{path}"),
        Some(_) => path.to_owned(),
    };
    let head = forward_head(method, &origin, version, &host, port, &headers)?;
    Ok(Request::Forward { host, port, head })
}

fn authority(text: &str, default_port: Option<u16>) -> Result<(Host, u16), RequestError> {
    parse_authority(text, default_port).map_err(|error| match error {
        HostError::NumericName => {
            // Report the host as written; the port is still needed for the log.
            let (host, port) = text
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h, p.parse().ok()?)))
                .unwrap_or((text, default_port.unwrap_or(0)));
            RequestError::NumericHost {
                host: host.to_owned(),
                port,
            }
        }
        HostError::Invalid(reason) => RequestError::Bad(reason),
    })
}

type Header<'a> = (&'a str, &'a [u8]);

fn parse_headers<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<Header<'a>>, RequestError> {
    let mut headers = Vec::new();
    for line in lines {
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return Err(RequestError::Bad("folded header lines are not accepted"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(RequestError::Bad("a header line has no `:`"))?;
        let (name, value) = line.split_at(colon);
        if name.is_empty() || !name.iter().copied().all(is_token_byte) {
            return Err(RequestError::Bad("invalid header name"));
        }
        let value = value[1..].trim_ascii();
        // Bare CR, NUL and other controls in a value are how headers get smuggled.
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(RequestError::Bad("control character in a header value"));
        }
        let name =
            std::str::from_utf8(name).map_err(|_| RequestError::Bad("invalid header name"))?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// Builds the origin-form head sent upstream: the client's headers minus hop-by-hop and `Proxy-*`
/// ones (and any the client listed in `Connection`), `Host` set to the target, `Connection: close`.
fn forward_head(
    method: &str,
    origin: &str,
    version: &str,
    host: &Host,
    port: u16,
    headers: &[Header<'_>],
) -> Result<Vec<u8>, RequestError> {
    let mut lengths = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| *value);
    if let Some(first) = lengths.next() {
        if first.is_empty() || !first.iter().all(u8::is_ascii_digit) || lengths.any(|v| v != first)
        {
            return Err(RequestError::Bad("invalid or conflicting Content-Length"));
        }
        if headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("transfer-encoding"))
        {
            return Err(RequestError::Bad(
                "both Content-Length and Transfer-Encoding are present",
            ));
        }
    }
    let named_in_connection: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(|&b| b == b','))
        .filter_map(|token| std::str::from_utf8(token.trim_ascii()).ok())
        .map(str::to_ascii_lowercase)
        .collect();

    let host_value = match port {
        80 => match host {
            Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => host.to_string(),
        },
        _ => host.authority(port),
    };
    let mut head = format!("{method} {origin} {version}\r\nHost: {host_value}\r\n").into_bytes();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        // Framing headers are kept even if listed in `Connection`: dropping them would change
        // where the body ends for the upstream server.
        let framing = lower == "content-length" || lower == "transfer-encoding";
        if HOP_BY_HOP.contains(&lower.as_str())
            || lower.starts_with("proxy-")
            || (!framing && named_in_connection.contains(&lower))
        {
            continue;
        }
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(head)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Writes a complete short reply that closes the connection.
pub(crate) fn reply(writer: &mut impl Write, status: &str, body: &str) -> io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    writer.write_all(response.as_bytes())?;
    writer.flush()
}

/// The reply that opens a tunnel.
pub(crate) const CONNECT_OK: &[u8] = b"HTTP/1.1 200 Connection Established\r\n\r\n";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn head_text(request: &Request) -> String {
        match request {
            Request::Forward { head, .. } => String::from_utf8(head.clone()).unwrap(),
            Request::Connect { .. } => panic!("not a forward"),
        }
    }

    #[test]
    fn reads_the_head_and_keeps_what_follows() {
        let mut input: &[u8] = b"CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n\x16\x03\x01tls";
        let (head, rest) = read_head(&mut input).unwrap();
        assert_eq!(head, b"CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\n");
        assert_eq!(rest, b"\x16\x03\x01tls");

        let mut bare_lf: &[u8] = b"GET http://a.example/ HTTP/1.1\nHost: a\n\nbody";
        let (head, rest) = read_head(&mut bare_lf).unwrap();
        assert_eq!(head, b"GET http://a.example/ HTTP/1.1\nHost: a\n");
        assert_eq!(rest, b"body");
    }

    #[test]
    fn a_terminator_split_across_reads_is_found() {
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let Some((&first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = first;
                self.0 = rest;
                Ok(1)
            }
        }
        let (head, rest) =
            read_head(&mut OneByte(b"CONNECT a.example:1 HTTP/1.1\r\n\r\nX")).unwrap();
        assert_eq!(head, b"CONNECT a.example:1 HTTP/1.1\r\n");
        assert_eq!(rest, b"");
    }

    #[test]
    fn oversized_and_truncated_heads() {
        let mut big = b"GET http://a.example/ HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 100, b'a');
        big.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(
            read_head(&mut big.as_slice()),
            Err(HeadError::TooLarge)
        ));
        assert!(matches!(read_head(&mut &b""[..]), Err(HeadError::Empty)));
        assert!(matches!(
            read_head(&mut &b"GET http://a/ HTTP/1.1\r\n"[..]),
            Err(HeadError::Broken)
        ));
    }

    #[test]
    fn connect_targets() {
        assert_eq!(
            parse_request(b"CONNECT Example.ORG:443 HTTP/1.1\r\nHost: x\r\n").unwrap(),
            Request::Connect {
                host: Host::Name("example.org".into()),
                port: 443
            }
        );
        assert_eq!(
            parse_request(b"CONNECT [::1]:8080 HTTP/1.1\r\n").unwrap(),
            Request::Connect {
                host: Host::Ip("::1".parse().unwrap()),
                port: 8080
            }
        );
        assert_eq!(
            parse_request(b"CONNECT 127.1:443 HTTP/1.1\r\n"),
            Err(RequestError::NumericHost {
                host: "127.1".into(),
                port: 443
            })
        );
        assert_eq!(
            parse_request(b"CONNECT example.org HTTP/1.1\r\n"),
            Err(RequestError::Bad("the target has no port"))
        );
    }

    #[test]
    fn forwarded_requests_are_rewritten_to_origin_form() {
        let request = parse_request(
            b"POST http://Upstream.example:8080/p/a?q=1#frag HTTP/1.1\r\n\
              Host: evil.example\r\n\
              Proxy-Authorization: Basic c2VjcmV0\r\n\
              Proxy-Connection: keep-alive\r\n\
              Connection: keep-alive, X-Hop\r\n\
              Keep-Alive: timeout=5\r\n\
              X-Hop: 1\r\n\
              Content-Length: 4\r\n\
              Accept: */*\r\n",
        )
        .unwrap();
        let Request::Forward { host, port, .. } = &request else {
            panic!("not a forward");
        };
        assert_eq!(
            (host, *port),
            (&Host::Name("upstream.example".into()), 8080)
        );
        assert_eq!(
            head_text(&request),
            "POST /p/a?q=1 HTTP/1.1\r\nHost: upstream.example:8080\r\n\
             Content-Length: 4\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn origin_defaults() {
        let request = parse_request(b"GET http://a.example HTTP/1.0\r\n").unwrap();
        assert_eq!(
            head_text(&request),
            "GET / HTTP/1.0\r\nHost: a.example\r\nConnection: close\r\n\r\n"
        );
        let request = parse_request(b"GET http://[::1]?x HTTP/1.1\r\n").unwrap();
        assert_eq!(
            head_text(&request),
            "GET /?x HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn garbage_is_a_bad_request() {
        let cases: &[&[u8]] = &[
            b"",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"GET",
            b"GET http://a.example/ HTTP/1.1 extra",
            b"GET  http://a.example/ HTTP/1.1",
            b"GET http://a.example/ HTTP/2",
            b"GET /local HTTP/1.1",
            b"GET https://a.example/ HTTP/1.1",
            b"GET ftp://a.example/ HTTP/1.1",
            b"GET http://user:pw@a.example/ HTTP/1.1",
            b"GET http://a.example:99999/ HTTP/1.1",
            b"GET http:///x HTTP/1.1",
            b"G(T http://a.example/ HTTP/1.1",
            b"GET http://a.example/ HTTP/1.1\r\nno colon",
            b"GET http://a.example/ HTTP/1.1\r\n folded: x",
            b"GET http://a.example/ HTTP/1.1\r\nBad Name: x",
            b"GET http://a.example/ HTTP/1.1\r\nX: a\rb",
            b"GET http://a.example/ HTTP/1.1\r\nX: a\x00b",
            b"GET http://a.example/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2",
            b"GET http://a.example/ HTTP/1.1\r\nContent-Length: -1",
            b"POST http://a.example/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked",
            b"CONNECT a.example:443/x HTTP/1.1",
        ];
        for &case in cases {
            assert!(
                matches!(parse_request(case), Err(RequestError::Bad(_))),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn framing_headers_survive_being_named_in_connection() {
        let request = parse_request(
            b"POST http://a.example/ HTTP/1.1\r\nConnection: Content-Length\r\nContent-Length: 2\r\n",
        )
        .unwrap();
        assert!(head_text(&request).contains("Content-Length: 2\r\n"));
    }

    #[test]
    fn replies_are_complete_responses() {
        let mut out = Vec::new();
        reply(&mut out, "403 Forbidden", "no\n").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 3\r\nConnection: close\r\n\r\nno\n"
        );
    }
}
