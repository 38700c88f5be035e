//! The proxy relay's listener, bound inside the network namespace bubblewrap created.
//!
//! With a network allowlist the sandbox's only way out is `127.0.0.1:PORT` inside its own
//! network namespace, relayed to the filtering proxy outside (as in the native backend). No code
//! of ours runs inside a bubblewrap sandbox, so the listener is made from outside: a forked
//! helper enters the namespace's owning user namespace (where the caller's uid holds every
//! capability: it created it) and then the network namespace, binds the port, and sends the
//! listening socket back over a socketpair. A socket belongs to the namespace it was created in
//! for its whole life, so the relay threads of this process accept the sandbox's connections.
//! The helper never runs sandboxed code and exits at once; the command is still held back by
//! `--block-fd` while this happens.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// `NS_GET_USERNS` (`_IO(0xb7, 0x1)`): the user namespace owning a namespace.
const NS_GET_USERNS: libc::c_ulong = 0xb701;

/// Binds `127.0.0.1:port` in the network namespace of process `pid`. The caller must be
/// single-threaded (the helper is forked).
pub fn listener(pid: u32, port: u16) -> io::Result<TcpListener> {
    let net = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    // SAFETY: an ioctl without argument on a namespace descriptor; it returns a new descriptor.
    let user = unsafe { libc::ioctl(net.as_raw_fd(), NS_GET_USERNS) };
    if user < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    let user = unsafe { OwnedFd::from_raw_fd(user) };
    let mut pair = [0; 2];
    // SAFETY: a valid array of two descriptors.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };

    // SAFETY: the caller is single-threaded, so the child may run ordinary code; it leaves with
    // _exit and never returns into the caller's.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(io::Error::last_os_error());
    }
    if child == 0 {
        drop(ours);
        let code = match enter_and_bind(&user, net.as_raw_fd(), &theirs, port) {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
        };
        // SAFETY: leaving the helper without running the caller's destructors.
        unsafe { libc::_exit(code.clamp(0, 255)) };
    }
    drop(theirs);
    let received = receive_fd(&ours);
    let mut status = 0;
    // SAFETY: reaping our own child; valid out-pointer.
    while unsafe { libc::waitpid(child, &mut status, 0) } < 0 {
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    match received {
        Ok(fd) => Ok(TcpListener::from(fd)),
        Err(_) if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0 => {
            Err(io::Error::from_raw_os_error(libc::WEXITSTATUS(status)))
        }
        Err(e) => Err(e),
    }
}

/// The helper: enter the namespaces, bind, send the socket.
fn enter_and_bind(user: &OwnedFd, net: RawFd, channel: &OwnedFd, port: u16) -> io::Result<()> {
    // The user namespace first: it grants the capabilities that joining its network namespace
    // requires.
    // SAFETY: setns on descriptors we hold; the helper is single-threaded.
    if unsafe { libc::setns(user.as_raw_fd(), libc::CLONE_NEWUSER) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::setns(net, libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // bubblewrap brings `lo` up right after creating the namespace; until then the address does
    // not exist yet.
    let deadline = Instant::now() + Duration::from_secs(5);
    let listener = loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => break listener,
            Err(e)
                if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    };
    send_fd(channel, listener.as_raw_fd())
}

fn send_fd(channel: &OwnedFd, fd: RawFd) -> io::Result<()> {
    crate::fd::send(channel.as_fd(), &[fd])
}

fn receive_fd(channel: &OwnedFd) -> io::Result<OwnedFd> {
    crate::fd::receive(channel.as_fd())?
        .and_then(|fds| fds.into_iter().next())
        .ok_or_else(|| io::Error::other("the namespace helper sent no listening socket"))
}
