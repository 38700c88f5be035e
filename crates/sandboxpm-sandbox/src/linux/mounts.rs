//! Executes a mount plan: builds the sandbox's root on a tmpfs and pivots into it.
//!
//! The new root is a tmpfs mounted over `/tmp` *in the new mount namespace* (the host's `/tmp` is
//! untouched). Bind sources are opened as `O_PATH` descriptors before that mount, and bound from
//! `/proc/self/fd/N`, so a grant under the host's `/tmp` (a project in a temp dir) still works.
//! Nothing here creates anything on the host: mount points are made inside the tmpfs, and denies
//! only ever cover paths that exist.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::sys::{self, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use crate::native::{DEVICES, LandlockAccess, LandlockRule, MountOp};
use crate::resolve::{Access, ResolvedPolicy};

const BASE: &str = "/tmp";
const EMPTY_DIR: &str = "/.sandboxpm-setup";

/// Host paths opened before the root tmpfs covers `/tmp`.
#[derive(Debug)]
pub struct Sources {
    fds: HashMap<PathBuf, OwnedFd>,
    contents: HashMap<PathBuf, Vec<u8>>,
}

impl Sources {
    fn proc_path(&self, path: &Path) -> io::Result<PathBuf> {
        let fd = self
            .fds
            .get(path)
            .ok_or_else(|| io::Error::other(format!("{} was not opened", path.display())))?;
        Ok(PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())))
    }
}

/// Opens every bind source of `ops` and the device nodes.
pub fn open_sources(ops: &[MountOp]) -> io::Result<Sources> {
    let mut fds = HashMap::new();
    let mut open = |path: &Path, required: bool| -> io::Result<()> {
        let c = sys::cstr(path)?;
        // SAFETY: NUL-terminated path.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return if required {
                Err(io::Error::new(
                    err.kind(),
                    format!("{}: {err}", path.display()),
                ))
            } else {
                Ok(())
            };
        }
        // SAFETY: a fresh descriptor we own.
        fds.insert(path.to_path_buf(), unsafe { OwnedFd::from_raw_fd(fd) });
        Ok(())
    };
    let mut contents = HashMap::new();
    for op in ops {
        match op {
            MountOp::Bind { path, .. } => open(path, true)?,
            MountOp::Tripwire { source, .. } => open(source, true)?,
            MountOp::CopyFile { path } => {
                let data = std::fs::read(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                contents.insert(path.clone(), data);
            }
            _ => {}
        }
    }
    for dev in DEVICES {
        open(&Path::new("/dev").join(dev), false)?;
    }
    Ok(Sources { fds, contents })
}

fn inside(path: &Path) -> PathBuf {
    Path::new(BASE).join(path.strip_prefix("/").unwrap_or(path))
}

fn mkdirs(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
}

fn touch(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        mkdirs(parent)?;
    }
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o444)
        .open(path)
        .map(drop)
}

fn c(s: &'static [u8]) -> &'static CStr {
    // The literals below all end in NUL.
    CStr::from_bytes_with_nul(s).unwrap_or(c"")
}

fn tmpfs(target: &Path, mode: &str, extra: libc::c_ulong) -> io::Result<()> {
    let data = std::ffi::CString::new(format!("mode={mode}"))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    sys::mount(
        Some(c(b"tmpfs\0")),
        target,
        Some(c(b"tmpfs\0")),
        libc::MS_NOSUID | libc::MS_NODEV | extra,
        Some(&data),
    )
}

fn bind(source: &Path, target: &Path) -> io::Result<()> {
    let source = sys::cstr(source)?;
    sys::mount(
        Some(&source),
        target,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
}

/// Binds the file `source` onto `target`, read-only, without set-uid or devices.
fn bind_file_read_only(source: &Path, target: &Path) -> io::Result<()> {
    bind(source, target)?;
    sys::mount_setattr(
        target,
        false,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )
}

/// Whether `path` lies in the private home, not under a grant bound there from the host: home
/// files and tripwires go only there, never onto the host.
fn in_private_home(path: &Path, policy: &ResolvedPolicy) -> bool {
    path.starts_with(&policy.home) && !policy.grants.iter().any(|g| path.starts_with(&g.path))
}

/// Builds the root and pivots into it. Errors name the step and the path.
pub fn build_root(ops: &[MountOp], policy: &ResolvedPolicy) -> Result<(), String> {
    let step = |what: &str, path: &Path, e: io::Error| format!("{what} {}: {e}", path.display());
    // Nothing we mount may propagate back to the host.
    sys::mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )
    .map_err(|e| step("making private", Path::new("/"), e))?;
    // Sources are opened here: a bind source must belong to this mount namespace, and the host
    // tree is still visible (the root tmpfs is not mounted yet).
    let owned = open_sources(ops).map_err(|e| format!("opening a granted path: {e}"))?;
    let sources = &owned;
    tmpfs(Path::new(BASE), "0755", 0)
        .map_err(|e| step("mounting the root tmpfs on", Path::new(BASE), e))?;
    let empty_file = inside(Path::new(EMPTY_DIR)).join("empty");
    touch(&empty_file).map_err(|e| step("creating", &empty_file, e))?;

    for op in ops {
        match op {
            MountOp::Tmpfs { path } => {
                let target = inside(path);
                mkdirs(&target).map_err(|e| step("creating", path, e))?;
                let mode = if *path == policy.home { "0700" } else { "1777" };
                tmpfs(&target, mode, 0).map_err(|e| step("mounting a tmpfs on", path, e))?;
            }
            MountOp::Bind {
                path,
                kind,
                writable,
            } => {
                let target = inside(path);
                match kind {
                    crate::resolve::EntryKind::Dir => mkdirs(&target),
                    crate::resolve::EntryKind::File => touch(&target),
                }
                .map_err(|e| step("creating the mount point", path, e))?;
                let source = sources
                    .proc_path(path)
                    .map_err(|e| step("binding", path, e))?;
                bind(&source, &target).map_err(|e| step("binding", path, e))?;
                let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
                if !writable {
                    attrs |= MOUNT_ATTR_RDONLY;
                }
                sys::mount_setattr(&target, true, attrs)
                    .map_err(|e| step("restricting", path, e))?;
            }
            MountOp::CopyFile { path } => {
                let target = inside(path);
                if let Some(parent) = target.parent() {
                    mkdirs(parent).map_err(|e| step("creating", path, e))?;
                }
                let data = sources
                    .contents
                    .get(path)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                std::fs::write(&target, data).map_err(|e| step("copying", path, e))?;
                std::fs::set_permissions(
                    &target,
                    std::os::unix::fs::PermissionsExt::from_mode(0o444),
                )
                .map_err(|e| step("copying", path, e))?;
            }
            MountOp::Proc { path } => {
                let target = inside(path);
                mkdirs(&target).map_err(|e| step("creating", path, e))?;
                sys::mount(
                    Some(c(b"proc\0")),
                    &target,
                    Some(c(b"proc\0")),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    None,
                )
                .map_err(|e| step("mounting proc on", path, e))?;
            }
            MountOp::Dev { path } => {
                build_dev(&inside(path), sources).map_err(|e| step("building", path, e))?
            }
            MountOp::Symlink { path, target } => {
                let at = inside(path);
                if let Some(parent) = at.parent() {
                    mkdirs(parent).map_err(|e| step("creating", path, e))?;
                }
                if std::fs::symlink_metadata(&at).is_err() {
                    std::os::unix::fs::symlink(target, &at)
                        .map_err(|e| step("linking", path, e))?;
                }
            }
            MountOp::HideFile { path } => {
                bind_file_read_only(&empty_file, &inside(path))
                    .map_err(|e| step("hiding", path, e))?;
            }
            MountOp::HideDir { path } => {
                let target = inside(path);
                tmpfs(&target, "0555", libc::MS_RDONLY | libc::MS_NOEXEC)
                    .map_err(|e| step("hiding", path, e))?;
            }
            MountOp::Pin { path } => {
                let target = inside(path);
                bind(&target, &target).map_err(|e| step("pinning", path, e))?;
            }
            MountOp::ReadOnly { path } => {
                let target = inside(path);
                bind(&target, &target).map_err(|e| step("protecting", path, e))?;
                sys::mount_setattr(
                    &target,
                    true,
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                )
                .map_err(|e| step("protecting", path, e))?;
            }
            MountOp::SealScaffold { path } => {
                let target = inside(path);
                // Recursive, so the mounts below come along; read-only on this level only.
                bind(&target, &target).map_err(|e| step("sealing", path, e))?;
                sys::mount_setattr(
                    &target,
                    false,
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                )
                .map_err(|e| step("sealing", path, e))?;
            }
            MountOp::HomeFile { path, content } => {
                let target = inside(path);
                if in_private_home(path, policy) {
                    if let Some(parent) = target.parent() {
                        mkdirs(parent).map_err(|e| step("creating", path, e))?;
                    }
                    std::fs::write(&target, content).map_err(|e| step("writing", path, e))?;
                }
            }
            MountOp::Tripwire { path, source } => {
                let target = inside(path);
                if in_private_home(path, policy) {
                    touch(&target).map_err(|e| step("creating", path, e))?;
                    let source = sources
                        .proc_path(source)
                        .map_err(|e| step("binding", path, e))?;
                    bind_file_read_only(&source, &target).map_err(|e| step("binding", path, e))?;
                }
            }
            MountOp::ReadOnlyRoot => {}
        }
    }
    drop(owned);
    let _ = std::fs::remove_file(&empty_file);
    let _ = std::fs::remove_dir(inside(Path::new(EMPTY_DIR)));

    // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only ours.
    std::env::set_current_dir(BASE).map_err(|e| step("entering", Path::new(BASE), e))?;
    let dot = c(b".\0");
    // SAFETY: NUL-terminated paths.
    sys::check_long(unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) })
        .map_err(|e| step("pivot_root into", Path::new(BASE), e))?;
    // SAFETY: NUL-terminated path.
    sys::check(unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) })
        .map_err(|e| step("detaching the old root at", Path::new("/"), e))?;
    std::env::set_current_dir("/").map_err(|e| step("entering", Path::new("/"), e))?;
    if ops.contains(&MountOp::ReadOnlyRoot) {
        sys::mount_setattr(
            Path::new("/"),
            false,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        )
        .map_err(|e| step("making read-only", Path::new("/"), e))?;
    }
    Ok(())
}

fn build_dev(target: &Path, sources: &Sources) -> io::Result<()> {
    mkdirs(target)?;
    tmpfs(target, "0755", libc::MS_NOEXEC)?;
    for dev in DEVICES {
        let host = Path::new("/dev").join(dev);
        let Ok(source) = sources.proc_path(&host) else {
            continue;
        };
        let at = target.join(dev);
        touch(&at)?;
        bind(&source, &at)?;
    }
    for (name, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(to, target.join(name))?;
    }
    let shm = target.join("shm");
    mkdirs(&shm)?;
    tmpfs(&shm, "1777", libc::MS_NOEXEC)?;
    sys::mount_setattr(target, false, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID)?;
    Ok(())
}

/// A private home and temp directory on the host for the degraded backend, removed on drop.
#[derive(Debug)]
pub struct Scratch {
    root: PathBuf,
}

impl Scratch {
    pub fn new() -> io::Result<Self> {
        let mut template = *b"/tmp/sandboxpm-XXXXXX\0";
        // SAFETY: a writable NUL-terminated template, as mkdtemp requires.
        let ptr = unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) };
        if ptr.is_null() {
            return Err(io::Error::last_os_error());
        }
        let root =
            PathBuf::from(String::from_utf8_lossy(&template[..template.len() - 1]).into_owned());
        std::fs::create_dir(root.join("home"))?;
        std::fs::create_dir(root.join("tmp"))?;
        Ok(Self { root })
    }
    pub fn path(&self) -> &Path {
        &self.root
    }
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The Landlock rules of the degraded backend, where Landlock is the only file-system boundary.
///
/// Landlock can only allow, never deny beneath an allowed directory. A grant that contains a deny
/// is therefore split: the grant's own rule is dropped (or, when it only contains write denies,
/// kept read-only) and each child is granted separately, recursing towards the denied paths.
/// Consequence, reported by `doctor`: a directory on the way to a hidden path cannot be listed,
/// and new files cannot be created directly in it.
pub fn degraded_rules(
    policy: &ResolvedPolicy,
    home: PathBuf,
    tmp: PathBuf,
) -> io::Result<Vec<LandlockRule>> {
    let mut rules = Vec::new();
    for grant in &policy.grants {
        let access = match grant.access {
            Access::Read => LandlockAccess::Read,
            Access::Write => LandlockAccess::Write,
        };
        split(&grant.path, access, policy, &mut rules, 0)?;
    }
    rules.push(LandlockRule {
        path: home,
        access: LandlockAccess::Write,
    });
    rules.push(LandlockRule {
        path: tmp,
        access: LandlockAccess::Write,
    });
    rules.push(LandlockRule {
        path: "/proc".into(),
        access: LandlockAccess::Read,
    });
    for dev in DEVICES {
        rules.push(LandlockRule {
            path: Path::new("/dev").join(dev),
            access: LandlockAccess::ReadWriteFile,
        });
    }
    Ok(rules)
}

fn split(
    path: &Path,
    access: LandlockAccess,
    policy: &ResolvedPolicy,
    rules: &mut Vec<LandlockRule>,
    depth: usize,
) -> io::Result<()> {
    if policy.deny_read.iter().any(|d| path.starts_with(&d.path)) {
        return Ok(());
    }
    let write_denied = policy.deny_write.iter().any(|d| path.starts_with(&d.path));
    let access = if write_denied {
        LandlockAccess::Read
    } else {
        access
    };
    let read_below = policy
        .deny_read
        .iter()
        .any(|d| d.path.starts_with(path) && d.path != path);
    let write_below = access == LandlockAccess::Write
        && policy
            .deny_write
            .iter()
            .any(|d| d.path.starts_with(path) && d.path != path);
    if !read_below && !write_below {
        rules.push(LandlockRule {
            path: path.to_path_buf(),
            access,
        });
        return Ok(());
    }
    if depth > 32 || rules.len() > 4096 {
        return Err(io::Error::other(format!(
            "too many rules needed to express the denies under {}",
            path.display()
        )));
    }
    if !read_below {
        // Only write denies below: the whole directory stays readable.
        rules.push(LandlockRule {
            path: path.to_path_buf(),
            access: LandlockAccess::Read,
        });
    }
    for entry in std::fs::read_dir(path)?.flatten() {
        split(&entry.path(), access, policy, rules, depth + 1)?;
    }
    Ok(())
}
