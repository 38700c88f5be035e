//! The proxy server: a unix socket, one thread per connection, and the gate each request passes.
//!
//! The socket, not a TCP port, is the proxy's only entrance, because the sandboxed command lives in
//! its own network namespace and reaches the proxy through a bridge that forwards each of its TCP
//! connections here. The socket is made `0600` after binding; the caller should still put it in a
//! directory only the user can enter, since the mode is the umask's until the `chmod`.
//!
//! Threads are bounded ([`MAX_CONNECTIONS`]); past the bound a client gets `503` at once instead of
//! queueing, so a script cannot pin the sandboxpm process by opening connections. [`Proxy::stop`]
//! shuts down every live socket, which wakes the threads blocked on them, so an open tunnel never
//! keeps an install waiting.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::address::non_public_kind;
use super::host::Host;
use super::http::{CONNECT_OK, HeadError, Request, RequestError, parse_request, read_head, reply};
use super::rules::ProxyRules;

/// The most connections served at once; further ones are answered `503 Service Unavailable`.
pub const MAX_CONNECTIONS: usize = 256;

/// How long connecting to the upstream host may take, over all its addresses.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long writing a refusal or error reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle accept thread looks for new connections and for `stop`. Polling a
/// non-blocking listener needs no wake-up trick, so `stop` works even if the socket file was
/// deleted under us.
const ACCEPT_POLL: Duration = Duration::from_millis(10);
/// How long the accept thread may block writing a `503` to a client that does not read.
const OVERLOAD_REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long `stop` waits for threads after closing their sockets. Threads still resolving a name
/// cannot be interrupted; they are left to finish on their own and find their sockets closed.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Attempts recorded at most, so a script retrying in a loop cannot grow the log without bound.
const MAX_LOGGED: usize = 4096;
/// Connection threads resolve names through the system resolver, which wants some stack.
const CONNECTION_STACK: usize = 512 * 1024;
/// Relay threads only copy through a 16 KiB buffer.
const RELAY_STACK: usize = 64 * 1024;

/// Why the proxy refused a connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    /// The host and port match no allowlist entry.
    NotAllowed,
    /// The name is allowed but resolves to this loopback, private, link-local or otherwise
    /// non-public address, which is not listed itself.
    PrivateAddress(IpAddr),
    /// The target is an IP address that the allowlist does not list.
    IpLiteral,
    /// The request was not a well-formed proxy request.
    BadRequest,
    /// The allowed name could not be resolved.
    ResolveFailed,
    /// No address of the allowed host accepted a connection in time.
    ConnectFailed,
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockReason::NotAllowed => f.write_str("not in the allowlist"),
            BlockReason::PrivateAddress(ip) => write!(
                f,
                "it resolves to {ip}, a {} address, which only an IP entry in the allowlist can grant",
                non_public_kind(*ip).unwrap_or("non-public")
            ),
            BlockReason::IpLiteral => {
                f.write_str("an IP address must be listed in the allowlist itself")
            }
            BlockReason::BadRequest => f.write_str("malformed proxy request"),
            BlockReason::ResolveFailed => f.write_str("the name could not be resolved"),
            BlockReason::ConnectFailed => f.write_str("no address accepted the connection"),
        }
    }
}

/// A refused connection attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Blocked {
    /// The target host as requested (lower-cased; IPv6 without brackets); empty for a malformed
    /// request.
    pub host: String,
    /// The target port; 0 for a malformed request.
    pub port: u16,
    /// Why it was refused.
    pub reason: BlockReason,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(
                f,
                "connection to {} refused: {}",
                authority(&self.host, self.port),
                self.reason
            )
        }
    }
}

/// What went through the proxy and what was refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyLog {
    /// Refused attempts, in order (at most the first 4096).
    pub blocked: Vec<Blocked>,
    /// Each distinct `host:port` that was connected to, in first-use order.
    pub allowed: Vec<(String, u16)>,
}

/// A running proxy. Dropping it stops it, like [`Proxy::stop`].
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    socket_path: PathBuf,
    /// Device and inode of the socket we bound, so that `stop` removes only our own file.
    socket_id: (u64, u64),
    accept: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    rules: ProxyRules,
    stopping: AtomicBool,
    live: Mutex<Live>,
    /// Signalled whenever a connection ends.
    idle: Condvar,
    log: Mutex<ProxyLog>,
}

/// The connections being served, with handles to their sockets so that `stop` can close them.
#[derive(Debug, Default)]
struct Live {
    next_id: u64,
    active: usize,
    sockets: HashMap<u64, Vec<Socket>>,
}

#[derive(Debug)]
enum Socket {
    Client(UnixStream),
    Upstream(TcpStream),
}

impl Socket {
    fn close(&self) {
        let _ = match self {
            Socket::Client(stream) => stream.shutdown(Shutdown::Both),
            Socket::Upstream(stream) => stream.shutdown(Shutdown::Both),
        };
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection thread must not take the proxy (or the install) down with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Proxy {
    /// Binds a unix socket at `socket_path` (which must not exist), makes it `0600`, and serves
    /// connections with `rules` until stopped.
    pub fn start(rules: ProxyRules, socket_path: &Path) -> io::Result<Proxy> {
        let context = |error: io::Error, what: &str| {
            io::Error::new(
                error.kind(),
                format!("{what} the proxy socket {}: {error}", socket_path.display()),
            )
        };
        let listener = UnixListener::bind(socket_path).map_err(|e| context(e, "binding"))?;
        let secured = fs::set_permissions(socket_path, fs::Permissions::from_mode(0o600))
            .and_then(|()| listener.set_nonblocking(true))
            .and_then(|()| fs::symlink_metadata(socket_path));
        let metadata = match secured {
            Ok(metadata) => metadata,
            Err(error) => {
                let _ = fs::remove_file(socket_path);
                return Err(context(error, "securing"));
            }
        };
        let shared = Arc::new(Shared {
            rules,
            stopping: AtomicBool::new(false),
            live: Mutex::new(Live::default()),
            idle: Condvar::new(),
            log: Mutex::new(ProxyLog::default()),
        });
        let accept = thread::Builder::new()
            .name("sandboxpm-proxy".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || accept_loop(&shared, &listener)
            });
        let accept = match accept {
            Ok(accept) => accept,
            Err(error) => {
                let _ = fs::remove_file(socket_path);
                return Err(context(error, "serving"));
            }
        };
        Ok(Proxy {
            shared,
            socket_path: socket_path.to_owned(),
            socket_id: (metadata.dev(), metadata.ino()),
            accept: Some(accept),
        })
    }

    /// The socket the proxy listens on.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The refused attempts so far.
    pub fn blocked(&self) -> Vec<Blocked> {
        lock(&self.shared.log).blocked.clone()
    }

    /// Each distinct `host:port` connected to so far.
    pub fn allowed(&self) -> Vec<(String, u16)> {
        lock(&self.shared.log).allowed.clone()
    }

    /// Stops accepting, removes the socket file, closes live connections and returns the final
    /// log. Returns within a few seconds even if connections are open or hosts are unresponsive.
    pub fn stop(mut self) -> ProxyLog {
        self.shutdown();
        lock(&self.shared.log).clone()
    }

    fn shutdown(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + STOP_GRACE;
        while !accept.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        if accept.is_finished() {
            let _ = accept.join();
        }
        self.remove_socket();

        let mut live = lock(&self.shared.live);
        for socket in live.sockets.values().flatten() {
            socket.close();
        }
        while live.active > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            live = match self.shared.idle.wait_timeout(live, left) {
                Ok((live, _)) => live,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    fn remove_socket(&self) {
        // Someone may have replaced the path since; only our own socket is removed.
        if let Ok(metadata) = fs::symlink_metadata(&self.socket_path)
            && (metadata.dev(), metadata.ino()) == self.socket_id
        {
            let _ = fs::remove_file(&self.socket_path);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    fn block(&self, host: String, port: u16, reason: BlockReason) {
        let mut log = lock(&self.log);
        if log.blocked.len() < MAX_LOGGED {
            log.blocked.push(Blocked { host, port, reason });
        }
    }

    fn allow(&self, host: String, port: u16) {
        let mut log = lock(&self.log);
        let entry = (host, port);
        if log.allowed.len() < MAX_LOGGED && !log.allowed.contains(&entry) {
            log.allowed.push(entry);
        }
    }

    /// Records a socket of connection `id` so that `stop` can close it. If `stop` has already
    /// swept, the socket is closed at once.
    fn register(&self, id: u64, socket: Socket) {
        let mut live = lock(&self.live);
        if self.stopping.load(Ordering::SeqCst) {
            socket.close();
        }
        if let Some(sockets) = live.sockets.get_mut(&id) {
            sockets.push(socket);
        }
    }

    fn finish(&self, id: u64) -> Vec<Socket> {
        let mut live = lock(&self.live);
        live.active = live.active.saturating_sub(1);
        let sockets = live.sockets.remove(&id).unwrap_or_default();
        self.idle.notify_all();
        sockets
    }
}

/// Ends a connection's bookkeeping however its thread exits.
struct Finished<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.shared.finish(self.id);
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &UnixListener) {
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                // Some systems pass the listener's non-blocking mode on to accepted sockets.
                if client.set_nonblocking(false).is_ok() {
                    admit(shared, client);
                }
            }
            // Nothing waiting, out of descriptors, or a client gone before accept: wait a little
            // rather than spin.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
}

fn admit(shared: &Arc<Shared>, client: UnixStream) {
    let Ok(handle) = client.try_clone() else {
        return overloaded(client);
    };
    let id = {
        let mut live = lock(&shared.live);
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        if live.active >= MAX_CONNECTIONS {
            drop(live);
            return overloaded(client);
        }
        live.active += 1;
        live.next_id += 1;
        let id = live.next_id;
        live.sockets.insert(id, vec![Socket::Client(handle)]);
        id
    };
    let spawned = thread::Builder::new()
        .name("sandboxpm-proxy-conn".into())
        .stack_size(CONNECTION_STACK)
        .spawn({
            let shared = Arc::clone(shared);
            move || {
                let _finished = Finished {
                    shared: &shared,
                    id,
                };
                serve(&shared, id, client);
            }
        });
    if spawned.is_err() {
        for socket in shared.finish(id) {
            if let Socket::Client(client) = socket {
                overloaded(client);
            }
        }
    }
}

fn overloaded(mut client: UnixStream) {
    let _ = client.set_write_timeout(Some(OVERLOAD_REPLY_TIMEOUT));
    let _ = reply(
        &mut client,
        "503 Service Unavailable",
        &format!("sandboxpm: too many proxy connections (at most {MAX_CONNECTIONS} at a time)\n"),
    );
}

fn serve(shared: &Shared, id: u64, mut client: UnixStream) {
    let _ = client.set_read_timeout(Some(HEAD_TIMEOUT));
    let _ = client.set_write_timeout(Some(REPLY_TIMEOUT));
    let (head, early) = match read_head(&mut client) {
        Ok(read) => read,
        Err(HeadError::TooLarge) => {
            shared.block(String::new(), 0, BlockReason::BadRequest);
            let _ = reply(
                &mut client,
                "431 Request Header Fields Too Large",
                "sandboxpm: bad proxy request: the request head is larger than 64 KiB\n",
            );
            return;
        }
        // Nothing, or half a head before the client left: no one to answer.
        Err(HeadError::Empty | HeadError::Broken) => return,
    };
    let request = match parse_request(&head) {
        Ok(request) => request,
        Err(RequestError::Bad(why)) => {
            shared.block(String::new(), 0, BlockReason::BadRequest);
            let _ = reply(
                &mut client,
                "400 Bad Request",
                &format!("sandboxpm: bad proxy request: {why}\n"),
            );
            return;
        }
        Err(RequestError::NumericHost { host, port }) => {
            return refuse(shared, &mut client, host, port, BlockReason::IpLiteral);
        }
    };
    let (host, port) = match &request {
        Request::Connect { host, port } | Request::Forward { host, port, .. } => (host, *port),
    };
    let upstream = match open(&shared.rules, host, port) {
        Ok(upstream) => upstream,
        Err(reason) => return refuse(shared, &mut client, host.to_string(), port, reason),
    };
    if let Ok(handle) = upstream.try_clone() {
        shared.register(id, Socket::Upstream(handle));
    }
    shared.allow(host.to_string(), port);

    let sent = match &request {
        Request::Connect { .. } => client.write_all(CONNECT_OK),
        Request::Forward { head, .. } => (&upstream).write_all(head),
    };
    // Bytes the client sent after its head (a TLS hello, a request body) go upstream first.
    if sent.and_then(|()| (&upstream).write_all(&early)).is_err() {
        return;
    }
    // From here on the connection is the client's: idle tunnels are normal, `stop` ends them.
    let _ = client.set_read_timeout(None);
    let _ = client.set_write_timeout(None);
    relay(client, upstream);
}

fn refuse(shared: &Shared, client: &mut UnixStream, host: String, port: u16, reason: BlockReason) {
    let (status, outcome) = match reason {
        BlockReason::ResolveFailed | BlockReason::ConnectFailed => ("502 Bad Gateway", "failed"),
        _ => ("403 Forbidden", "refused"),
    };
    let body = format!(
        "sandboxpm: connection to {} {outcome}: {reason}\n",
        authority(&host, port)
    );
    shared.block(host, port, reason);
    let _ = reply(client, status, &body);
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Applies the policy to a target and connects to it.
///
/// The allowlist is checked before any DNS query, so names nobody allowed are never looked up
/// (a lookup alone can carry data out). A name is refused if *any* of its addresses is non-public
/// and unlisted: a mix of public and private answers is what a rebinding attack serves, and trying
/// addresses in order would reach the private one as soon as the public one fails.
fn open(rules: &ProxyRules, host: &Host, port: u16) -> Result<TcpStream, BlockReason> {
    let addresses: Vec<SocketAddr> = match host {
        Host::Ip(ip) => {
            if !rules.lists_ip(*ip, port) {
                // A listed address on another port is an ordinary miss; an unlisted address is
                // the more telling refusal of a literal.
                return Err(if rules.mentions_ip(*ip) {
                    BlockReason::NotAllowed
                } else {
                    BlockReason::IpLiteral
                });
            }
            vec![SocketAddr::new(*ip, port)]
        }
        Host::Name(name) => {
            if !rules.allows_name(name, port) {
                return Err(BlockReason::NotAllowed);
            }
            let addresses: Vec<SocketAddr> = (name.as_str(), port)
                .to_socket_addrs()
                .map_err(|_| BlockReason::ResolveFailed)?
                .collect();
            if addresses.is_empty() {
                return Err(BlockReason::ResolveFailed);
            }
            if let Some(private) = addresses.iter().find(|address| {
                non_public_kind(address.ip()).is_some() && !rules.lists_ip(address.ip(), port)
            }) {
                return Err(BlockReason::PrivateAddress(private.ip()));
            }
            addresses
        }
    };
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    for address in &addresses {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        if let Ok(stream) = TcpStream::connect_timeout(address, left) {
            let _ = stream.set_nodelay(true);
            return Ok(stream);
        }
    }
    Err(BlockReason::ConnectFailed)
}

/// Copies bytes both ways until the exchange is over.
///
/// The client's end of input only half-closes the upstream socket, so a response can still
/// arrive; the server's end of output ends everything, since nothing useful can follow it.
fn relay(client: UnixStream, upstream: TcpStream) {
    let close_both = |client: &UnixStream, upstream: &TcpStream| {
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
    };
    let (Ok(client_out), Ok(upstream_in)) = (client.try_clone(), upstream.try_clone()) else {
        return close_both(&client, &upstream);
    };
    let downstream = thread::Builder::new()
        .name("sandboxpm-proxy-relay".into())
        .stack_size(RELAY_STACK)
        .spawn(move || {
            let _ = pump(&upstream_in, &client_out);
            close_both(&client_out, &upstream_in);
        });
    let Ok(downstream) = downstream else {
        return close_both(&client, &upstream);
    };
    match pump(&client, &upstream) {
        Ok(()) => {
            let _ = upstream.shutdown(Shutdown::Write);
        }
        Err(_) => close_both(&client, &upstream),
    }
    let _ = downstream.join();
}

fn pump(mut from: impl Read, mut to: impl Write) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        to.write_all(&buf[..read])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_texts() {
        let blocked = Blocked {
            host: "evil.example".into(),
            port: 443,
            reason: BlockReason::NotAllowed,
        };
        assert_eq!(
            blocked.to_string(),
            "connection to evil.example:443 refused: not in the allowlist"
        );
        let private = Blocked {
            host: "::1".into(),
            port: 80,
            reason: BlockReason::PrivateAddress(
                "::ffff:10.0.0.1".parse().unwrap_or(IpAddr::from([0; 4])),
            ),
        };
        assert_eq!(
            private.to_string(),
            "connection to [::1]:80 refused: it resolves to ::ffff:10.0.0.1, a private address, \
             which only an IP entry in the allowlist can grant"
        );
    }
}
