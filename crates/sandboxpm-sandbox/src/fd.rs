//! Descriptor plumbing shared by the Linux backends and the zygote: close-on-exec pipes, and
//! descriptors passed over a unix socket (`SCM_RIGHTS`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The most descriptors one message carries.
pub(crate) const MAX_FDS: usize = 8;

/// Room for one `SCM_RIGHTS` control message of [`MAX_FDS`] descriptors, aligned like a
/// `cmsghdr` (whose largest field is a `size_t`).
type ControlBuffer = [u64; 8];

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: a valid array of two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends one byte carrying `fds` (at most [`MAX_FDS`]).
pub(crate) fn send(socket: BorrowedFd<'_>, fds: &[RawFd]) -> io::Result<()> {
    if fds.is_empty() || fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "between 1 and 8 descriptors per message",
        ));
    }
    let mut byte = [1u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control: ControlBuffer = [0; 8];
    let data_len = std::mem::size_of_val(fds) as u32;
    // SAFETY: a zeroed msghdr is valid; every pointer set below refers to live locals.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(data_len) } as _;
    // SAFETY: msg_control points to a buffer of at least CMSG_SPACE(data_len) bytes (checked by
    // a test for MAX_FDS), so the first header and its data lie inside it.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&msg);
        if header.is_null() {
            return Err(io::Error::other("no room for the control message"));
        }
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(data_len) as _;
        std::ptr::copy_nonoverlapping(
            fds.as_ptr().cast::<u8>(),
            libc::CMSG_DATA(header),
            data_len as usize,
        );
    }
    loop {
        // SAFETY: a complete msghdr on a socket the caller holds.
        if unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) } >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Receives one message's descriptors (close-on-exec); `None` at end of file. A message whose
/// descriptors did not all fit yields none (those that arrived are closed).
pub(crate) fn receive(socket: BorrowedFd<'_>) -> io::Result<Option<Vec<OwnedFd>>> {
    let mut byte = [0u8; 16];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: byte.len(),
    };
    let mut control: ControlBuffer = [0; 8];
    // SAFETY: a zeroed msghdr is valid; every pointer set below refers to live locals.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of::<ControlBuffer>() as _;
    let got = loop {
        // SAFETY: a complete msghdr with buffers we own; received descriptors are close-on-exec.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of control messages; each
    // SCM_RIGHTS entry is a descriptor now ours.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&msg);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(header).cast::<RawFd>();
                let len = (*header).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            header = libc::CMSG_NXTHDR(&msg, header);
        }
    }
    if got == 0 && fds.is_empty() {
        return Ok(None);
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        fds.clear();
    }
    Ok(Some(fds))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn the_control_buffer_holds_the_most_descriptors() {
        // SAFETY: pure size computation.
        let space = unsafe { libc::CMSG_SPACE((MAX_FDS * size_of::<RawFd>()) as u32) };
        assert!(space as usize <= size_of::<ControlBuffer>());
    }

    #[test]
    fn descriptors_arrive_in_order_and_end_of_file_is_none() {
        let mut pair = [0 as RawFd; 2];
        // SAFETY: a valid array of two descriptors.
        assert_eq!(
            unsafe {
                libc::socketpair(
                    libc::AF_UNIX,
                    libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                    0,
                    pair.as_mut_ptr(),
                )
            },
            0
        );
        // SAFETY: new descriptors, ours.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
        let pipes: Vec<(OwnedFd, OwnedFd)> = (0..4).map(|_| pipe().unwrap()).collect();
        let ends: Vec<RawFd> = pipes.iter().map(|(_, w)| w.as_raw_fd()).collect();
        send(a.as_fd(), &ends).unwrap();
        let (readers, writers): (Vec<OwnedFd>, Vec<OwnedFd>) = pipes.into_iter().unzip();
        drop(writers);
        let received = receive(b.as_fd()).unwrap().unwrap();
        assert_eq!(received.len(), 4);
        for (i, (fd, reader)) in received.into_iter().zip(readers).enumerate() {
            std::fs::File::from(fd)
                .write_all(format!("fd{i}").as_bytes())
                .unwrap();
            let mut got = String::new();
            std::fs::File::from(reader)
                .read_to_string(&mut got)
                .unwrap();
            assert_eq!(got, format!("fd{i}"));
        }
        drop(a);
        assert!(receive(b.as_fd()).unwrap().is_none());
    }
}
