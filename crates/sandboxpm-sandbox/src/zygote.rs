//! A helper started once that forks for each request, instead of one re-execution per request.
//!
//! Re-executing `sandboxpm` for every install script costs a dynamic load and relocation of the
//! whole binary, its runtime start-up and the request's parsing before any sandbox work begins
//! (about 2.5 ms of a sandboxed script's set-up here). The zygote is `sandboxpm sandbox-helper
//! --serve`: a fresh single-threaded process, started once per install, that reads requests from
//! a `SOCK_SEQPACKET` socket on its standard input and forks a child for each. The child is
//! exactly the process a re-executed helper would be (single-threaded, nothing of the installer
//! in it): it runs the request with the standard output and error it was sent, writes its exit
//! code to the status pipe it was sent, and exits.
//!
//! A message is one byte with four descriptors: a sealed memfd holding the request (JSON, as in a
//! request file, but never on disk) and the write ends of the child's stdout, stderr and status
//! pipes; a *held* request adds a fifth, its end of the [`Gate`] socket pair. Its child builds the
//! sandbox and waits behind the gate, so a caller can prepare the next script while the current
//! one runs and start it at once ([`Submitted::start`]), then learn when it has started
//! ([`Submitted::wait_started`]); dropping the submission unopened cancels it before anything
//! of the script ran. The zygote keeps nothing of a request once its child is forked, so one
//! request's descriptors never reach another's child. It exits when its socket is closed.
//!
//! Started with [`Zygote::start_with`], its first message (one descriptor, a memfd holding a
//! [`SlotsSetup`]) makes it create the [tripwire slots](crate::tripwire::Slots) before it serves
//! anything: the slots' watches live as long as the zygote, so no sandbox pays for setting one
//! up or tearing one down. A request naming a slot ([`Request::tripwire_slot`]) gets it in its
//! child. The caller gives each slot to one request at a time.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::{Child, Stdio};

use crate::Gate;
use crate::fd::{self, pipe};
use crate::helper::{Request, SUBCOMMAND};
use crate::tripwire::{Slot, Slots, SlotsSetup};

/// The `sandbox-helper` flag that makes it a zygote.
pub const SERVE_FLAG: &str = "--serve";

/// Descriptors per request: the request, stdout, stderr, status; a held request adds its gate.
const FDS: usize = 4;

/// A running zygote. Dropping it closes the socket, which ends the zygote; requests already
/// forked finish on their own.
#[derive(Debug)]
pub struct Zygote {
    socket: OwnedFd,
    child: Option<Child>,
}

/// What a submitted request's child gives back.
#[derive(Debug)]
pub struct Submitted {
    /// The child's standard output.
    pub stdout: File,
    /// The child's standard error.
    pub stderr: File,
    /// Where the child writes its exit code (see [`Submitted::wait`]).
    status: File,
    /// Our end of a held request's gate.
    gate: Option<File>,
}

impl Submitted {
    /// Lets a held request's command start (nothing for one submitted with [`Zygote::submit`]).
    pub fn start(&mut self) -> io::Result<()> {
        match &mut self.gate {
            Some(gate) => gate.write_all(&[1]),
            None => Ok(()),
        }
    }

    /// After [`Submitted::start`], waits until the command has started: `true`, or `false` when
    /// it never will (its sandbox could not be built; its output says why) or it was not held.
    pub fn wait_started(&mut self) -> bool {
        let mut byte = [0u8; 1];
        self.gate
            .as_mut()
            .is_some_and(|gate| gate.read_exact(&mut byte).is_ok())
    }

    /// Cancels a held request that has not been started: its command never runs, and its child
    /// ends with the helper's error code (`None` if it was killed).
    pub fn cancel(mut self) -> Option<i32> {
        drop(self.gate.take());
        self.wait()
    }

    /// Waits for the child's exit code (after its output has been read to the end). `None` when
    /// it ended without writing one, i.e. it was killed.
    pub fn wait(mut self) -> Option<i32> {
        let mut code = [0u8; 4];
        self.status.read_exact(&mut code).ok()?;
        Some(i32::from_le_bytes(code))
    }
}

impl Zygote {
    /// Starts `exe sandbox-helper --serve`.
    pub fn start(exe: &Path) -> io::Result<Zygote> {
        let (ours, theirs) = seqpacket_pair()?;
        let child = std::process::Command::new(exe)
            .arg(SUBCOMMAND)
            .arg(SERVE_FLAG)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Zygote {
            socket: ours,
            child: Some(child),
        })
    }

    /// [`Zygote::start`], with tripwire slots made as `setup` says before the first request.
    pub fn start_with(exe: &Path, setup: &SlotsSetup) -> io::Result<Zygote> {
        let zygote = Zygote::start(exe)?;
        let memfd = json_memfd(setup)?;
        fd::send(zygote.socket.as_fd(), &[memfd.as_raw_fd()])?;
        Ok(zygote)
    }

    /// Hands `request` to the zygote. Fails when the zygote is gone.
    pub fn submit(&self, request: &Request) -> io::Result<Submitted> {
        self.send(request, false)
    }

    /// Hands `request` to the zygote, held: its sandbox is built, and its command waits until
    /// [`Submitted::start`]. Dropping the submission before that cancels it.
    pub fn submit_held(&self, request: &Request) -> io::Result<Submitted> {
        self.send(request, true)
    }

    fn send(&self, request: &Request, held: bool) -> io::Result<Submitted> {
        let memfd = json_memfd(request)?;
        let (stdout, stdout_w) = pipe()?;
        let (stderr, stderr_w) = pipe()?;
        let (status, status_w) = pipe()?;
        let gate = held.then(stream_pair).transpose()?;
        let mut fds = vec![
            memfd.as_raw_fd(),
            stdout_w.as_raw_fd(),
            stderr_w.as_raw_fd(),
            status_w.as_raw_fd(),
        ];
        if let Some((theirs, _)) = &gate {
            fds.push(theirs.as_raw_fd());
        }
        fd::send(self.socket.as_fd(), &fds)?;
        // Our copies of the child's ends close here: the child holds the only ones, so each pipe
        // ends when it (and whatever it started) is done. Of the gate we keep our end only.
        drop((memfd, stdout_w, stderr_w, status_w));
        Ok(Submitted {
            stdout: File::from(stdout),
            stderr: File::from(stderr),
            status: File::from(status),
            gate: gate.map(|(_, ours)| File::from(ours)),
        })
    }
}

/// A request (or the setup) as JSON in an anonymous, sealed memory file.
fn json_memfd(value: &impl serde::Serialize) -> io::Result<OwnedFd> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    // SAFETY: a constant, NUL-terminated name.
    let fd = unsafe {
        libc::memfd_create(
            c"sandboxpm-request".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that we own.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(&bytes)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl with integer arguments on our descriptor.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(OwnedFd::from(file))
}

/// Reads the JSON a memfd holds.
fn read_json<T: serde::de::DeserializeOwned>(memfd: OwnedFd) -> io::Result<T> {
    let mut file = File::from(memfd);
    let mut bytes = Vec::new();
    // SAFETY: seeking our own descriptor to its start (the sender left it at its end).
    if unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    file.read_to_end(&mut bytes)?;
    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl Drop for Zygote {
    fn drop(&mut self) {
        // SAFETY: shutting down a socket we own.
        unsafe { libc::shutdown(self.socket.as_raw_fd(), libc::SHUT_RDWR) };
        // Reaped aside: a zygote with tripwire slots takes up to an SRCU grace period (20 ms)
        // to release their watches as it exits, and nothing here needs to wait for that.
        if let Some(mut child) = self.child.take() {
            match child.try_wait() {
                Ok(Some(_)) => {}
                _ => {
                    let _ = std::thread::Builder::new()
                        .name("zygote-reaper".into())
                        .spawn(move || child.wait());
                }
            }
        }
    }
}

/// The zygote's loop, on standard input. For each request it forks; the child swaps in the sent
/// stdout and stderr, reads the request, runs `run(request, gate, slot)` and writes the code it
/// returns to the status pipe before exiting with it. Returns when the socket is closed.
///
/// Must be called in a single-threaded process (it forks without exec'ing).
pub fn serve(
    run: impl Fn(io::Result<Request>, Option<Gate>, Option<&Slot>) -> u8,
) -> io::Result<()> {
    // Children are reaped by the kernel; each one restores SIGCHLD before running its request,
    // which waits for its own children.
    // SAFETY: setting a signal disposition; no handler runs.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    // Ctrl-C (or a closed terminal) signals the whole process group, and the caller ends on it;
    // we end when its socket closes, having removed the tripwire slots. Children take the
    // default back.
    for signal in HANDED_BACK {
        // SAFETY: as above.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
    // SAFETY: fd 0 is the socket we were started with; it lives as long as this process.
    let socket = unsafe { BorrowedFd::borrow_raw(0) };
    let mut slots: Option<Slots> = None;
    let mut first = true;
    loop {
        // A malformed message (not four or five descriptors) is dropped, its descriptors closed.
        let Some(mut fds) = fd::receive(socket)? else {
            // Our standard streams go first: whoever reads them to their end need not wait
            // while the slots' watches are released on our way out.
            if let Ok(null) = File::open("/dev/null") {
                let _ = dup2(null.as_raw_fd(), 1);
                let _ = dup2(null.as_raw_fd(), 2);
            }
            drop(slots);
            return Ok(());
        };
        if std::mem::take(&mut first) && fds.len() == 1 {
            let made = fds
                .pop()
                .map(read_json::<SlotsSetup>)
                .transpose()
                .and_then(|setup| {
                    setup
                        .map(|s| Slots::create(&s, &crate::helper::request_dir()))
                        .transpose()
                });
            match made {
                Ok(made) => slots = made,
                Err(e) => eprintln!(
                    "sandboxpm: warning: no tripwire slots ({e}); each helper makes its own"
                ),
            }
            continue;
        }
        let gate = (fds.len() == FDS + 1).then(|| fds.pop()).flatten();
        let Ok([request, stdout, stderr, status]) = <[OwnedFd; FDS]>::try_from(fds) else {
            continue;
        };
        let gate = gate.map(Gate::new);
        // SAFETY: this process is single-threaded (the caller's contract), so the child may do
        // anything the parent could.
        match unsafe { libc::fork() } {
            -1 => {
                // The fds close here, so the caller sees the request end without a status.
                eprintln!(
                    "sandboxpm: the sandbox helper cannot fork: {}",
                    io::Error::last_os_error()
                );
            }
            0 => {
                let code = child(
                    request,
                    [stdout, stderr, status],
                    gate,
                    slots.as_ref(),
                    &run,
                );
                std::process::exit(i32::from(code));
            }
            _ => {}
        }
    }
}

/// Signals the zygote ignores and its children do not.
const HANDED_BACK: [libc::c_int; 2] = [libc::SIGINT, libc::SIGHUP];

/// The callback of [`serve`].
type Run<'a> = &'a dyn Fn(io::Result<Request>, Option<Gate>, Option<&Slot>) -> u8;

/// In the forked child: standard streams from the message, then the request (with its slot, if
/// it names one made for its tripwires).
fn child(
    request: OwnedFd,
    [stdout, stderr, status]: [OwnedFd; 3],
    gate: Option<Gate>,
    slots: Option<&Slots>,
    run: Run<'_>,
) -> u8 {
    for signal in [libc::SIGCHLD].iter().chain(&HANDED_BACK) {
        // SAFETY: restoring the default disposition.
        unsafe { libc::signal(*signal, libc::SIG_DFL) };
    }
    let swapped = (|| -> io::Result<()> {
        let null = File::open("/dev/null")?;
        dup2(null.as_raw_fd(), 0)?;
        dup2(stdout.as_raw_fd(), 1)?;
        dup2(stderr.as_raw_fd(), 2)?;
        Ok(())
    })();
    drop((stdout, stderr));
    let code = match swapped {
        Ok(()) => {
            let request = read_json::<Request>(request);
            let slot = request.as_ref().ok().and_then(|r| {
                let k = r.tripwire_slot?;
                slots?.get(k, &r.policy.tripwires)
            });
            run(request, gate, slot)
        }
        Err(_) => 125,
    };
    let _ = io::stdout().flush();
    let mut status = File::from(status);
    let _ = status.write_all(&i32::from(code).to_le_bytes());
    code
}

fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: plain descriptor duplication; `to` is one of the standard streams.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    socket_pair(libc::SOCK_SEQPACKET)
}

/// A gate: (the child's end, ours).
fn stream_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    socket_pair(libc::SOCK_STREAM)
}

fn socket_pair(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
