//! The sandbox's way to the network proxy on macOS: a listener on `127.0.0.1` that relays each
//! connection to the proxy's unix socket.
//!
//! On Linux the relay lives inside the sandbox's network namespace. Seatbelt has no namespaces:
//! the relay runs in the sandboxpm process, and the profile lets the command connect to its port
//! and to nothing else. The proxy behind it stays the single place where the host allowlist is
//! enforced; the relay only copies bytes, and refuses connections past the proxy's own bound so
//! that a script cannot make sandboxpm start threads without limit.

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::proxy::MAX_CONNECTIONS;

/// How often the idle accept loop looks for new connections and for [`Relay::stop`].
const ACCEPT_POLL: Duration = Duration::from_millis(10);
/// Copy threads only move bytes through a small buffer.
const COPY_STACK: usize = 64 * 1024;

/// A running relay. Dropping it stops accepting; connections in flight end with their peers.
#[derive(Debug)]
pub struct Relay {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listens on `127.0.0.1` (a port the kernel picks) and relays to the unix socket `socket`.
    pub fn start(socket: &Path) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let accept = thread::Builder::new()
            .name("sandboxpm-relay".into())
            .spawn({
                let stop = Arc::clone(&stop);
                let socket = socket.to_path_buf();
                move || accept_loop(&listener, &socket, &stop)
            })?;
        Ok(Relay {
            port,
            stop,
            accept: Some(accept),
        })
    }

    /// The loopback port the command connects to.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, socket: &Path, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let socket = socket.to_path_buf();
                let done = Arc::clone(&active);
                let spawned = thread::Builder::new()
                    .name("sandboxpm-relay-conn".into())
                    .stack_size(COPY_STACK)
                    .spawn(move || {
                        relay(stream, &socket);
                        done.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A failed accept (descriptor exhaustion) must not end the relay for good.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
}

/// Copies both ways between `tcp` and a new connection to `socket` until both sides are done.
fn relay(tcp: TcpStream, socket: &Path) {
    // The accepted socket may inherit the listener's non-blocking mode on some systems.
    let _ = tcp.set_nonblocking(false);
    let Ok(unix) = UnixStream::connect(socket) else {
        let _ = tcp.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(mut tcp_read), Ok(mut unix_write)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let upstream = thread::Builder::new()
        .stack_size(COPY_STACK)
        .spawn(move || {
            let _ = io::copy(&mut tcp_read, &mut unix_write);
            let _ = unix_write.shutdown(Shutdown::Write);
        });
    let (mut unix_read, mut tcp_write) = (unix, tcp);
    let _ = io::copy(&mut unix_read, &mut tcp_write);
    let _ = tcp_write.shutdown(Shutdown::Write);
    if let Ok(upstream) = upstream {
        let _ = upstream.join();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    use super::*;

    #[test]
    fn bytes_flow_both_ways_through_the_relay() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("proxy.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        // A stand-in for the proxy: answers each request with its reverse.
        let server = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            conn.read_to_end(&mut request).unwrap();
            request.reverse();
            conn.write_all(&request).unwrap();
        });
        let relay = Relay::start(&socket).unwrap();
        let mut client = TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
        client.write_all(b"CONNECT a.invalid:443").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "344:dilavni.a TCENNOC");
        server.join().unwrap();
        drop(relay);
    }

    #[test]
    fn a_stopped_relay_accepts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let relay = Relay::start(&dir.path().join("none.sock")).unwrap();
        let port = relay.port();
        drop(relay);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
