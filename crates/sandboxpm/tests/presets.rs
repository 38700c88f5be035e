//! `exec` presets against the real registry of npm's configuration and the real index of pip's
//! defaults: `npm install` and `pip install --target` succeed in their preset, while the install
//! code they run (a project's `postinstall`, a package's `setup.py`) can neither connect
//! directly nor through the proxy to a host outside the allowlist, and never sees the
//! credentials planted in the fake home.
//!
//! No registry or index host is written here: the tests ask npm and pip, like the presets do.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::*;

/// A credential in a planted `~/.pypirc`.
const PYPIRC_SECRET: &str = "PYPI-UPLOAD-PASSWORD-77aa";
/// The host outside every allowlist that the attacks try to reach.
const OUTSIDE_HOST: &str = "example.com";

/// The TLS settings of this machine, which the tests pass like a user's shell would.
const TLS_VARS: &[&str] = &[
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
];

const TEST_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// npm's registry, from npm itself.
fn npm_registry() -> Option<String> {
    let out = Command::new("npm")
        .args(["config", "get", "registry"])
        .env("PATH", TEST_PATH)
        .current_dir(std::env::temp_dir())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && text.starts_with("http")).then_some(text)
}

/// Whether `python3 -m pip` works with the test's PATH.
fn pip_works() -> bool {
    Command::new("python3")
        .args(["-m", "pip", "--version"])
        .env("PATH", TEST_PATH)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap_or_default()
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The allowlist entry the preset makes of a registry URL: `host:port`.
fn entry_of(url: &str) -> String {
    let authority = url
        .split("://")
        .nth(1)
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default();
    if authority.contains(':') {
        authority.to_string()
    } else if url.starts_with("https:") {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    }
}

fn chown_to(path: &Path, identity: &Identity) {
    if let Identity::User { uid, gid, .. } = identity {
        let mut paths = vec![path.to_path_buf()];
        while let Some(p) = paths.pop() {
            std::os::unix::fs::lchown(&p, Some(*uid), Some(*gid)).unwrap();
            if p.is_dir() {
                paths.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            }
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Runs `sandboxpm <args>` in the fixture's project with the fixture's environment plus this
/// machine's TLS settings.
fn run(f: &Fixture, args: &[&str]) -> Output {
    let mut cmd = f.command(args);
    for var in TLS_VARS {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Plants a realistic `~/.npmrc` (the registry and a token for it) and a `~/.pypirc` with an
/// upload password in the fixture's home.
fn plant_credentials(f: &Fixture, registry: &str) {
    let host = host_of(registry);
    write(
        &f.home.join(".npmrc"),
        &format!("registry={registry}\n//{host}/:_authToken={NPMRC_SECRET}\n"),
    );
    write(
        &f.home.join(".pypirc"),
        &format!(
            "[distutils]\nindex-servers = pypi\n[pypi]\nusername = __token__\npassword = {PYPIRC_SECRET}\n"
        ),
    );
    chown_to(&f.home, &f.identity);
}

fn assert_clean(out: &Output, report: &str, context: &str) {
    assert_no_secret(out, context);
    for secret in ALL_SECRETS.iter().chain([&PYPIRC_SECRET]) {
        assert!(
            !report.contains(secret),
            "{context}: {secret} reached the sandbox:\n{report}"
        );
    }
}

/// The project's `postinstall`: reads the planted credentials, connects directly, then asks the
/// proxy for a host outside the allowlist, and writes what happened to `attack-report.txt`.
const NODE_ATTACK: &str = r#"
const fs = require('fs'), net = require('net'), http = require('http'), os = require('os');
const out = [];
const read = (p) => { try { return fs.readFileSync(p, 'utf8'); } catch (e) { return 'ERR ' + e.code; } };
out.push('NPMRC:' + read(os.homedir() + '/.npmrc'));
out.push('PYPIRC:' + read(os.homedir() + '/.pypirc'));
out.push('ENV:' + JSON.stringify(process.env));
const finish = (line) => { out.push(line); fs.writeFileSync('attack-report.txt', out.join('\n') + '\n'); process.exit(0); };
let done = false;
const viaProxy = () => {
  if (done) return; done = true;
  const proxy = new URL(process.env.HTTPS_PROXY || process.env.https_proxy || 'http://127.0.0.1:1');
  const req = http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: 'OUTSIDE:443' });
  req.on('connect', (res) => finish('PROXY-CONNECT ' + res.statusCode));
  req.on('response', (res) => finish('PROXY-CONNECT ' + res.statusCode));
  req.on('error', (e) => finish('PROXY-ERROR ' + e.code));
  req.end();
};
const direct = net.connect({ host: '1.1.1.1', port: 443, timeout: 3000 });
direct.on('connect', () => { out.push('DIRECT-CONNECTED'); direct.destroy(); viaProxy(); });
direct.on('error', (e) => { out.push('DIRECT-REFUSED ' + e.code); viaProxy(); });
direct.on('timeout', () => { out.push('DIRECT-REFUSED timeout'); direct.destroy(); viaProxy(); });
"#;

#[test]
fn npm_install_runs_in_its_preset_and_reaches_only_the_registry() {
    if !require(
        backend_available("native"),
        "the native backend is unavailable here",
    ) {
        return;
    }
    let Some(registry) = npm_registry() else {
        require(false, "npm is not installed (or reports no registry)");
        return;
    };
    for identity in identities() {
        let f = Fixture::new(&identity);
        let context = format!("npm as {}", identity.label());
        plant_credentials(&f, &registry);
        write(
            &f.project.join("package.json"),
            r#"{"name": "control-marker-pkg", "version": "1.0.0",
                "dependencies": {"is-number": "^7.0.0"},
                "scripts": {"postinstall": "node attack.js"}}"#,
        );
        write(
            &f.project.join("attack.js"),
            &NODE_ATTACK.replace("OUTSIDE", OUTSIDE_HOST),
        );
        chown_to(&f.project, &identity);
        let npmrc_before = read(&f.home.join(".npmrc"));

        let out = run(
            &f,
            &["exec", "--", "npm", "install", "--no-audit", "--no-fund"],
        );
        let t = text(&out);
        let report = read(&f.project.join("attack-report.txt"));
        assert_clean(&out, &report, &context);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{context}: npm install failed:\n{t}"
        );
        assert!(
            f.project
                .join("node_modules/is-number/package.json")
                .is_file(),
            "{context}: node_modules/is-number is missing:\n{t}"
        );
        // The install script ran inside the same sandbox, and saw the planted, clean config.
        assert!(
            report.contains(&format!("registry={registry}")),
            "{context}: the planted .npmrc lacks the registry:\n{report}"
        );
        assert!(
            report.contains("PYPIRC:ERR ENOENT"),
            "{context}: ~/.pypirc was visible:\n{report}"
        );
        assert!(
            report.contains("DIRECT-REFUSED") && !report.contains("DIRECT-CONNECTED"),
            "{context}: a direct connection went out:\n{report}"
        );
        assert!(
            report.contains("PROXY-CONNECT 403"),
            "{context}: the proxy did not refuse {OUTSIDE_HOST}:\n{report}"
        );
        assert!(
            t.contains(&format!("blocked: connection to {OUTSIDE_HOST}:443")),
            "{context}: the refusal was not reported:\n{t}"
        );
        // The cache is the user's own npm cache, which persists.
        assert!(
            f.home.join(".npm").is_dir(),
            "{context}: npm's cache was not used"
        );
        assert_eq!(read(&f.home.join(".npmrc")), npmrc_before, "{context}");
    }
}

#[test]
fn npm_install_without_the_preset_has_no_network() {
    if !require(
        backend_available("native"),
        "the native backend is unavailable here",
    ) {
        return;
    }
    if npm_registry().is_none() {
        require(false, "npm is not installed");
        return;
    }
    let f = Fixture::new(&Identity::Root);
    write(
        &f.project.join("package.json"),
        r#"{"name": "control-marker-pkg", "version": "1.0.0", "dependencies": {"is-number": "^7.0.0"}}"#,
    );
    let out = run(
        &f,
        &[
            "exec",
            "--no-preset",
            "--",
            "npm",
            "install",
            "--fetch-retries=0",
            "--no-audit",
        ],
    );
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!f.project.join("node_modules/is-number").exists());
}

/// A local package whose `setup.py` runs the same attack at build time, writing its findings
/// next to itself (the build runs in the project, which is writable).
const PYTHON_ATTACK: &str = r#"
import os, socket
from setuptools import setup
here = os.path.dirname(os.path.abspath(__file__))
lines = []
def read(path):
    try:
        return open(os.path.expanduser(path)).read()
    except Exception as e:
        return "ERR " + type(e).__name__
lines.append("PYPIRC:" + read("~/.pypirc"))
lines.append("NPMRC:" + read("~/.npmrc"))
lines.append("PIPCONF:" + read("~/.config/pip/pip.conf"))
lines.append("ENV:" + repr(dict(os.environ)))
try:
    socket.create_connection(("1.1.1.1", 443), timeout=3).close()
    lines.append("DIRECT-CONNECTED")
except Exception as e:
    lines.append("DIRECT-REFUSED " + repr(e))
try:
    proxy = os.environ.get("HTTPS_PROXY") or os.environ["https_proxy"]
    host, port = proxy.split("://", 1)[1].strip("/").rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(b"CONNECT OUTSIDE:443 HTTP/1.1\r\nHost: OUTSIDE:443\r\n\r\n")
    lines.append("PROXY " + s.recv(200).split(b"\r\n")[0].decode())
except Exception as e:
    lines.append("PROXY-ERROR " + repr(e))
with open(os.path.join(here, "..", "attack-report.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
setup(name="attackpkg", version="1.0", py_modules=[])
"#;

#[test]
fn pip_install_target_runs_in_its_preset_and_reaches_only_the_index() {
    if !require(
        backend_available("native"),
        "the native backend is unavailable here",
    ) {
        return;
    }
    if !require(pip_works(), "python3 -m pip is not installed") {
        return;
    }
    for identity in identities() {
        let f = Fixture::new(&identity);
        let context = format!("pip as {}", identity.label());
        plant_credentials(&f, "https://registry.invalid/");
        write(
            &f.project.join("attackpkg/setup.py"),
            &PYTHON_ATTACK.replace("OUTSIDE", OUTSIDE_HOST),
        );
        chown_to(&f.project, &identity);
        // Outside the project, and missing: the preset makes it (and only it) writable.
        let target: PathBuf = f.root.join("site-packages-target");

        let out = run(
            &f,
            &[
                "exec",
                "--",
                "python3",
                "-m",
                "pip",
                "install",
                "--no-build-isolation",
                "--target",
                target.to_str().unwrap(),
                "./attackpkg",
                "six",
            ],
        );
        let t = text(&out);
        let report = read(&f.project.join("attack-report.txt"));
        assert_clean(&out, &report, &context);
        assert_eq!(out.status.code(), Some(0), "{context}: pip failed:\n{t}");
        assert!(
            target.join("six.py").is_file(),
            "{context}: {}/six.py is missing:\n{t}",
            target.display()
        );
        assert!(
            report.contains("PYPIRC:ERR"),
            "{context}: ~/.pypirc was visible:\n{report}"
        );
        assert!(
            report.contains("PIPCONF:# written by sandboxpm"),
            "{context}: the planted pip.conf is missing:\n{report}"
        );
        assert!(
            report.contains("DIRECT-REFUSED") && !report.contains("DIRECT-CONNECTED"),
            "{context}: a direct connection went out:\n{report}"
        );
        assert!(
            report.contains("PROXY HTTP/1.1 403"),
            "{context}: the proxy did not refuse {OUTSIDE_HOST}:\n{report}"
        );
        assert!(
            t.contains(&format!("blocked: connection to {OUTSIDE_HOST}:443")),
            "{context}: the refusal was not reported:\n{t}"
        );
    }
}

#[test]
fn policy_show_prints_the_preset_and_flags_shape_it() {
    let Some(registry) = npm_registry() else {
        require(false, "npm is not installed");
        return;
    };
    let f = Fixture::new(&Identity::Root);
    plant_credentials(&f, &registry);
    let entry = entry_of(&registry);

    let out = run(&f, &["policy", "show", "--", "npm", "install"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_no_secret(&out, "policy show");
    assert!(t.contains("Preset: npm"), "{t}");
    assert!(
        t.contains(&format!("rw   {}", f.home.join(".npm").display())),
        "the cache is not granted:\n{t}"
    );
    assert!(t.contains(&format!("net  {entry} ")), "{t}");
    assert!(t.contains(&format!("| registry={registry}")), "{t}");
    assert!(
        t.contains(&format!("network:           only {entry}\n")),
        "{t}"
    );
    // policy show changes nothing: the missing cache is announced, not created.
    assert!(!f.home.join(".npm").exists());
    assert!(t.contains("created when the command runs"), "{t}");

    let out = run(
        &f,
        &[
            "policy",
            "show",
            "--allow-net",
            "extra.invalid",
            "--",
            "npm",
            "ci",
        ],
    );
    let t = text(&out);
    assert!(
        t.contains(&format!("network:           only {entry}, extra.invalid")),
        "--allow-net adds to the preset:\n{t}"
    );

    let out = run(&f, &["policy", "show", "--net", "none", "--", "npm", "ci"]);
    let t = text(&out);
    assert!(t.contains("network:           none"), "{t}");
    assert!(t.contains("not used: --net replaces"), "{t}");

    let out = run(&f, &["policy", "show", "--no-preset", "--", "npm", "ci"]);
    let t = text(&out);
    assert!(!t.contains("Preset:"), "{t}");
    assert!(t.contains("network:           none"), "{t}");

    let out = run(&f, &["policy", "show", "--json", "--", "npm", "ci"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["preset"]["tool"], "npm");
    assert_eq!(json["policy"]["network"]["mode"], "allow");
}

/// A version manager the way pyenv and asdf are built: a shim script that `exec`s the manager,
/// which reads its version file and `exec`s the real program of that version, here a symlink to
/// the system's `python3`.
fn plant_version_manager(f: &Fixture) -> PathBuf {
    let root = f.home.join(".vm");
    let script = |path: &Path, text: &str| {
        write(path, text);
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    };
    script(
        &root.join("libexec/vm"),
        "#!/bin/sh\nroot=\"$(cd \"$(dirname \"$0\")/..\" && pwd)\"\nversion=\"$(cat \"$root/version\")\"\n\
         [ \"$1\" = exec ] || exit 2\nshift\nprog=\"$1\"\nshift\n\
         exec \"$root/versions/$version/bin/$prog\" \"$@\"\n",
    );
    write(&root.join("version"), "1.0\n");
    for tool in ["pip", "python3"] {
        script(
            &root.join("shims").join(tool),
            &format!(
                "#!/bin/sh\nexec \"{}\" exec {tool} \"$@\"\n",
                root.join("libexec/vm").display()
            ),
        );
    }
    let bin = root.join("versions/1.0/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let python = std::fs::canonicalize(
        TEST_PATH
            .split(':')
            .map(|d| Path::new(d).join("python3"))
            .find(|p| p.exists())
            .unwrap(),
    )
    .unwrap();
    std::os::unix::fs::symlink(&python, bin.join("python3")).unwrap();
    script(
        &bin.join("pip"),
        "#!/bin/sh\nexec \"$(dirname \"$0\")/python3\" -m pip \"$@\"\n",
    );
    chown_to(&f.home, &f.identity);
    root.join("shims/pip")
}

#[test]
fn a_version_manager_shim_keeps_working_in_the_preset() {
    for (backend, identity) in sandboxes() {
        if backend == "docker" || !pip_works() {
            continue;
        }
        let f = Fixture::new(&identity);
        let context = format!("{backend} as {}", identity.label());
        // Run by path: its directory is not on PATH, so only the preset can grant the manager.
        let shim = plant_version_manager(&f);
        let shim = shim.to_str().unwrap();

        // `--net none`: the landlock backend has no network allowlist, and none is needed here.
        let out = run(
            &f,
            &[
                "exec",
                "--backend",
                backend,
                "--net",
                "none",
                "--",
                shim,
                "--version",
            ],
        );
        let t = text(&out);
        assert_no_secret(&out, &context);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{context}: the shim failed:\n{t}"
        );
        assert!(t.starts_with("pip "), "{context}: {t}");

        let out = run(
            &f,
            &[
                "exec",
                "--backend",
                backend,
                "--net",
                "none",
                "--no-preset",
                "--",
                shim,
                "--version",
            ],
        );
        assert_ne!(
            out.status.code(),
            Some(0),
            "{context}: the shim worked without the preset, so the test proves nothing:\n{}",
            text(&out)
        );
    }
    require(pip_works(), "python3 -m pip is not installed");
}
