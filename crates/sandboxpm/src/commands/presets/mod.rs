//! `exec` presets: what npm, pnpm, yarn, bun, pip and uv need in the sandbox, and nothing else.
//!
//! `sandboxpm exec -- npm install` under the plain defaults fails: no network, no cache, no
//! registry configuration (`~/.npmrc` is a mandatory deny). A preset adds, for the one tool it
//! recognises ([`detect`]):
//!
//! - **its cache**, read-write, created when missing (`npm config get cache`, pnpm's store,
//!   `~/.cache/pip`, …);
//! - **where it installs**, read-write: the project is already; pip's and uv's virtualenv and
//!   `--target`/`--prefix`/`--root` directories;
//! - **its own installation**, read-only, following symlinks, `#!` lines and version-manager
//!   shims ([`install`]);
//! - **the registries or indexes of its own configuration** (npm's layers, `.yarnrc.yml`,
//!   `bunfig.toml`, `pip.conf`, `uv.toml`, their environment variables and command-line options)
//!   as a network allowlist, through the filtering proxy; a tool's built-in default is asked of
//!   the tool at run time ([`probe`]), never written here;
//! - **that configuration without credentials**, as a file planted in the private home (`~/.npmrc`,
//!   `~/.yarnrc.yml`, `~/.config/pip/pip.conf`, `~/.config/uv/uv.toml`): only registry and index
//!   URLs (user and password removed), the cache location and TLS trust settings. Tokens,
//!   passwords and client keys never enter the sandbox, so a private registry that needs them
//!   fails to authenticate rather than leak them;
//! - the TLS trust variables of the host (`NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`, …) and the
//!   files they name, and the few non-secret variables the tool or its version manager reads.
//!
//! The mandatory denies still apply on top. Explicit flags add to a preset (`--allow-read`,
//! `--allow-write`, `--allow-net`, `--env`); `--net none` and `--net host` replace its network;
//! `--no-preset` turns it off.
//!
//! Detection reads configuration files itself and runs programs only inside the probe sandbox,
//! so recognising a tool never runs project or package code unconfined.

mod detect;
mod install;
mod node;
mod probe;
mod python;
mod textconf;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sandboxpm_sandbox::{Backend, Network, Policy, ResolveContext};
use serde::Serialize;

pub use detect::Tool;

/// TLS trust settings passed through when set (they name public certificates, not secrets).
const TLS_VARS: &[&str] = &[
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
];

/// What a preset adds to the policy of one command.
#[derive(Debug, Clone, Serialize)]
pub struct Preset {
    /// The recognised tool.
    pub tool: Tool,
    /// Paths made readable.
    pub read: Vec<PathGrant>,
    /// Paths made writable.
    pub write: Vec<PathGrant>,
    /// Hosts allowed through the proxy.
    pub hosts: Vec<HostGrant>,
    /// Environment variables passed through.
    pub env: Vec<EnvGrant>,
    /// Files planted in the private home.
    pub home_files: Vec<HomeFile>,
    /// What the preset could not do, or decided not to.
    pub notes: Vec<String>,
}

/// A path and why the preset grants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathGrant {
    /// The path.
    pub path: PathBuf,
    /// Why.
    pub why: String,
    /// Created (as a directory) before the command runs when missing: caches and install
    /// destinations, which the tool would create itself.
    pub create: bool,
}

impl PathGrant {
    fn new(path: &Path, why: impl Into<String>) -> Self {
        PathGrant {
            path: path.to_path_buf(),
            why: why.into(),
            create: false,
        }
    }

    fn created(path: &Path, why: impl Into<String>) -> Self {
        PathGrant {
            create: true,
            ..PathGrant::new(path, why)
        }
    }
}

/// An allowlist entry and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostGrant {
    /// `host:port`.
    pub host: String,
    /// Why.
    pub why: String,
}

/// A variable passed through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvGrant {
    /// Its name.
    pub name: String,
    /// Why.
    pub why: String,
}

/// A file written in the private home before the command starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HomeFile {
    /// Relative to the home.
    pub path: PathBuf,
    /// The content.
    pub content: String,
    /// Why.
    pub why: String,
}

impl Preset {
    fn new(tool: Tool) -> Self {
        Preset {
            tool,
            read: Vec::new(),
            write: Vec::new(),
            hosts: Vec::new(),
            env: Vec::new(),
            home_files: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Allows the host of `url` (an http(s) URL), saying why.
    fn allow_url(&mut self, url: &str, why: impl Into<String>) {
        match host_entry(url) {
            Some(host) => {
                let why = why.into();
                if !self.hosts.iter().any(|h| h.host == host) {
                    self.hosts.push(HostGrant { host, why });
                }
            }
            None => self.notes.push(format!(
                "{}: not an http(s) URL with a host; nothing allowed for it",
                strip_credentials(url)
            )),
        }
    }

    fn pass_env(&mut self, host: &HostEnv, name: &str, why: &str) {
        if host.var(name).is_some() && !self.env.iter().any(|e| e.name == name) {
            self.env.push(EnvGrant {
                name: name.to_string(),
                why: why.to_string(),
            });
        }
    }

    /// Adds the preset to `policy` (paths and variables; the network is merged by the caller
    /// with the flags).
    pub fn apply(&self, policy: &mut Policy) {
        policy
            .read
            .extend(self.read.iter().map(|g| path_text(&g.path)));
        policy
            .write
            .extend(self.write.iter().map(|g| path_text(&g.path)));
        policy.env.extend(self.env.iter().map(|e| e.name.clone()));
    }

    /// The allowlist entries.
    pub fn host_entries(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.host.clone()).collect()
    }

    /// The files to plant, as the resolved policy carries them.
    pub fn planted(&self) -> Vec<(PathBuf, String)> {
        self.home_files
            .iter()
            .map(|f| (f.path.clone(), f.content.clone()))
            .collect()
    }

    /// Creates the missing directories the tool would create itself (caches, `--target`), so
    /// that they can be granted. Failures are reported through `warn` and the grant is dropped
    /// by resolution.
    pub fn create_missing(&self, warn: &mut dyn FnMut(&str)) {
        for grant in self.write.iter().filter(|g| g.create) {
            if std::fs::symlink_metadata(&grant.path).is_ok() {
                continue;
            }
            if let Err(e) = std::fs::create_dir_all(&grant.path) {
                warn(&format!(
                    "cannot create {} for the {} preset: {e}",
                    grant.path.display(),
                    self.tool.name()
                ));
            }
        }
    }

    /// The human-readable form for `--verbose` and `policy show`.
    pub fn render(&self, network_overridden: bool) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "Preset: {} (turn it off with --no-preset)",
            self.tool.name()
        );
        let row = |w: &mut String, kind: &str, what: &str, why: &str| {
            let _ = writeln!(w, "  {kind:<4} {what:<44} {why}");
        };
        for g in &self.write {
            let missing = if g.create && std::fs::symlink_metadata(&g.path).is_err() {
                " (missing: created when the command runs)"
            } else {
                ""
            };
            row(
                w,
                "rw",
                &g.path.display().to_string(),
                &format!("{}{missing}", g.why),
            );
        }
        for g in &self.read {
            row(w, "ro", &g.path.display().to_string(), &g.why);
        }
        for h in &self.hosts {
            let why = if network_overridden {
                format!("{} (not used: --net replaces the preset's network)", h.why)
            } else {
                h.why.clone()
            };
            row(w, "net", &h.host, &why);
        }
        for e in &self.env {
            row(w, "env", &e.name, &e.why);
        }
        for f in &self.home_files {
            row(w, "file", &format!("~/{}", f.path.display()), &f.why);
            for line in f.content.lines() {
                let _ = writeln!(w, "         | {line}");
            }
        }
        for note in &self.notes {
            let _ = writeln!(w, "  note: {note}");
        }
        out
    }

    /// Removes duplicates and grants that add nothing: writes inside the project (writable
    /// already), read grants under the system directories or under another grant of the
    /// preset, and read grants of written paths.
    fn tidy(&mut self, project: &Path) {
        let system: Vec<PathBuf> = sandboxpm_sandbox::defaults::SYSTEM_READ
            .iter()
            .chain(sandboxpm_sandbox::defaults::ETC_READ)
            .filter(|s| !s.contains('*'))
            .map(PathBuf::from)
            .collect();
        let mut write: Vec<PathGrant> = Vec::new();
        for g in std::mem::take(&mut self.write) {
            if !g.path.starts_with(project) && !write.iter().any(|w| w.path == g.path) {
                write.push(g);
            }
        }
        let covers = |list: &[PathGrant], path: &Path, exclude: Option<usize>| {
            list.iter()
                .enumerate()
                .any(|(i, g)| Some(i) != exclude && path.starts_with(&g.path) && g.path != path)
        };
        let reads = std::mem::take(&mut self.read);
        let mut read: Vec<PathGrant> = Vec::new();
        for (i, g) in reads.iter().enumerate() {
            let redundant = system.iter().any(|s| g.path.starts_with(s))
                || covers(&reads, &g.path, Some(i))
                || write.iter().any(|w| g.path.starts_with(&w.path))
                || read.iter().any(|r| r.path == g.path);
            if !redundant {
                read.push(g.clone());
            }
        }
        self.read = read;
        self.write = write;
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The host's view: environment, homes, project.
#[derive(Debug, Clone)]
pub struct HostEnv {
    /// The working directory (the project).
    pub cwd: PathBuf,
    /// `$HOME`, else the account's home.
    pub home: Option<PathBuf>,
    /// Every home `~` stands for.
    pub homes: Vec<PathBuf>,
    /// The environment.
    pub env: BTreeMap<String, String>,
}

impl HostEnv {
    /// From the resolution context of the command.
    pub fn new(ctx: &ResolveContext) -> Self {
        let mut homes = Vec::new();
        for home in [&ctx.home, &ctx.passwd_home].into_iter().flatten() {
            if home.is_absolute() && !homes.contains(home) {
                homes.push(home.clone());
            }
        }
        HostEnv {
            cwd: ctx.cwd.clone(),
            home: ctx.home.clone().or_else(|| ctx.passwd_home.clone()),
            homes,
            env: ctx.env.clone(),
        }
    }

    /// A variable, when set and not empty.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `PATH`.
    pub fn path_var(&self) -> Option<&str> {
        self.var("PATH")
    }

    /// `$HOME/rel`.
    pub fn in_home(&self, rel: &str) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join(rel))
    }

    /// An absolute directory from a variable, else `default` (relative to the home).
    pub fn dir_var_or(&self, var: &str, default: &str) -> Option<PathBuf> {
        self.var(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| self.in_home(default))
    }

    /// `~/x` expanded; a relative path is taken from the working directory.
    pub fn expand(&self, text: &str) -> PathBuf {
        if text == "~" {
            return self.home.clone().unwrap_or_default();
        }
        match (text.strip_prefix("~/"), &self.home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => self.cwd.join(text),
        }
    }
}

/// Builds the preset for `argv` (whose program was found at `program`), or `None` when the
/// command is not a known package manager. `base` is the command's policy without the preset:
/// the probe sandbox is made from it, read-only. Never fails: what cannot be found out becomes a
/// note.
pub fn build(
    argv: &[OsString],
    program: &Path,
    ctx: &ResolveContext,
    base: &Policy,
    backend: Backend,
) -> Option<Preset> {
    let invocation = detect::detect(argv)?;
    let host = HostEnv::new(ctx);
    let mut preset = Preset::new(invocation.tool);
    preset
        .read
        .extend(install::grants(program, host.path_var(), &host.homes));

    let questions = if invocation.tool.is_node() {
        node::prepare(&mut preset, &invocation, program, &host)
    } else {
        python::prepare(&mut preset, &invocation, program, &host)
    };
    let answers = match probe::ask(&probe_policy(base, &preset), ctx, backend, &questions) {
        Ok(answers) => answers,
        Err(why) => {
            preset.notes.push(format!(
                "could not ask {} for its defaults: {why}",
                invocation.tool.name()
            ));
            probe::Answers::new()
        }
    };
    if invocation.tool.is_node() {
        node::complete(&mut preset, &invocation, &host, &answers);
    } else {
        python::complete(&mut preset, &invocation, &host, &answers);
    }
    for var in TLS_VARS {
        if let Some(value) = host.var(var) {
            preset.pass_env(&host, var, "TLS trust of this machine");
            let path = PathBuf::from(value);
            if path.is_absolute() && path.exists() {
                preset
                    .read
                    .push(PathGrant::new(&path, format!("named by {var}")));
            }
        }
    }
    if preset.hosts.is_empty() {
        preset.notes.push(
            "no registry or index is known, so no host is allowed: add them with --allow-net"
                .to_string(),
        );
    }
    preset.tidy(&host.cwd);
    Some(preset)
}

/// The probe's policy: the command's, with nothing writable and no network.
fn probe_policy(base: &Policy, preset: &Preset) -> Policy {
    let mut policy = base.clone();
    let writes = std::mem::take(&mut policy.write);
    policy.read.extend(writes);
    policy.read.extend(
        preset
            .read
            .iter()
            .chain(&preset.write)
            .map(|g| path_text(&g.path)),
    );
    policy.env.extend(preset.env.iter().map(|e| e.name.clone()));
    policy.network = Network::None;
    policy
}

/// The allowlist entry for an http(s) URL: `host:port`, the port explicit or the scheme's.
pub fn host_entry(url: &str) -> Option<String> {
    let parsed = parse_url(url)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str().filter(|h| !h.is_empty())?;
    let port = parsed.port_or_known_default()?;
    Some(format!("{host}:{port}"))
}

/// The URL without user name and password (which are credentials).
pub fn strip_credentials(url: &str) -> String {
    match parse_url(url) {
        Some(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        // Not a URL: keep nothing that could be a secret.
        None => "<not a URL>".to_string(),
    }
}

/// The URL without credentials, or `None` when it is not a URL (nothing is planted for it).
pub fn sanitized_url(url: &str) -> Option<String> {
    parse_url(url).map(|_| strip_credentials(url))
}

/// Whether the URL carries a user name or password.
pub fn has_credentials(url: &str) -> bool {
    parse_url(url).is_some_and(|u| !u.username().is_empty() || u.password().is_some())
}

/// A URL without control characters (the URL parser would silently drop line breaks, which in
/// a configuration value are an attempt to add a line).
fn parse_url(text: &str) -> Option<url::Url> {
    let text = text.trim();
    if text.chars().any(char::is_control) {
        return None;
    }
    url::Url::parse(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_entries_carry_the_port() {
        assert_eq!(
            host_entry("https://r.invalid/").as_deref(),
            Some("r.invalid:443")
        );
        assert_eq!(
            host_entry("http://r.invalid/x").as_deref(),
            Some("r.invalid:80")
        );
        assert_eq!(
            host_entry("https://user:pw@r.invalid:8443/simple").as_deref(),
            Some("r.invalid:8443")
        );
        assert_eq!(
            host_entry("https://[::1]:9000/").as_deref(),
            Some("[::1]:9000")
        );
        assert_eq!(host_entry("file:///srv/wheels"), None);
        assert_eq!(host_entry("/srv/wheels"), None);
    }

    #[test]
    fn credentials_are_stripped_from_urls() {
        assert_eq!(
            strip_credentials("https://user:secret@r.invalid/simple"),
            "https://r.invalid/simple"
        );
        assert!(has_credentials("https://token@r.invalid/"));
        assert!(!has_credentials("https://r.invalid/"));
        assert_eq!(strip_credentials("not a url secret"), "<not a URL>");
        assert_eq!(
            host_entry("https://a.invalid/\n//b.invalid/:_authToken=x"),
            None
        );
    }

    #[test]
    fn tidy_drops_redundant_reads() {
        let mut preset = Preset::new(Tool::Npm);
        preset.read = vec![
            PathGrant::new(Path::new("/usr/lib/node_modules/npm"), "system"),
            PathGrant::new(Path::new("/h/.nvm/versions/node/v20"), "root"),
            PathGrant::new(Path::new("/h/.nvm/versions/node/v20/bin/node"), "inside"),
            PathGrant::new(Path::new("/h/.npm/x"), "under a write"),
            PathGrant::new(Path::new("/h/.bun"), "kept"),
            PathGrant::new(Path::new("/h/.bun"), "duplicate"),
        ];
        preset.write = vec![
            PathGrant::created(Path::new("/h/.npm"), "cache"),
            PathGrant::created(Path::new("/h/.npm"), "again"),
            PathGrant::created(Path::new("/project/out"), "in the project"),
        ];
        preset.tidy(Path::new("/project"));
        let reads: Vec<_> = preset.read.iter().map(|g| g.path.clone()).collect();
        assert_eq!(
            reads,
            vec![
                PathBuf::from("/h/.nvm/versions/node/v20"),
                PathBuf::from("/h/.bun")
            ]
        );
        assert_eq!(preset.write.len(), 1);
    }
}
