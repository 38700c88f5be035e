//! Harness for tests that run the real `sandboxpm` binary, as root and as an unprivileged user.
//!
//! A sandbox test never silently passes on a machine that cannot sandbox: it skips with a message
//! only when `SANDBOXPM_SANDBOX_MUST_WORK` is unset, and fails otherwise (CI sets it).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Secrets planted in the fixture; none may ever appear in a sandboxed command's output.
pub const SSH_SECRET: &str = "SSH-PRIVATE-KEY-7f3a9c";
pub const AWS_SECRET: &str = "AWS-SECRET-KEY-19bd22";
pub const NPMRC_SECRET: &str = "NPM-AUTH-TOKEN-c0ffee";
pub const DOTENV_SECRET: &str = "DOTENV-PASSWORD-5e5e5e";
pub const OUTSIDE_SECRET: &str = "OUTSIDE-PROJECT-SECRET-abab";
pub const ENV_SECRET: &str = "ENV-VAR-TOKEN-d00d";
pub const PASSWD_HOME_SECRET: &str = "PASSWD-HOME-SECRET-4242";
pub const ALL_SECRETS: &[&str] = &[
    SSH_SECRET,
    AWS_SECRET,
    NPMRC_SECRET,
    DOTENV_SECRET,
    OUTSIDE_SECRET,
    ENV_SECRET,
    PASSWD_HOME_SECRET,
];

/// The name of the unprivileged account tests run as.
pub const TEST_USER_DEFAULT: &str = "sbxtest";

pub fn must_work() -> bool {
    std::env::var_os("SANDBOXPM_SANDBOX_MUST_WORK").is_some_and(|v| v == "1")
}

/// Skips (returns false) or panics, depending on `SANDBOXPM_SANDBOX_MUST_WORK`.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if must_work() {
        panic!("SANDBOXPM_SANDBOX_MUST_WORK=1 but {what}");
    }
    eprintln!("skipping: {what} (set SANDBOXPM_SANDBOX_MUST_WORK=1 to make this a failure)");
    false
}

/// Who runs the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Root,
    User {
        name: String,
        uid: u32,
        gid: u32,
        home: PathBuf,
    },
}

impl Identity {
    pub fn label(&self) -> String {
        match self {
            Identity::Root => "root".into(),
            Identity::User { name, .. } => format!("user {name}"),
        }
    }
    fn ids(&self) -> Option<(u32, u32)> {
        match self {
            Identity::Root => None,
            Identity::User { uid, gid, .. } => Some((*uid, *gid)),
        }
    }
    /// The home directory in the password database.
    pub fn passwd_home(&self) -> PathBuf {
        match self {
            Identity::Root => lookup_user("root")
                .map(|u| u.3)
                .unwrap_or_else(|| "/root".into()),
            Identity::User { home, .. } => home.clone(),
        }
    }
}

fn lookup_user(name: &str) -> Option<(String, u32, u32, PathBuf)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0] != name {
            return None;
        }
        Some((
            f[0].to_string(),
            f[2].parse().ok()?,
            f[3].parse().ok()?,
            PathBuf::from(f[5]),
        ))
    })
}

/// The identities to test as: root (we are root in CI) and the unprivileged test user.
pub fn identities() -> Vec<Identity> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    if uid != 0 {
        // Already unprivileged: test as ourselves.
        let name = std::env::var("USER").unwrap_or_default();
        let home = PathBuf::from(std::env::var("HOME").unwrap_or_default());
        // SAFETY: getgid cannot fail.
        return vec![Identity::User {
            name,
            uid,
            gid: unsafe { libc::getgid() },
            home,
        }];
    }
    let mut out = vec![Identity::Root];
    let name = std::env::var("SANDBOXPM_TEST_USER").unwrap_or_else(|_| TEST_USER_DEFAULT.into());
    match lookup_user(&name) {
        Some((name, uid, gid, home)) if uid != 0 => out.push(Identity::User {
            name,
            uid,
            gid,
            home,
        }),
        _ => {
            require(
                false,
                &format!("no unprivileged test user `{name}` (create it: useradd -m {name})"),
            );
        }
    }
    out
}

/// The binary, linked (or copied) once to a world-readable place so that every identity can
/// run it. One place per build of the binary, shared by every test process: nextest runs each
/// test in a process of its own, and a copy per process filled the disk (160 MB each).
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let source = Path::new(env!("CARGO_BIN_EXE_sandboxpm"));
        let meta = std::fs::metadata(source).unwrap();
        let built = meta
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("sandboxpm-test-bin-{built:x}-{:x}", meta.len()));
        let dest = dir.join("sandboxpm");
        if dest.is_file() {
            return dest;
        }
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Made under a name of our own, then renamed: a concurrent test process never sees it
        // half-written.
        let partial = dir.join(format!("sandboxpm.{}", std::process::id()));
        let _ = std::fs::remove_file(&partial);
        if std::fs::hard_link(source, &partial).is_err() {
            std::fs::copy(source, &partial).unwrap();
        }
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&partial, &dest).unwrap();
        dest
    })
}

/// Whether `backend` can run here at all (asks the binary's doctor).
pub fn backend_available(backend: &str) -> bool {
    static REPORT: OnceLock<serde_json::Value> = OnceLock::new();
    let report = REPORT.get_or_init(|| {
        let out = Command::new(binary())
            .args(["doctor", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    });
    match backend {
        "native" => report["user_namespaces"].get("Ok").is_some(),
        "landlock" => report["landlock_abi"].as_i64().unwrap_or(0) > 0,
        // [socket, daemon answering a ping]
        "docker" => report["docker"][1].as_bool().unwrap_or(false),
        // bubblewrap is installed and can create its namespaces (unprivileged here).
        "bwrap" => report["bwrap"].is_string() && report["user_namespaces"].get("Ok").is_some(),
        _ => false,
    }
}

/// A planted home, project and outside directory, owned by the identity under test.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub project: PathBuf,
    pub outside: PathBuf,
    pub identity: Identity,
    /// Files planted in the identity's real password-database home, removed on drop.
    planted: Vec<PathBuf>,
}

impl Fixture {
    pub fn new(identity: &Identity) -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("sandboxpm-escape-")
            .tempdir()
            .unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = root.join("home");
        let project = root.join("project");
        let outside = root.join("outside");
        let files: &[(&Path, &str, &str)] = &[
            (&home, ".ssh/id_rsa", SSH_SECRET),
            (&home, ".aws/credentials", AWS_SECRET),
            (&home, ".npmrc", NPMRC_SECRET),
            (&home, ".bashrc", "# original bashrc\n"),
            (
                &project,
                "package.json",
                "{\"name\": \"control-marker-pkg\"}\n",
            ),
            (&project, ".env", DOTENV_SECRET),
            (&project, "config/.env.production", DOTENV_SECRET),
            (&project, "src/index.js", "console.log('hi')\n"),
            (&project, ".git/config", "[core]\n\tbare = false\n"),
            (&project, ".git/hooks/README", "hooks\n"),
            (&outside, "secret.txt", OUTSIDE_SECRET),
        ];
        for (base, rel, content) in files {
            let path = base.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
        }
        let mut planted = Vec::new();
        // A secret in the real password-database home, which a changed $HOME must not unhide.
        let passwd_home = identity.passwd_home();
        if passwd_home.is_dir() {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = passwd_home.join(format!(
                ".sandboxpm-escape-secret-{}-{n}",
                std::process::id()
            ));
            std::fs::write(&p, PASSWD_HOME_SECRET).unwrap();
            planted.push(p);
        }
        if let Some((uid, gid)) = identity.ids() {
            chown_tree(&root, uid, gid);
            for p in &planted {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
            }
        }
        Fixture {
            _dir: dir,
            root,
            home,
            project,
            outside,
            identity: identity.clone(),
            planted,
        }
    }

    pub fn passwd_secret_file(&self) -> Option<&Path> {
        self.planted.first().map(PathBuf::as_path)
    }

    /// Runs `sandboxpm exec --backend B <extra> -- <cmd>` in the project, with the fixture's HOME
    /// and secrets in the environment.
    pub fn exec(&self, backend: &str, extra: &[&str], cmd: &[&str]) -> Output {
        let mut args: Vec<&str> = vec!["exec", "--backend", backend];
        args.extend_from_slice(extra);
        args.push("--");
        args.extend_from_slice(cmd);
        self.run_binary(&args, Stdio::null())
    }

    pub fn run_binary(&self, args: &[&str], stdin: Stdio) -> Output {
        self.command(args).stdin(stdin).output().unwrap()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = match self.identity.ids() {
            None => Command::new(binary()),
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.args([
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--init-groups".into(),
                ]);
                c.arg("--");
                c.arg(binary());
                c
            }
        };
        command
            .args(args)
            .current_dir(&self.project)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("LANG", "C.UTF-8")
            .env("NPM_TOKEN", ENV_SECRET)
            .env("GITHUB_TOKEN", ENV_SECRET)
            .env("AWS_SECRET_ACCESS_KEY", ENV_SECRET);
        command
    }

    /// A snapshot of everything outside the project, and of the project's protected files.
    pub fn host_state(&self) -> BTreeMap<PathBuf, (u64, u32, Vec<u8>)> {
        let mut state = BTreeMap::new();
        for base in [&self.home, &self.outside, &self.project.join(".git")] {
            snapshot(base, &mut state);
        }
        for name in [".env", "package.json", "config/.env.production"] {
            snapshot(&self.project.join(name), &mut state);
        }
        for p in &self.planted {
            snapshot(p, &mut state);
        }
        // Other tests plant their own files there concurrently: only this fixture's count.
        for rc in [".bashrc", ".npmrc", ".profile"] {
            snapshot(&self.identity.passwd_home().join(rc), &mut state);
        }
        state
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for p in &self.planted {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn snapshot(path: &Path, state: &mut BTreeMap<PathBuf, (u64, u32, Vec<u8>)>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        state.insert(path.to_path_buf(), (0, meta.mode(), Vec::new()));
        for entry in std::fs::read_dir(path).unwrap().flatten() {
            snapshot(&entry.path(), state);
        }
    } else {
        let content = std::fs::read(path).unwrap_or_default();
        state.insert(path.to_path_buf(), (meta.len(), meta.mode(), content));
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap().flatten() {
            chown_tree(&entry.path(), uid, gid);
        }
    }
}

/// Everything the command printed.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that no planted secret appears in `out`.
pub fn assert_no_secret(out: &Output, context: &str) {
    let text = text(out);
    for secret in ALL_SECRETS {
        assert!(
            !text.contains(secret),
            "{context}: secret {secret} leaked:\n{text}"
        );
    }
}

/// The control every attack script ends with: ordinary work in the same sandbox still succeeds.
pub const CONTROL: &str = "cat package.json && echo CONTROL_OK";

pub fn assert_control_ran(out: &Output, context: &str) {
    let text = text(out);
    assert!(
        text.contains("control-marker-pkg") && text.contains("CONTROL_OK"),
        "{context}: the control did not run, so the sandbox did not work at all:\n{text}"
    );
}

/// Runs `attack` (a shell script) for every backend and identity, asserting that no secret
/// leaks, the host is unchanged, and the control at the end of the script ran.
pub fn attack(script: &str) {
    attack_with(script, &[], |_, _| {});
}

/// Every (backend, identity) pair an attack runs under: each Linux backend this machine can
/// run (or a failure under `SANDBOXPM_SANDBOX_MUST_WORK=1`), as root and as the test user.
///
/// `docker` runs as root only: the daemon's socket belongs to root and the docker group, and
/// membership of that group is root-equivalent, so the test user is not given it (the backend
/// then refuses with a clear error, tested in `escape.rs`).
pub fn sandboxes() -> Vec<(&'static str, Identity)> {
    let mut out = Vec::new();
    for backend in ["native", "landlock", "bwrap", "docker"] {
        let mut who = identities();
        if backend == "docker" {
            who.retain(|i| *i == Identity::Root);
            if who.is_empty() {
                eprintln!("skipping the docker backend: it is tested as root only");
                continue;
            }
        }
        if require(
            backend_available(backend),
            &format!("the {backend} backend is unavailable here"),
        ) {
            out.extend(who.into_iter().map(|identity| (backend, identity)));
        }
    }
    out
}

/// Like [`attack`], with extra `exec` flags and an extra check per run.
pub fn attack_with(script: &str, extra: &[&str], check: impl Fn(&Fixture, &Output)) {
    for (backend, identity) in sandboxes() {
        let fixture = Fixture::new(&identity);
        let script = script
            .replace("$OUTSIDE", &fixture.outside.to_string_lossy())
            .replace("$PASSWD_HOME", &identity.passwd_home().to_string_lossy())
            .replace(
                "$PASSWD_SECRET",
                &fixture
                    .passwd_secret_file()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        let full = format!("{script}\n{CONTROL}\n");
        let before = fixture.host_state();
        let out = fixture.exec(backend, extra, &["sh", "-c", &full]);
        let context = format!("{backend} as {}", identity.label());
        assert_no_secret(&out, &context);
        assert_control_ran(&out, &context);
        let after = fixture.host_state();
        assert_eq!(
            changed(&before, &after),
            Vec::<PathBuf>::new(),
            "{context}: the host changed:\n{}",
            text(&out)
        );
        check(&fixture, &out);
    }
}

fn changed(
    before: &BTreeMap<PathBuf, (u64, u32, Vec<u8>)>,
    after: &BTreeMap<PathBuf, (u64, u32, Vec<u8>)>,
) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = before
        .iter()
        .filter(|(p, v)| after.get(*p) != Some(v))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(after.keys().filter(|p| !before.contains_key(*p)).cloned());
    out
}

/// Reads whatever is pending on a non-blocking descriptor.
pub fn drain(fd: &mut std::fs::File) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match fd.read(&mut chunk) {
            Ok(0) | Err(_) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

pub fn osstr(s: &str) -> &OsStr {
    OsStr::new(s)
}
