//! The pure half of the `bwrap` backend: a resolved policy as bubblewrap arguments.
//!
//! The mount steps come from [`native::plan`], so both Linux backends build the same root. Three
//! differences follow from how bubblewrap works, each handled here rather than left to chance:
//!
//! - **Bind sources are host paths.** The native backend pins and protects paths by binding the
//!   sandbox's own view onto itself; bubblewrap can only bind from the host. A `--bind P P` issued
//!   after mounts below `P` would cover them, so pins and write-protections move forward to their
//!   place in the depth order, before anything is mounted below them.
//! - **bubblewrap creates missing mount points, on the host when they lie inside a host bind.**
//!   Every step is checked against the mounts emitted before it: inside a private tmpfs it is
//!   harmless; inside a host bind the path must already exist (the `probe`), or the step is left
//!   out (a deny of a path that vanished since resolution has nothing left to hide). Steps that
//!   create files (`--file`, `--symlink`) are only ever placed in a private tmpfs.
//! - **`--remount-ro` needs a mount point.** The scaffolding directory that the native backend
//!   seals (`/tmp/a` for a project at `/tmp/a/b/proj`) is therefore a tmpfs of its own here,
//!   remounted read-only once everything below it is in place.
//!
//! The arguments travel through `--args FD` (no argv length limit, but bubblewrap's own cap of
//! [`MAX_ARGUMENTS`]) and name descriptors at the numbers of [`Fds`], which the runner sets up;
//! data for `--file` travels the same way.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::Command;
use crate::native::{self, DEVICES, MountOp};
use crate::policy::Network;
use crate::resolve::{EntryKind, ResolvedPolicy, depth};

/// The descriptors the arguments name, at consecutive numbers from `first`, which the runner
/// picks above every descriptor it has open: the seccomp program, the status channel, the block
/// channel (used with network allowlists only), the arguments themselves, then the `--file` data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fds {
    /// The lowest number.
    pub first: i32,
}

impl Fds {
    /// Where the seccomp program is read from (`--seccomp`).
    pub fn seccomp(self) -> i32 {
        self.first
    }
    /// Where bubblewrap reports the sandbox's pid and the command's exit code.
    pub fn status(self) -> i32 {
        self.first + 1
    }
    /// What the sandbox waits on before running the command (`--block-fd`).
    pub fn block(self) -> i32 {
        self.first + 2
    }
    /// Where the arguments are read from (`--args`).
    pub fn args(self) -> i32 {
        self.first + 3
    }
    /// The content of the `i`-th `--file`.
    pub fn file(self, i: usize) -> i32 {
        self.first + 4 + i as i32
    }
}

/// bubblewrap refuses more arguments than this in total (its `MAX_ARGS`), `--args` included.
pub const MAX_ARGUMENTS: usize = 9000;
/// The port of the proxy relay inside the sandbox's network namespace. The namespace is new and
/// empty, so the port is always free there; a fixed port lets the arguments name it up front.
pub const PROXY_PORT: u16 = 3128;

/// Content handed to bubblewrap through a descriptor, for `--file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileData {
    /// The content of a host file, read when the sandbox starts (small `/etc` files).
    Copy(PathBuf),
    /// Given content (decoy credentials in the private home).
    Inline(String),
}

/// The bubblewrap invocation for one policy and command.
#[derive(Debug, Clone)]
pub struct Translation {
    /// Options, passed through `--args` (NUL-separated).
    pub args: Vec<OsString>,
    /// What runs after `--`: the program, then `argv[1..]` (bubblewrap passes the program as
    /// `argv[0]`).
    pub command: Vec<OsString>,
    /// The content of descriptor [`Fds::file`]`(i)`.
    pub files: Vec<FileData>,
    /// Mount points left out because they do not exist on the host, where bubblewrap would
    /// have created them.
    pub skipped: Vec<PathBuf>,
}

impl Translation {
    /// How many arguments bubblewrap counts (`--args FD --` and the command included).
    pub fn argument_count(&self) -> usize {
        self.args.len() + self.command.len() + 3
    }
}

/// Translates `policy` and `cmd`. `empty_file` is an empty, read-only host file bound over
/// hidden files; `fds` where the descriptors will be; `probe` says what exists on the host at a
/// path (without following a final symlink: `None` for a symlink or nothing).
pub fn translate(
    policy: &ResolvedPolicy,
    cmd: &Command,
    empty_file: &Path,
    fds: Fds,
    probe: &dyn Fn(&Path) -> Option<EntryKind>,
) -> Translation {
    let plan = native::plan(policy);
    let mut out = Emitter {
        args: Vec::new(),
        files: Vec::new(),
        skipped: Vec::new(),
        mounts: HashMap::new(),
        probe,
        fds,
    };
    // Every namespace bubblewrap knows; --unshare-user explicitly, because --disable-userns needs
    // it and --unshare-all only tries. --disable-userns and --cap-drop ALL (which also applies
    // when the caller is root) leave nothing to undo the mounts with; seccomp refuses the same
    // calls again. --new-session: no controlling terminal to push keystrokes into.
    out.push([
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandboxpm",
    ]);
    if policy.network == Network::Host {
        out.push(["--share-net"]);
    }

    let mut base: Vec<Base<'_>> = Vec::new();
    let mut middle: Vec<&MountOp> = Vec::new();
    let mut denies: Vec<&MountOp> = Vec::new();
    let mut seals: Vec<&Path> = Vec::new();
    let mut read_only_root = false;
    for op in &plan.mounts {
        match op {
            MountOp::Tmpfs { .. }
            | MountOp::Bind { .. }
            | MountOp::CopyFile { .. }
            | MountOp::Proc { .. }
            | MountOp::Dev { .. }
            | MountOp::Pin { .. }
            | MountOp::ReadOnly { .. } => base.push(Base::Op(op)),
            MountOp::SealScaffold { path } => {
                base.push(Base::Scaffold(path));
                seals.push(path);
            }
            MountOp::HomeFile { .. } | MountOp::Tripwire { .. } | MountOp::Symlink { .. } => {
                middle.push(op)
            }
            MountOp::HideFile { .. } | MountOp::HideDir { .. } => denies.push(op),
            MountOp::ReadOnlyRoot => read_only_root = true,
        }
    }
    // The native order (depth, private tmpfs and pins first, then path), with the host-sourced
    // pins and write-protections moved in from the deny phase.
    base.sort_by(|a, b| {
        let (pa, pb) = (a.path(), b.path());
        depth(pa)
            .cmp(&depth(pb))
            .then_with(|| a.rank().cmp(&b.rank()))
            .then_with(|| pa.cmp(pb))
    });
    let mut sealed: Vec<&Path> = Vec::new();
    for step in base {
        match step {
            Base::Op(MountOp::Tmpfs { path }) => {
                let mode = if *path == policy.home { "0700" } else { "1777" };
                out.tmpfs(path, mode);
            }
            Base::Op(MountOp::Bind { path, writable, .. }) => out.bind(path, *writable),
            Base::Op(MountOp::CopyFile { path }) => {
                out.file(path, "0444", FileData::Copy(path.clone()))
            }
            Base::Op(MountOp::Proc { path }) => {
                if out.place(path) {
                    out.push(["--proc".into(), path.as_os_str().to_owned()]);
                    out.mounted(path, Region::Private);
                }
            }
            Base::Op(MountOp::Dev { path }) => out.dev(path),
            // Bound onto itself (still writable): a mount point cannot be renamed or removed.
            Base::Op(MountOp::Pin { path }) => out.bind(path, true),
            Base::Op(MountOp::ReadOnly { path }) => out.bind(path, false),
            Base::Scaffold(path) => {
                if out.tmpfs(path, "0755") {
                    sealed.push(path);
                }
            }
            Base::Op(_) => {}
        }
    }
    for op in middle {
        match op {
            MountOp::HomeFile { path, content } => {
                out.file(path, "0644", FileData::Inline(content.clone()))
            }
            // Like a home file, only inside a private tmpfs.
            MountOp::Tripwire { path, source } => out.private(path, "--ro-bind", source),
            MountOp::Symlink { path, target } => out.private(path, "--symlink", target),
            _ => {}
        }
    }
    for op in denies {
        let (MountOp::HideFile { path } | MountOp::HideDir { path }) = op else {
            continue;
        };
        // What is there now decides the cover, not what was there at resolution.
        let kind = (out.probe)(path);
        if !out.place(path) {
            continue;
        }
        match kind {
            Some(EntryKind::Dir) => {
                out.push([
                    "--perms".into(),
                    "0555".into(),
                    "--tmpfs".into(),
                    path.as_os_str().to_owned(),
                    "--remount-ro".into(),
                    path.as_os_str().to_owned(),
                ]);
                out.mounted(path, Region::Hidden);
            }
            _ => {
                out.push([
                    "--ro-bind".into(),
                    empty_file.as_os_str().to_owned(),
                    path.as_os_str().to_owned(),
                ]);
                out.mounted(path, Region::Hidden);
            }
        }
    }
    // Last, once every mount point below them exists; non-recursive, so what is mounted below
    // keeps its own flags.
    for path in seals.into_iter().filter(|p| sealed.contains(p)) {
        out.push(["--remount-ro".into(), path.as_os_str().to_owned()]);
    }
    if read_only_root {
        out.push(["--remount-ro", "/"]);
    }
    out.push(["--chdir".into(), policy.cwd.as_os_str().to_owned()]);

    // The environment: nothing of bubblewrap's own (the runner starts it with an empty one),
    // exactly the policy's.
    out.push(["--clearenv"]);
    let mut env = policy.env.clone();
    if matches!(policy.network, Network::Allow(_)) {
        env.retain(|k, _| k != "NO_PROXY" && k != "no_proxy");
        let url = format!("http://127.0.0.1:{PROXY_PORT}");
        for var in crate::proxy::PROXY_VARS {
            env.insert((*var).to_string(), url.clone());
        }
    }
    for (key, value) in &env {
        out.push(["--setenv", key.as_str(), value.as_str()]);
    }
    out.push(["--seccomp".to_string(), fds.seccomp().to_string()]);
    out.push(["--json-status-fd".to_string(), fds.status().to_string()]);
    if matches!(policy.network, Network::Allow(_)) {
        // The sandbox waits here until the relay listens inside its network namespace.
        out.push(["--block-fd".to_string(), fds.block().to_string()]);
    }

    let mut command = vec![cmd.program.as_os_str().to_owned()];
    command.extend(cmd.argv.iter().skip(1).cloned());
    Translation {
        args: out.args,
        command,
        files: out.files,
        skipped: out.skipped,
    }
}

/// A step of the first phase: a native mount step, or the tmpfs of a scaffolding directory.
enum Base<'a> {
    Op(&'a MountOp),
    Scaffold(&'a Path),
}

impl Base<'_> {
    fn path(&self) -> &Path {
        match self {
            Base::Op(
                MountOp::Tmpfs { path }
                | MountOp::Bind { path, .. }
                | MountOp::CopyFile { path }
                | MountOp::Proc { path }
                | MountOp::Dev { path }
                | MountOp::Pin { path }
                | MountOp::ReadOnly { path }
                | MountOp::Symlink { path, .. }
                | MountOp::HideFile { path }
                | MountOp::HideDir { path }
                | MountOp::HomeFile { path, .. }
                | MountOp::Tripwire { path, .. }
                | MountOp::SealScaffold { path },
            ) => path,
            Base::Op(MountOp::ReadOnlyRoot) => Path::new("/"),
            Base::Scaffold(path) => path,
        }
    }

    /// At equal depth a private tmpfs and a pin go first, as in the native plan.
    fn rank(&self) -> u8 {
        match self {
            Base::Op(MountOp::Tmpfs { .. } | MountOp::Pin { .. }) | Base::Scaffold(_) => 0,
            Base::Op(_) => 1,
        }
    }
}

/// What the sandbox sees at a path, as far as creating a mount point there is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    /// A tmpfs of the sandbox (including its root): creating things here touches nothing real.
    Private,
    /// A bind of a host path: anything created here is created on the host.
    Host,
    /// A hidden path: nothing goes below it.
    Hidden,
}

struct Emitter<'p> {
    args: Vec<OsString>,
    files: Vec<FileData>,
    skipped: Vec<PathBuf>,
    /// Every mount point emitted so far and what it is (the latest mount at a path wins).
    mounts: HashMap<PathBuf, Region>,
    probe: &'p dyn Fn(&Path) -> Option<EntryKind>,
    fds: Fds,
}

impl Emitter<'_> {
    fn push<S: Into<OsString>>(&mut self, args: impl IntoIterator<Item = S>) {
        self.args.extend(args.into_iter().map(Into::into));
    }

    fn mounted(&mut self, path: &Path, region: Region) {
        self.mounts.insert(path.to_path_buf(), region);
    }

    /// The region `path` lies in: that of the deepest mount at or above it.
    fn region(&self, path: &Path) -> Region {
        path.ancestors()
            .find_map(|a| self.mounts.get(a).copied())
            .unwrap_or(Region::Private)
    }

    /// Whether a mount may be placed at `path` without creating anything on the host.
    fn place(&mut self, path: &Path) -> bool {
        let ok = match self.region(path) {
            Region::Private => true,
            Region::Host => (self.probe)(path).is_some(),
            Region::Hidden => false,
        };
        if !ok {
            self.skipped.push(path.to_path_buf());
        }
        ok
    }

    fn tmpfs(&mut self, path: &Path, mode: &str) -> bool {
        if !self.place(path) {
            return false;
        }
        self.push([
            "--perms".into(),
            mode.into(),
            "--tmpfs".into(),
            path.as_os_str().to_owned(),
        ]);
        self.mounted(path, Region::Private);
        true
    }

    fn bind(&mut self, path: &Path, writable: bool) {
        if !self.place(path) {
            return;
        }
        let flag = if writable { "--bind" } else { "--ro-bind" };
        self.push([
            flag.into(),
            path.as_os_str().to_owned(),
            path.as_os_str().to_owned(),
        ]);
        self.mounted(path, Region::Host);
    }

    /// `flag from path`, only ever inside a private tmpfs (else `path` is skipped).
    fn private(&mut self, path: &Path, flag: &str, from: &Path) {
        if self.region(path) != Region::Private {
            self.skipped.push(path.to_path_buf());
            return;
        }
        self.push([
            flag.into(),
            from.as_os_str().to_owned(),
            path.as_os_str().to_owned(),
        ]);
    }

    /// A file with `data`, only ever inside a private tmpfs (`--file` would truncate a host file).
    fn file(&mut self, path: &Path, mode: &str, data: FileData) {
        if self.region(path) != Region::Private {
            self.skipped.push(path.to_path_buf());
            return;
        }
        let fd = self.fds.file(self.files.len());
        self.files.push(data);
        self.push([
            "--perms".into(),
            mode.into(),
            "--file".into(),
            fd.to_string().into(),
            path.as_os_str().to_owned(),
        ]);
    }

    /// The minimal `/dev` of the native plan: a tmpfs with only [`DEVICES`] bound in (device
    /// access allowed on those binds alone), the `/dev/fd` links and a private `/dev/shm`. Not
    /// `--dev`, which would add a devpts instance and bind the caller's terminal as
    /// `/dev/console`.
    fn dev(&mut self, path: &Path) {
        if !self.tmpfs(path, "0755") {
            return;
        }
        for dev in DEVICES {
            let host = Path::new("/dev").join(dev);
            self.push([
                "--dev-bind-try".into(),
                host.into_os_string(),
                path.join(dev).into_os_string(),
            ]);
        }
        for (name, to) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            self.push([
                "--symlink".into(),
                OsString::from(to),
                path.join(name).into_os_string(),
            ]);
        }
        self.tmpfs(&path.join("shm"), "1777");
        self.push(["--remount-ro".into(), path.as_os_str().to_owned()]);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::policy::Limits;
    use crate::resolve::fixtures::{deny, grant};
    use crate::resolve::{Access, Symlink};

    /// A project in a temp directory (so its scaffolding is sealed), a read-only dependency
    /// beside a protected `.git`, hidden files and directories, decoys, and the host network.
    fn policy() -> ResolvedPolicy {
        ResolvedPolicy {
            cwd: "/tmp/w/proj".into(),
            home: "/tmp/w/home".into(),
            grants: vec![
                grant("/nonexistent-etc/x", Access::Read, EntryKind::File),
                grant("/tmp/w/proj", Access::Write, EntryKind::Dir),
                grant("/tmp/w/proj/.git/objects", Access::Read, EntryKind::Dir),
                grant("/usr", Access::Read, EntryKind::Dir),
            ],
            symlinks: vec![Symlink {
                path: "/bin".into(),
                target: "usr/bin".into(),
            }],
            deny_read: vec![
                deny("/tmp/w/proj/.env", EntryKind::File),
                deny("/tmp/w/proj/gone", EntryKind::File),
                deny("/tmp/w/proj/secrets", EntryKind::Dir),
                deny("/tmp/w/proj/secrets/deeper", EntryKind::File),
            ],
            deny_write: vec![deny("/tmp/w/proj/.git/hooks", EntryKind::Dir)],
            unenforced: vec![],
            notes: vec![],
            home_files: vec![(".npmrc".into(), "//decoy/:_authToken=x\n".into())],
            tripwires: Vec::new(),
            tripwire_dir: None,
            network: Network::Host,
            env: BTreeMap::from([
                ("HOME".to_string(), "/tmp/w/home".to_string()),
                ("PATH".to_string(), "/usr/bin:/bin".to_string()),
            ]),
            limits: Limits::default(),
        }
    }

    const FDS: Fds = Fds { first: 3 };

    fn command() -> Command {
        Command {
            program: "/usr/bin/sh".into(),
            argv: vec!["sh".into(), "-c".into(), "echo hi".into()],
        }
    }

    /// The host as the tests see it: everything in the policy exists except `gone`.
    fn probe(path: &Path) -> Option<EntryKind> {
        let dirs = [
            "/tmp/w/proj/.git",
            "/tmp/w/proj/.git/hooks",
            "/tmp/w/proj/.git/objects",
            "/tmp/w/proj/secrets",
        ];
        let files = ["/tmp/w/proj/.env", "/tmp/w/proj/secrets/deeper"];
        if dirs.iter().any(|d| Path::new(d) == path) {
            Some(EntryKind::Dir)
        } else if files.iter().any(|f| Path::new(f) == path) {
            Some(EntryKind::File)
        } else {
            None
        }
    }

    /// One option with its operands per line, the form reviewers read.
    fn render(args: &[OsString]) -> String {
        let mut out = String::new();
        for arg in args {
            let arg = arg.to_string_lossy();
            if arg.starts_with("--") && !out.is_empty() {
                out.push('\n');
            } else if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&arg);
        }
        out
    }

    #[test]
    fn arguments_snapshot() {
        let t = translate(
            &policy(),
            &command(),
            Path::new("/run/s/empty"),
            FDS,
            &probe,
        );
        let expected = "--unshare-all
--unshare-user
--disable-userns
--cap-drop ALL
--die-with-parent
--new-session
--hostname sandboxpm
--share-net
--perms 1777
--tmpfs /tmp
--perms 0755
--tmpfs /dev
--dev-bind-try /dev/null /dev/null
--dev-bind-try /dev/zero /dev/zero
--dev-bind-try /dev/full /dev/full
--dev-bind-try /dev/random /dev/random
--dev-bind-try /dev/urandom /dev/urandom
--dev-bind-try /dev/tty /dev/tty
--symlink /proc/self/fd /dev/fd
--symlink /proc/self/fd/0 /dev/stdin
--symlink /proc/self/fd/1 /dev/stdout
--symlink /proc/self/fd/2 /dev/stderr
--perms 1777
--tmpfs /dev/shm
--remount-ro /dev
--proc /proc
--ro-bind /usr /usr
--perms 0755
--tmpfs /tmp/w
--ro-bind /nonexistent-etc/x /nonexistent-etc/x
--perms 0700
--tmpfs /tmp/w/home
--bind /tmp/w/proj /tmp/w/proj
--bind /tmp/w/proj/.git /tmp/w/proj/.git
--ro-bind /tmp/w/proj/.git/hooks /tmp/w/proj/.git/hooks
--ro-bind /tmp/w/proj/.git/objects /tmp/w/proj/.git/objects
--perms 0644
--file 7 /tmp/w/home/.npmrc
--symlink usr/bin /bin
--ro-bind /run/s/empty /tmp/w/proj/.env
--perms 0555
--tmpfs /tmp/w/proj/secrets
--remount-ro /tmp/w/proj/secrets
--remount-ro /tmp/w
--remount-ro /
--chdir /tmp/w/proj
--clearenv
--setenv HOME /tmp/w/home
--setenv PATH /usr/bin:/bin
--seccomp 3
--json-status-fd 4";
        assert_eq!(render(&t.args), expected);
        assert_eq!(t.command, vec!["/usr/bin/sh", "-c", "echo hi"]);
        assert_eq!(
            t.files,
            vec![FileData::Inline("//decoy/:_authToken=x\n".into())]
        );
        // `gone` no longer exists (bwrap would create it on the host); `deeper` is hidden with
        // its directory already.
        assert_eq!(
            t.skipped,
            vec![
                PathBuf::from("/tmp/w/proj/gone"),
                PathBuf::from("/tmp/w/proj/secrets/deeper")
            ]
        );
    }

    #[test]
    fn pins_come_before_the_mounts_below_them() {
        // A `--bind P P` from the host would cover whatever the sandbox mounted below P before.
        let t = translate(&policy(), &command(), Path::new("/e"), FDS, &probe);
        let text = render(&t.args);
        let pin = text.find("--bind /tmp/w/proj/.git ");
        let objects = text.find("--ro-bind /tmp/w/proj/.git/objects");
        assert!(
            pin.is_some() && objects.is_some() && pin < objects,
            "{text}"
        );
    }

    #[test]
    fn nothing_is_created_inside_a_host_bind() {
        // A home inside the (writable) project that does not exist, and a decoy in it: neither
        // the tmpfs mount point nor the file may be created through the bind.
        let mut p = policy();
        p.home = "/tmp/w/proj/no-such-home".into();
        p.home_files = vec![("x".into(), "y".into())];
        let t = translate(&p, &command(), Path::new("/e"), FDS, &probe);
        let text = render(&t.args);
        assert!(!text.contains("no-such-home"), "{text}");
        assert!(t.files.is_empty());
        assert!(
            t.skipped
                .contains(&PathBuf::from("/tmp/w/proj/no-such-home"))
        );
    }

    #[test]
    fn network_none_keeps_the_namespace_and_allow_adds_the_relay() {
        let mut p = policy();
        p.network = Network::None;
        let none = render(&translate(&p, &command(), Path::new("/e"), FDS, &probe).args);
        assert!(!none.contains("--share-net") && !none.contains("--block-fd"));
        p.network = Network::Allow(vec!["example.test".into()]);
        p.env.insert("NO_PROXY".into(), "*".into());
        let allow = render(&translate(&p, &command(), Path::new("/e"), FDS, &probe).args);
        assert!(!allow.contains("--share-net"), "{allow}");
        assert!(allow.contains("--block-fd 5"), "{allow}");
        assert!(
            allow.contains("--setenv HTTPS_PROXY http://127.0.0.1:3128"),
            "{allow}"
        );
        assert!(!allow.contains("NO_PROXY"), "{allow}");
    }

    #[test]
    fn thousands_of_denies_fit_in_the_argument_limit() {
        let mut p = policy();
        p.deny_read = (0..2500)
            .map(|i| deny(&format!("/usr/share/f{i}"), EntryKind::File))
            .collect();
        let exists = |path: &Path| {
            probe(path).or_else(|| path.starts_with("/usr/share").then_some(EntryKind::File))
        };
        let t = translate(&p, &command(), Path::new("/e"), FDS, &exists);
        assert!(t.skipped.is_empty());
        assert!(
            t.argument_count() <= MAX_ARGUMENTS,
            "{}",
            t.argument_count()
        );
        assert_eq!(
            t.args
                .windows(3)
                .filter(|w| w[0] == "--ro-bind" && w[1] == "/e")
                .count(),
            2500
        );
    }
}
