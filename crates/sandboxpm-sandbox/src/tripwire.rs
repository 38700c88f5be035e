//! Tripwires: decoy files whose mere opening is reported.
//!
//! A policy's [`tripwires`](crate::ResolvedPolicy::tripwires) are files of its private home
//! (decoy credentials) that nothing legitimate opens. They live on the host, in a private
//! directory, and each sandbox gets them bound read-only into its home
//! ([`tripwire_dir`](crate::ResolvedPolicy::tripwire_dir); the landlock backend, which cannot
//! bind, links to them). The helper outside the sandbox watches them with inotify (`IN_OPEN`),
//! which needs no privilege and which nothing inside the sandbox can reach, and reads what was
//! opened once the sandbox has ended.
//!
//! Where the watch lives matters for speed. Tearing one down (closing its inotify instance, or
//! unmounting the file system of its files) waits for fsnotify's mark reaper, an SRCU grace
//! period of up to 20 ms here, and with a watch per sandbox, set up by its init on files in its
//! own home tmpfs, the script benchmark took 18–27 ms longer per install of eight scripts
//! (A/B, 30–40 runs each). So a long-lived process, the [zygote](crate::zygote), makes
//! [`Slots`] once: per slot, a copy of the files and an inotify instance watching them. The
//! caller hands each slot to one sandbox at a time (those running and those staged), so every
//! event of a slot belongs to its current holder; no sandbox sets up or tears down a watch. A
//! helper with no slot (no zygote) makes a one-off slot of its own and pays for its teardown.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::resolve::ResolvedPolicy;
use crate::{Error, Outcome};

/// An inotify instance watching files for `IN_OPEN`.
#[derive(Debug)]
struct Watch {
    fd: OwnedFd,
    /// The watch descriptor of each file, in the order given (`-1`: not watched).
    wds: Vec<i32>,
}

impl Watch {
    /// Watches `files`; a file that cannot be watched is skipped.
    fn new<'a>(files: impl IntoIterator<Item = &'a Path>) -> io::Result<Watch> {
        // SAFETY: plain syscall; the descriptor is owned below.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let wds = files
            .into_iter()
            .map(|path| {
                std::ffi::CString::new(path.as_os_str().as_bytes()).map_or(-1, |c| {
                    // SAFETY: valid descriptor and NUL-terminated path.
                    unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_OPEN) }
                })
            })
            .collect();
        Ok(Watch { fd, wds })
    }

    /// Per file (in the order given to [`Watch::new`]), whether it was opened since the last
    /// call: reads every queued event of the (non-blocking) instance.
    fn opened(&self) -> Vec<bool> {
        let mut opened = vec![false; self.wds.len()];
        let mut buf = [0u64; 512];
        loop {
            // SAFETY: reading into a live, suitably aligned buffer of the given size.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    std::mem::size_of_val(&buf),
                )
            };
            let Ok(n) = usize::try_from(n) else { break };
            if n == 0 {
                break;
            }
            let bytes = buf.as_ptr().cast::<u8>();
            let header = std::mem::size_of::<libc::inotify_event>();
            let mut at = 0;
            while at + header <= n {
                // SAFETY: the kernel wrote whole events; `at` is the start of one, inside `n`.
                let event = unsafe {
                    std::ptr::read_unaligned(bytes.add(at).cast::<libc::inotify_event>())
                };
                if event.mask & libc::IN_OPEN != 0
                    && let Some(i) = self.wds.iter().position(|wd| *wd == event.wd)
                {
                    opened[i] = true;
                }
                at += header + event.len as usize;
            }
        }
        opened
    }
}

/// What a zygote is told to prepare: the tripwire files (paths relative to the home, and
/// content) and how many sandboxes may hold a slot at once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SlotsSetup {
    /// The files, as `(path relative to the home, content)`, in the order of the tripwires.
    pub files: Vec<(PathBuf, String)>,
    /// How many slots.
    pub slots: usize,
}

impl SlotsSetup {
    /// `slots` slots for `tripwires` (paths relative to the home), their content taken from
    /// `home_files`; a tripwire with no home file has nothing to watch and is left out.
    pub fn new(home_files: &[(PathBuf, String)], tripwires: &[PathBuf], slots: usize) -> Self {
        let files = tripwires
            .iter()
            .filter_map(|t| home_files.iter().find(|(path, _)| path == t))
            .cloned()
            .collect();
        SlotsSetup { files, slots }
    }

    /// Whether these slots watch exactly `tripwires`, so that what they saw means those paths.
    pub fn serves(&self, tripwires: &[PathBuf]) -> bool {
        !tripwires.is_empty() && tripwires.iter().eq(self.files.iter().map(|(path, _)| path))
    }
}

/// Per slot, a private copy of the tripwire files and an instance watching them.
#[derive(Debug)]
pub struct Slots {
    /// The private directory holding `<slot>/<path>` for every slot.
    root: PathBuf,
    slots: Vec<Slot>,
    setup: SlotsSetup,
}

/// One slot: see [`Slots`].
#[derive(Debug)]
pub struct Slot {
    /// Holds the files, as `<dir>/<path relative to the home>`.
    pub dir: PathBuf,
    watch: Watch,
}

impl Slot {
    /// Forgets what was opened so far.
    pub fn clear(&self) {
        let _ = self.watch.opened();
    }

    /// What was opened since the last call, as blocks (see [`crate::Outcome::blocked`]) of
    /// `tripwires` (those the slot was made with, see [`Slots::get`]).
    pub fn blocked(&self, tripwires: &[PathBuf]) -> Vec<String> {
        tripwires
            .iter()
            .zip(self.watch.opened())
            .filter(|(_, opened)| *opened)
            .map(|(path, _)| {
                format!(
                    "opened ~/{} (decoy credentials planted in its private home)",
                    path.display()
                )
            })
            .collect()
    }
}

impl Slots {
    /// Makes `setup.slots` slots in a new private directory under `/dev/shm` (memory, so its
    /// files cost no disk inode) or, failing that, `fallback`.
    pub fn create(setup: &SlotsSetup, fallback: &Path) -> io::Result<Slots> {
        let root = private_dir(Path::new("/dev/shm")).or_else(|_| private_dir(fallback))?;
        let mut slots = Slots {
            root,
            slots: Vec::new(),
            setup: setup.clone(),
        };
        for k in 0..setup.slots {
            let dir = slots.root.join(k.to_string());
            let mut paths = Vec::new();
            for (path, content) in &setup.files {
                let file = dir.join(path);
                write_private(&file, content.as_bytes())?;
                paths.push(file);
            }
            let watch = Watch::new(paths.iter().map(PathBuf::as_path))?;
            slots.slots.push(Slot { dir, watch });
        }
        Ok(slots)
    }

    /// Slot `k`, if it exists and watches exactly `tripwires`.
    pub fn get(&self, k: usize, tripwires: &[PathBuf]) -> Option<&Slot> {
        self.setup.serves(tripwires).then(|| self.slots.get(k))?
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs `run` with `policy`'s tripwires bound from `slot` and watched there, and adds what was
/// opened to the outcome's blocks. Without a slot (no zygote), a policy with tripwires gets a
/// one-off slot, whose teardown waits for fsnotify's reaper (up to 20 ms); one that cannot be
/// made is said through `warn`, and the tripwires are then plain home files.
pub fn run_watched(
    policy: &mut ResolvedPolicy,
    slot: Option<&Slot>,
    warn: &mut dyn FnMut(&str),
    run: impl FnOnce(&ResolvedPolicy, &mut dyn FnMut(&str)) -> Result<Outcome, Error>,
) -> Result<Outcome, Error> {
    let own = match slot {
        Some(_) => None,
        None if policy.tripwires.is_empty() => None,
        None => {
            let setup = SlotsSetup::new(&policy.home_files, &policy.tripwires, 1);
            Slots::create(&setup, &crate::helper::request_dir())
                .inspect_err(|e| {
                    warn(&format!(
                        "decoy files cannot be watched ({e}); their opening is not reported"
                    ))
                })
                .ok()
        }
    };
    let Some(slot) = slot.or_else(|| own.as_ref()?.get(0, &policy.tripwires)) else {
        return run(policy, warn);
    };
    // Whatever a previous holder left unread is not this command's doing.
    slot.clear();
    policy.tripwire_dir = Some(slot.dir.clone());
    let mut outcome = run(policy, warn)?;
    outcome.blocked.extend(slot.blocked(&policy.tripwires));
    Ok(outcome)
}

/// A new directory only we can enter, under `parent`.
fn private_dir(parent: &Path) -> io::Result<PathBuf> {
    let mut template = parent
        .join("sandboxpm-tripwires-XXXXXX")
        .into_os_string()
        .into_encoded_bytes();
    template.push(0);
    // SAFETY: a writable, NUL-terminated template.
    let made = unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) };
    if made.is_null() {
        return Err(io::Error::last_os_error());
    }
    template.pop();
    // SAFETY: the bytes came from an OsString, and mkdtemp only replaced ASCII.
    Ok(PathBuf::from(unsafe {
        std::ffi::OsString::from_encoded_bytes_unchecked(template)
    }))
}

/// Writes a read-only file, creating its parents (private to us).
fn write_private(path: &Path, content: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(path)?;
    file.write_all(content)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_slot_reports_only_the_opens_of_its_own_files_and_only_once() {
        let tmp = tempfile::tempdir().unwrap();
        let setup = SlotsSetup {
            files: vec![
                (".ssh/id_rsa".into(), "key".into()),
                (".aws/credentials".into(), "aws".into()),
            ],
            slots: 2,
        };
        let slots = Slots::create(&setup, tmp.path()).unwrap();
        let tripwires = vec![
            PathBuf::from(".ssh/id_rsa"),
            PathBuf::from(".aws/credentials"),
        ];
        let (a, b) = (
            slots.get(0, &tripwires).unwrap(),
            slots.get(1, &tripwires).unwrap(),
        );
        // Listing and stat-ing is not opening.
        let _ = std::fs::metadata(a.dir.join(".ssh/id_rsa")).unwrap();
        let _ = std::fs::read_dir(a.dir.join(".ssh")).unwrap().count();
        assert!(a.blocked(&tripwires).is_empty());
        assert_eq!(
            std::fs::read_to_string(a.dir.join(".aws/credentials")).unwrap(),
            "aws"
        );
        assert_eq!(
            a.blocked(&tripwires),
            vec!["opened ~/.aws/credentials (decoy credentials planted in its private home)"]
        );
        assert!(a.blocked(&tripwires).is_empty(), "read once, reported once");
        assert!(b.blocked(&tripwires).is_empty(), "another slot saw nothing");
        let _ = File::open(b.dir.join(".ssh/id_rsa")).unwrap();
        b.clear();
        assert!(b.blocked(&tripwires).is_empty());
        // A policy with other tripwires gets no slot: its bits would mean other files.
        assert!(slots.get(0, &[PathBuf::from(".ssh/id_rsa")]).is_none());
        assert!(slots.get(2, &tripwires).is_none());
        let root = slots.root.clone();
        drop(slots);
        assert!(!root.exists());
    }
}
