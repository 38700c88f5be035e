//! The sandbox's only way out when the policy grants hosts: a listener on `127.0.0.1` inside the
//! network namespace that relays each connection to the filtering proxy's unix socket outside.
//!
//! Init runs it. It reaches the socket through a directory descriptor opened before
//! `pivot_root` (`/proc/self/fd/N/proxy.sock`), so the socket never appears in the sandbox's file
//! system, and init is not dumpable, so the command cannot borrow the descriptor.

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// The name of the proxy's socket inside its private directory.
pub const SOCKET_NAME: &str = "proxy.sock";

pub use crate::proxy::PROXY_VARS;

/// A bound relay, not yet serving.
#[derive(Debug)]
pub struct Bridge {
    listener: TcpListener,
    socket: PathBuf,
}

impl Bridge {
    /// Binds `127.0.0.1:0` in the current (the sandbox's) network namespace.
    pub fn bind(proxy_dir: RawFd) -> io::Result<Bridge> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let socket = PathBuf::from(format!("/proc/self/fd/{proxy_dir}/{SOCKET_NAME}"));
        Ok(Bridge { listener, socket })
    }

    /// Wraps a listener bound elsewhere (the `bwrap` backend binds it inside the sandbox's
    /// network namespace from a short-lived helper process).
    pub fn from_listener(listener: TcpListener, socket: PathBuf) -> Bridge {
        Bridge { listener, socket }
    }

    /// The port the command connects to.
    pub fn port(&self) -> io::Result<u16> {
        Ok(self.listener.local_addr()?.port())
    }

    /// Serves connections on background threads for the rest of init's life.
    pub fn serve(self) {
        std::thread::spawn(move || {
            for stream in self.listener.incoming().flatten() {
                let socket = self.socket.clone();
                std::thread::spawn(move || relay(stream, &socket));
            }
        });
    }
}

fn relay(tcp: TcpStream, socket: &std::path::Path) {
    // The proxy starts in the caller right after init is forked; a command that connects within
    // the first milliseconds may have to wait for it.
    let mut unix = UnixStream::connect(socket);
    for _ in 0..100 {
        if unix.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        unix = UnixStream::connect(socket);
    }
    let Ok(unix) = unix else {
        let _ = tcp.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(mut tcp_read), Ok(mut unix_write)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let upstream = std::thread::spawn(move || {
        let _ = io::copy(&mut tcp_read, &mut unix_write);
        let _ = unix_write.shutdown(Shutdown::Write);
    });
    let (mut unix_read, mut tcp_write) = (unix, tcp);
    let _ = io::copy(&mut unix_read, &mut tcp_write);
    let _ = tcp_write.shutdown(Shutdown::Write);
    let _ = upstream.join();
}
