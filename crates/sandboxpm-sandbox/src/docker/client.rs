//! A minimal HTTP/1.1 client for the Docker Engine API over its unix socket.
//!
//! Why not a crate: the API needs a handful of JSON requests and one hijacked stream, all on a
//! local socket without TLS; an async HTTP stack would be the heaviest dependency of the sandbox
//! crate, and the sandbox runs from a single-threaded helper process. Every request opens its own
//! connection (`Connection: close`), which costs a `connect(2)` on a local socket and keeps the
//! parsing to "read until the body ends".
//!
//! Paths are unversioned (`/containers/create`): the daemon then speaks its own newest API
//! version, and the fields used here have kept their meaning since API 1.40.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a request to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be connected to.
    #[error("cannot reach the Docker daemon at {}: {}{}", socket.display(), kind_text(source), connect_hint(source))]
    Connect {
        /// The socket path.
        socket: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("talking to the Docker daemon ({what})")]
    Io {
        /// The request.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The daemon answered with an error status.
    #[error("the Docker daemon refused {what}: {status} {message}")]
    Api {
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The daemon's `message`, or the body.
        message: String,
    },
    /// The answer was not HTTP or not the JSON expected.
    #[error("unexpected answer from the Docker daemon to {what}: {detail}")]
    Protocol {
        /// The request.
        what: String,
        /// What was wrong.
        detail: String,
    },
}

fn kind_text(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::NotFound => "no such socket".into(),
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => err.to_string(),
    }
}

fn connect_hint(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::PermissionDenied => "; add the user to the docker group",
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => "; is dockerd running?",
        _ => "",
    }
}

impl ClientError {
    /// The HTTP status of an API refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The daemon's message of an API refusal.
    pub fn message(&self) -> Option<&str> {
        match self {
            ClientError::Api { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self, what: &str) -> Result<serde_json::Value, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Protocol {
            what: what.into(),
            detail: format!("{e}: {}", String::from_utf8_lossy(&self.body)),
        })
    }
}

/// A request whose status and headers have been read but not its body: `wait`, whose headers
/// the daemon sends once the waiter is registered and whose body comes when the container exits.
#[derive(Debug)]
pub struct Pending {
    what: String,
    status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<UnixStream>,
}

impl Pending {
    /// Reads the body, failing on a non-2xx status.
    pub fn finish(mut self) -> Result<Response, ClientError> {
        // The body only comes when the container has exited: no time limit here.
        let _ = self.reader.get_ref().set_read_timeout(None);
        let body = read_body(&mut self.reader, &self.headers, &self.what)?;
        check(
            Response {
                status: self.status,
                body,
            },
            &self.what,
        )
    }
}

/// A client of one daemon socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client of the daemon listening on `socket`.
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn connect(&self) -> Result<UnixStream, ClientError> {
        UnixStream::connect(&self.socket).map_err(|source| ClientError::Connect {
            socket: self.socket.clone(),
            source,
        })
    }

    /// Sends a request and reads its response, whatever the status.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Response, ClientError> {
        let what = format!("{method} {}", strip_query(path));
        let mut reader = self.send(method, path, body, &[], &what)?;
        read_response(&mut reader, &what)
    }

    /// Sends a request and reads its response, failing on a non-2xx status.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Response, ClientError> {
        let what = format!("{method} {}", strip_query(path));
        let response = self.raw(method, path, body)?;
        check(response, &what)
    }

    /// `POST` with a JSON body, failing on a non-2xx status.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Response, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Protocol {
            what: format!("POST {}", strip_query(path)),
            detail: e.to_string(),
        })?;
        self.request("POST", path, Some(("application/json", &bytes)))
    }

    /// Sends a request and reads only the head of the response (see [`Pending`]).
    pub fn start_request(&self, method: &str, path: &str) -> Result<Pending, ClientError> {
        let what = format!("{method} {}", strip_query(path));
        let mut reader = self.send(method, path, None, &[], &what)?;
        let (status, headers) = read_head(&mut reader, &what)?;
        Ok(Pending {
            what,
            status,
            headers,
            reader,
        })
    }

    /// Hijacks a connection for a raw stream (`attach`): sends the upgrade request, checks the
    /// `101`/`200` answer and returns the reader positioned at the first byte of the stream.
    pub fn hijack(&self, path: &str) -> Result<BufReader<UnixStream>, ClientError> {
        let what = format!("POST {}", strip_query(path));
        let mut reader = self.send(
            "POST",
            path,
            None,
            &[("Upgrade", "tcp"), ("Connection", "Upgrade")],
            &what,
        )?;
        let (status, headers) = read_head(&mut reader, &what)?;
        if status != 101 && status != 200 {
            let body = read_body(&mut reader, &headers, &what)?;
            return check(Response { status, body }, &what).map(|_| reader);
        }
        Ok(reader)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
        extra: &[(&str, &str)],
        what: &str,
    ) -> Result<BufReader<UnixStream>, ClientError> {
        let mut stream = self.connect()?;
        // No daemon answer takes this long; a hung daemon must not hang the install.
        let timeout = Some(Duration::from_secs(120));
        let io_err = |source| ClientError::Io {
            what: what.to_string(),
            source,
        };
        stream.set_write_timeout(timeout).map_err(io_err)?;
        stream.set_read_timeout(timeout).map_err(io_err)?;
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: sandboxpm\r\n");
        if extra.is_empty() {
            head.push_str("Connection: close\r\n");
        }
        for (name, value) in extra {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        match body {
            Some((content_type, bytes)) => head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                bytes.len()
            )),
            None => head.push_str("Content-Length: 0\r\n\r\n"),
        }
        stream.write_all(head.as_bytes()).map_err(io_err)?;
        if let Some((_, bytes)) = body {
            stream.write_all(bytes).map_err(io_err)?;
        }
        stream.flush().map_err(io_err)?;
        Ok(BufReader::new(stream))
    }
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn check(response: Response, what: &str) -> Result<Response, ClientError> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let message = serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&response.body).trim().to_string());
    Err(ClientError::Api {
        what: what.to_string(),
        status: response.status,
        message,
    })
}

/// Reads a whole response from `reader`.
pub fn read_response<R: BufRead>(reader: &mut R, what: &str) -> Result<Response, ClientError> {
    let (status, headers) = read_head(reader, what)?;
    let body = read_body(reader, &headers, what)?;
    Ok(Response { status, body })
}

fn protocol(what: &str, detail: impl Into<String>) -> ClientError {
    ClientError::Protocol {
        what: what.to_string(),
        detail: detail.into(),
    }
}

/// The status and the headers (names lowercased).
fn read_head<R: BufRead>(
    reader: &mut R,
    what: &str,
) -> Result<(u16, Vec<(String, String)>), ClientError> {
    let mut line = String::new();
    read_line(reader, &mut line, what)?;
    let mut parts = line.split_whitespace();
    let status = match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => code
            .parse::<u16>()
            .map_err(|_| protocol(what, format!("bad status line {line:?}")))?,
        _ => return Err(protocol(what, format!("bad status line {line:?}"))),
    };
    let mut headers = Vec::new();
    loop {
        line.clear();
        read_line(reader, &mut line, what)?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    Ok((status, headers))
}

fn read_line<R: BufRead>(reader: &mut R, line: &mut String, what: &str) -> Result<(), ClientError> {
    let n = reader.read_line(line).map_err(|source| ClientError::Io {
        what: what.to_string(),
        source,
    })?;
    if n == 0 {
        return Err(protocol(
            what,
            "connection closed before the response ended",
        ));
    }
    Ok(())
}

fn read_body<R: BufRead>(
    reader: &mut R,
    headers: &[(String, String)],
    what: &str,
) -> Result<Vec<u8>, ClientError> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let io_err = |source| ClientError::Io {
        what: what.to_string(),
        source,
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut line = String::new();
        loop {
            line.clear();
            read_line(reader, &mut line, what)?;
            let size = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| protocol(what, format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    line.clear();
                    read_line(reader, &mut line, what)?;
                    if line.trim().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).map_err(io_err)?;
            line.clear();
            read_line(reader, &mut line, what)?;
        }
    }
    match header("content-length") {
        Some(len) => {
            let len: usize = len
                .parse()
                .map_err(|_| protocol(what, format!("bad content length {len:?}")))?;
            body.resize(len, 0);
            reader.read_exact(&mut body).map_err(io_err)?;
        }
        None => {
            reader.read_to_end(&mut body).map_err(io_err)?;
        }
    }
    Ok(body)
}

/// Which stream a frame of a multiplexed (`Tty: false`) attach stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// The command's standard output.
    Stdout,
    /// The command's standard error.
    Stderr,
}

/// Demultiplexes the attach stream: 8-byte headers (`[kind, 0, 0, 0, size as u32 big-endian]`)
/// each followed by `size` bytes. Bytes may arrive in any split; this keeps the partial frame.
#[derive(Debug, Default)]
pub struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    /// Adds `bytes` and returns every complete frame.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(StreamKind, Vec<u8>)> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut at = 0;
        while self.buf.len() - at >= 8 {
            let head = &self.buf[at..at + 8];
            let size = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
            if self.buf.len() - at - 8 < size {
                break;
            }
            // 0 is stdin (never attached here); anything but stdout goes to stderr.
            let kind = if head[0] == 1 {
                StreamKind::Stdout
            } else {
                StreamKind::Stderr
            };
            out.push((kind, self.buf[at + 8..at + 8 + size].to_vec()));
            at += 8 + size;
        }
        self.buf.drain(..at);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn chunked_bodies_are_decoded() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"St\r\n9\r\natusCode\"\r\n4\r\n:137\r\n1\r\n}\r\n0\r\n\r\n";
        let r = read_response(&mut &raw[..], "wait").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json("wait").unwrap()["StatusCode"], 137);
    }

    #[test]
    fn content_length_and_errors() {
        let raw = b"HTTP/1.1 404 Not Found\r\ncontent-length: 29\r\n\r\n{\"message\":\"no such image\"}\n\n";
        let r = read_response(&mut &raw[..], "inspect").unwrap();
        let err = check(r, "GET /images/x/json").unwrap_err();
        assert_eq!(err.status(), Some(404));
        assert_eq!(
            err.to_string(),
            "the Docker daemon refused GET /images/x/json: 404 no such image"
        );
    }

    #[test]
    fn permission_denied_says_what_to_do() {
        let err = ClientError::Connect {
            socket: "/var/run/docker.sock".into(),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(
            err.to_string(),
            "cannot reach the Docker daemon at /var/run/docker.sock: permission denied; add the user to the docker group"
        );
    }

    #[test]
    fn frames_are_demultiplexed_across_reads() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 3]);
        stream.extend_from_slice(b"out");
        stream.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 4]);
        stream.extend_from_slice(b"err\n");
        let mut demux = Demux::default();
        let mut frames = Vec::new();
        for chunk in stream.chunks(5) {
            frames.extend(demux.push(chunk));
        }
        assert_eq!(
            frames,
            vec![
                (StreamKind::Stdout, b"out".to_vec()),
                (StreamKind::Stderr, b"err\n".to_vec())
            ]
        );
    }
}
