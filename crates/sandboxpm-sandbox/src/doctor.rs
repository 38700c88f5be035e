//! What isolation this machine can give, and why: the probes behind `sandboxpm doctor`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Backend;

/// The findings of every probe.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Operating system and kernel release.
    pub kernel: String,
    /// Whether an unprivileged user namespace could be created, or the reason it could not.
    pub user_namespaces: Result<(), String>,
    /// Settings that commonly block user namespaces, as read from `/proc/sys`.
    pub userns_settings: Vec<(String, String)>,
    /// The Landlock ABI version (0: unavailable).
    pub landlock_abi: i32,
    /// Whether seccomp filters are supported.
    pub seccomp: bool,
    /// Path of bubblewrap, if installed.
    pub bwrap: Option<PathBuf>,
    /// Docker: the socket, and whether a daemon answers on it.
    pub docker: Option<(PathBuf, bool)>,
    /// What `auto` picks.
    pub auto: Backend,
    /// Why.
    pub auto_reason: String,
    /// What the picked backend enforces.
    pub enforces: Vec<&'static str>,
    /// What it does not.
    pub does_not_enforce: Vec<&'static str>,
}

/// The user-namespace probe (a short-lived child tries `unshare`).
pub fn probe_user_namespace() -> std::io::Result<()> {
    crate::linux::probe_user_namespace()
}

/// Runs every probe.
pub fn report() -> Report {
    let user_namespaces = probe_user_namespace().map_err(|e| explain_userns(&e));
    let userns_settings = [
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/user/max_user_namespaces",
    ]
    .iter()
    .filter_map(|p| {
        Some((
            p.to_string(),
            std::fs::read_to_string(p).ok()?.trim().to_string(),
        ))
    })
    .collect();
    let landlock_abi = crate::linux::landlock_abi();
    let (auto, auto_reason) = match (&user_namespaces, landlock_abi) {
        (Ok(()), _) => (Backend::Native, "user namespaces are available".to_string()),
        (Err(why), abi) if abi > 0 => (
            Backend::Landlock,
            format!("user namespaces are unavailable: {why}"),
        ),
        (Err(why), _) if crate::bwrap::can_start() => (
            Backend::Bwrap,
            format!(
                "user namespaces are unavailable ({why}) and Landlock is missing; bubblewrap can start"
            ),
        ),
        (Err(why), _) => (
            Backend::Auto,
            format!("user namespaces are unavailable ({why}) and Landlock is missing"),
        ),
    };
    let (enforces, does_not_enforce) = guarantees(auto, landlock_abi);
    Report {
        kernel: kernel(),
        user_namespaces,
        userns_settings,
        landlock_abi,
        seccomp: Path::new("/proc/sys/kernel/seccomp/actions_avail").exists(),
        bwrap: which("bwrap"),
        docker: docker(),
        auto,
        auto_reason,
        enforces,
        does_not_enforce,
    }
}

/// What `backend` enforces and what it does not, on a kernel with `landlock_abi`.
pub fn guarantees(backend: Backend, landlock_abi: i32) -> (Vec<&'static str>, Vec<&'static str>) {
    match backend {
        Backend::Native => {
            let mut yes = vec![
                "file system: only granted paths exist; denies hidden or read-only (mount namespace)",
                "private HOME and /tmp (tmpfs)",
                "no network but loopback (network namespace)",
                "no view of or signals to host processes (pid namespace)",
                "no host abstract unix sockets (network namespace)",
                "whole process tree killed when the command ends (pid 1 exits)",
                "seccomp: ptrace, keyctl, bpf, io_uring, mount, namespaces, TIOCSTI, x32 refused",
                "no capabilities, no_new_privs, new session (no terminal injection)",
                "environment reduced to the allowlist",
            ];
            if landlock_abi > 0 {
                yes.push("Landlock: the same allowlist again, independently of the mounts");
            }
            let mut no = Vec::new();
            if landlock_abi < 6 {
                no.push("Landlock scopes (ABI 6): signal and abstract-socket scoping rely on namespaces only");
            }
            if landlock_abi == 0 {
                no.push("Landlock (kernel < 5.13): mounts alone enforce the file system policy");
            }
            (yes, no)
        }
        Backend::Landlock => (
            vec![
                "file system: Landlock allowlist (reads and writes outside grants fail)",
                "private HOME and TMPDIR (fresh directories, removed afterwards)",
                "no inet or unix sockets (seccomp), so no network and no host daemons",
                "no ptrace or /proc/<pid>/environ of host processes (Landlock ptrace scope)",
                "seccomp: ptrace, keyctl, bpf, io_uring, mount, namespaces, TIOCSTI, x32 refused",
                "descendants killed after the command (subreaper)",
            ],
            vec![
                "host processes stay visible in /proc (their secrets stay protected)",
                "directories on the way to a denied path cannot be listed or created in",
                "hidden files error (EACCES) instead of appearing empty",
                "signals to host processes need Landlock ABI 6",
                "network allowlists (`--allow-net`): refused; only network none",
                "file metadata: the mode bits (but not setuid/setgid) and timestamps of files the \
                 user owns outside the grants can be changed (Landlock has no right for it)",
            ],
        ),
        Backend::Bwrap => crate::bwrap::guarantees(),
        Backend::Docker => crate::docker::guarantees(),
        Backend::Seatbelt => crate::seatbelt::guarantees(),
        Backend::Auto => (vec![], vec!["nothing: commands will not run"]),
    }
}

fn explain_userns(err: &std::io::Error) -> String {
    let mut why = err.to_string();
    if read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        why.push_str("; AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)");
    }
    if read_trim("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        why.push_str("; kernel.unprivileged_userns_clone=0");
    }
    if read_trim("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        why.push_str("; user.max_user_namespaces=0");
    }
    why
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn kernel() -> String {
    // SAFETY: zeroed utsname is a valid out-parameter.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return "unknown".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} ({})",
        field(&uts.sysname),
        field(&uts.release),
        field(&uts.machine)
    )
}

/// Finds `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// Whether `path` is an executable regular file.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn docker() -> Option<(PathBuf, bool)> {
    crate::docker::probe()
}
