//! Resolution: from a [`Policy`] of strings to concrete, existing, canonical paths.
//!
//! The rules, in the order they are applied:
//!
//! 1. `~` expands to **both** `$HOME` and the account's home from the password database, so a
//!    caller that changed `HOME` cannot make a deny miss the real credentials.
//! 2. Relative entries are relative to the project directory. Globs (`**/.env*`) are expanded by
//!    walking from their literal prefix; `node_modules` and `.git` are not searched (package
//!    contents and repository objects, never user secrets). A glob matching more than
//!    [`ResolveContext::glob_limit`] paths is coarse-grained to the matches' parent directories,
//!    and that is reported.
//! 3. Grants that do not exist are dropped; a grant that is a symlink is kept as a symlink and its
//!    target is granted too. Grants are canonicalised, and a read grant under a write grant is
//!    redundant (write > read).
//! 4. **Deny targets that do not exist are skipped**: masking them would create an empty file or
//!    directory on the host (a "ghost file"). A missing `deny_write` target whose nearest existing
//!    ancestor lies strictly inside a writable grant makes that ancestor read-only instead, so the
//!    target cannot be created (`.git/hooks` missing ⇒ `.git` read-only).
//! 5. Denies win over grants (deny > write > read): grants under a `deny_read` target are removed,
//!    grants under a `deny_write` target become read-only. A deny that no grant covers needs no
//!    enforcement (the path is invisible anyway) and is listed as such.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::policy::{Limits, Network, Policy};

/// Where a policy is resolved: the project, the homes and the host environment.
#[derive(Debug, Clone)]
pub struct ResolveContext {
    /// The project directory; relative entries are resolved against it.
    pub cwd: PathBuf,
    /// `$HOME` of the caller, if set.
    pub home: Option<PathBuf>,
    /// The caller's home according to the password database.
    pub passwd_home: Option<PathBuf>,
    /// The caller's environment, from which allowed variables are copied.
    pub env: BTreeMap<String, String>,
    /// How many matches a glob may expand to before it is coarse-grained.
    pub glob_limit: usize,
}

impl ResolveContext {
    /// The context of the current process.
    pub fn from_process() -> io::Result<Self> {
        let cwd = std::env::current_dir()?;
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Ok(Self {
            cwd,
            home: env.get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from),
            passwd_home: crate::sys::passwd_home(),
            env,
            glob_limit: 64,
        })
    }

    /// Every home directory `~` stands for, without duplicates.
    fn homes(&self) -> Vec<PathBuf> {
        let mut homes: Vec<PathBuf> = Vec::new();
        for home in [&self.home, &self.passwd_home].into_iter().flatten() {
            if home.is_absolute() && !homes.contains(home) {
                homes.push(home.clone());
            }
        }
        homes
    }
}

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Read and execute.
    Read,
    /// Read, execute, create, modify and remove.
    Write,
}

/// A file or a directory: what a mask over it has to look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file, socket or device.
    File,
    /// A directory.
    Dir,
}

/// A path made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The canonical host path, mounted at the same place inside.
    pub path: PathBuf,
    /// What the command may do there.
    pub access: Access,
    /// File or directory.
    pub kind: EntryKind,
}

/// A granted path that is a symlink on the host, recreated as the same symlink inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symlink {
    /// Where the link is.
    pub path: PathBuf,
    /// What it points to, as read from the host.
    pub target: PathBuf,
}

/// An enforced deny.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deny {
    /// The host path hidden or made read-only.
    pub path: PathBuf,
    /// File or directory.
    pub kind: EntryKind,
    /// The policy entry it came from.
    pub origin: String,
}

/// A deny entry that needed no enforcement, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unenforced {
    /// The path (or the entry, when it expanded to nothing).
    pub path: PathBuf,
    /// Why nothing was done.
    pub reason: &'static str,
}

/// A policy resolved against one machine: only concrete, existing paths.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolvedPolicy {
    /// The project directory, the command's working directory.
    pub cwd: PathBuf,
    /// The path at which an empty, private home directory is mounted.
    pub home: PathBuf,
    /// Visible paths, sorted by path.
    pub grants: Vec<Grant>,
    /// Symlinks recreated inside.
    pub symlinks: Vec<Symlink>,
    /// Paths that appear empty.
    pub deny_read: Vec<Deny>,
    /// Paths that are read-only.
    pub deny_write: Vec<Deny>,
    /// Denies that needed nothing (for display; not carried to a helper).
    #[serde(skip_deserializing, default)]
    pub unenforced: Vec<Unenforced>,
    /// Decisions worth telling the user (coarse-grained globs, protected ancestors).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The network.
    pub network: Network,
    /// The complete environment of the command.
    pub env: BTreeMap<String, String>,
    /// Resource limits.
    pub limits: Limits,
    /// Files created in the private home before the command starts (path relative to the
    /// home, content): decoy credentials, whose use shows up in what the command prints.
    #[serde(default)]
    pub home_files: Vec<(PathBuf, String)>,
    /// Of `home_files`, those whose mere opening is reported as a block (see
    /// [`crate::Outcome::blocked`]); on Linux the sandbox helper watches them, whatever the
    /// backend.
    #[serde(default)]
    pub tripwires: Vec<PathBuf>,
    /// Where the tripwires come from (see [`crate::tripwire`]): each is bound read-only from
    /// `<dir>/<path>` instead of written into the home. Set by the helper that watches them,
    /// never by a policy; without it they are plain home files.
    #[serde(default)]
    pub tripwire_dir: Option<PathBuf>,
}

impl ResolvedPolicy {
    /// The grant that decides access to `path`: the deepest one at or above it.
    pub fn covering_grant(&self, path: &Path) -> Option<&Grant> {
        self.grants
            .iter()
            .filter(|g| path.starts_with(&g.path))
            .max_by_key(|g| depth(&g.path))
    }
}

/// Resolves `policy` in `ctx`. Never fails on a missing path; only on a malformed glob.
pub fn resolve(policy: &Policy, ctx: &ResolveContext) -> Result<ResolvedPolicy, ResolveError> {
    forget_unless_batched();
    let mut notes = Vec::new();
    let mut unenforced = Vec::new();

    // Grants: expand, keep what exists, record symlinks, canonicalise.
    let mut grants: BTreeMap<PathBuf, (Access, EntryKind)> = BTreeMap::new();
    let mut symlinks: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let entries = policy
        .read
        .iter()
        .map(|e| (e, Access::Read))
        .chain(policy.write.iter().map(|e| (e, Access::Write)));
    for (entry, access) in entries {
        for path in expand(entry, ctx, &mut notes)? {
            add_grant(&path, access, &mut grants, &mut symlinks);
        }
    }

    // Denies: expand, skip what does not exist.
    let mut deny_read: BTreeMap<PathBuf, Deny> = BTreeMap::new();
    let mut deny_write: BTreeMap<PathBuf, Deny> = BTreeMap::new();
    let mut missing_write: Vec<(PathBuf, String)> = Vec::new();
    for (list, target, is_read) in [
        (&policy.deny_read, &mut deny_read, true),
        (&policy.deny_write, &mut deny_write, false),
    ] {
        for entry in list {
            let paths = expand(entry, ctx, &mut notes)?;
            for path in paths {
                if is_dangling(&path) {
                    // A dangling link hides nothing, and covering it would make a backend create
                    // its target. Writing through it could create that target, though: for a
                    // write-deny, both the link and its target are treated as missing paths.
                    if !is_read {
                        missing_write.push((path.clone(), entry.clone()));
                        if let (Ok(text), Some(dir)) = (std::fs::read_link(&path), path.parent()) {
                            missing_write.push((lexical_join(dir, &text), entry.clone()));
                        }
                    }
                    unenforced.push(Unenforced {
                        path,
                        reason: "a dangling symlink",
                    });
                    continue;
                }
                let Some(kind) = kind_of(&path) else {
                    if !is_read {
                        missing_write.push((path.clone(), entry.clone()));
                    }
                    unenforced.push(Unenforced {
                        path,
                        reason: "does not exist",
                    });
                    continue;
                };
                let mut targets = vec![canonical_parent(&path)];
                // A denied symlink hides its target as well: `~/.ssh -> /secrets/ssh`.
                if is_symlink(&path)
                    && let Ok(real) = std::fs::canonicalize(&path)
                {
                    targets.push(real);
                }
                for path in targets {
                    let kind = kind_of(&path).unwrap_or(kind);
                    target.insert(
                        path.clone(),
                        Deny {
                            path,
                            kind,
                            origin: entry.clone(),
                        },
                    );
                }
            }
        }
    }

    // deny > write: grants inside a hidden path disappear, grants inside a read-only path
    // become read-only.
    grants.retain(|path, _| !deny_read.keys().any(|d| path.starts_with(d)));
    for (path, (access, _)) in grants.iter_mut() {
        if deny_write.keys().any(|d| path.starts_with(d)) {
            *access = Access::Read;
        }
    }
    // write > read: a grant is redundant when the nearest grant above it gives at least as much.
    // (The nearest one decides, so a read grant under `rw /a/b` under `ro /a` stays redundant.)
    let access_of: BTreeMap<PathBuf, Access> =
        grants.iter().map(|(p, (a, _))| (p.clone(), *a)).collect();
    grants.retain(|path, (access, _)| {
        let nearest = path.ancestors().skip(1).find_map(|a| access_of.get(a));
        nearest.is_none_or(|above| above < access)
    });
    let grants: Vec<Grant> = grants
        .into_iter()
        .map(|(path, (access, kind))| Grant { path, access, kind })
        .collect();

    let mut resolved = ResolvedPolicy {
        cwd: canonical_parent(&ctx.cwd),
        home: ctx
            .home
            .clone()
            .or_else(|| ctx.passwd_home.clone())
            .unwrap_or_else(|| "/home/sandbox".into()),
        grants,
        symlinks: symlinks
            .into_iter()
            .map(|(path, target)| Symlink { path, target })
            .collect(),
        deny_read: Vec::new(),
        deny_write: Vec::new(),
        unenforced,
        notes,
        network: policy.network.clone(),
        env: BTreeMap::new(),
        limits: policy.limits.clone(),
        home_files: Vec::new(),
        tripwires: Vec::new(),
        tripwire_dir: None,
    };

    // Keep only the denies a grant actually covers.
    for deny in deny_read.into_values() {
        if resolved.covering_grant(&deny.path).is_some() {
            resolved.deny_read.push(deny);
        } else {
            resolved.unenforced.push(Unenforced {
                path: deny.path,
                reason: "not granted",
            });
        }
    }
    for deny in deny_write.into_values() {
        match resolved.covering_grant(&deny.path) {
            Some(g) if g.access == Access::Write => resolved.deny_write.push(deny),
            Some(_) => resolved.unenforced.push(Unenforced {
                path: deny.path,
                reason: "read-only already",
            }),
            None => resolved.unenforced.push(Unenforced {
                path: deny.path,
                reason: "not granted",
            }),
        }
    }
    // A missing write-denied path must not be creatable either: protect its nearest existing
    // ancestor when that ancestor is strictly inside a writable grant.
    for (path, origin) in missing_write {
        let Some(ancestor) = path.ancestors().skip(1).find(|a| kind_of(a).is_some()) else {
            continue;
        };
        let ancestor = canonical_parent(ancestor);
        let Some(grant) = resolved.covering_grant(&ancestor) else {
            continue;
        };
        if grant.access != Access::Write {
            continue;
        }
        if grant.path == ancestor {
            resolved.unenforced.push(Unenforced {
                path,
                reason: "could be created: its nearest existing directory is a writable grant",
            });
            continue;
        }
        if resolved
            .deny_write
            .iter()
            .any(|d| ancestor.starts_with(&d.path))
        {
            continue;
        }
        resolved.notes.push(format!(
            "{} does not exist: {} is read-only so that it cannot be created",
            path.display(),
            ancestor.display()
        ));
        resolved.deny_write.push(Deny {
            path: ancestor,
            kind: EntryKind::Dir,
            origin,
        });
    }
    resolved.deny_read.sort_by(|a, b| a.path.cmp(&b.path));
    resolved.deny_write.sort_by(|a, b| a.path.cmp(&b.path));

    // Environment: the allowlist, then the sandbox's own values.
    for name in &policy.env {
        if let Some(value) = ctx.env.get(name) {
            resolved.env.insert(name.clone(), value.clone());
        }
    }
    resolved
        .env
        .insert("HOME".into(), resolved.home.to_string_lossy().into_owned());
    resolved.env.insert("TMPDIR".into(), "/tmp".into());
    Ok(resolved)
}

fn add_grant(
    path: &Path,
    access: Access,
    grants: &mut BTreeMap<PathBuf, (Access, EntryKind)>,
    symlinks: &mut BTreeMap<PathBuf, PathBuf>,
) {
    let Some(kind) = kind_of(path) else { return };
    let path = canonical_parent(path);
    if is_symlink(&path) {
        let (Ok(target), Ok(real)) = (std::fs::read_link(&path), std::fs::canonicalize(&path))
        else {
            return;
        };
        symlinks.insert(path, target);
        let kind = kind_of(&real).unwrap_or(kind);
        let slot = grants.entry(real).or_insert((access, kind));
        slot.0 = slot.0.max(access);
        return;
    }
    let slot = grants.entry(path).or_insert((access, kind));
    slot.0 = slot.0.max(access);
}

/// Expands one policy entry to absolute paths (which may not exist).
fn expand(
    entry: &str,
    ctx: &ResolveContext,
    notes: &mut Vec<String>,
) -> Result<Vec<PathBuf>, ResolveError> {
    let bases: Vec<PathBuf> = if entry == "~" {
        ctx.homes()
    } else if let Some(rest) = entry.strip_prefix("~/") {
        ctx.homes().into_iter().map(|h| h.join(rest)).collect()
    } else if entry.starts_with('/') {
        vec![PathBuf::from(entry)]
    } else {
        vec![ctx.cwd.join(entry)]
    };
    if !entry.contains(['*', '?', '[', '{']) {
        return Ok(bases.into_iter().map(|p| normalize(&p)).collect());
    }
    let mut out = Vec::new();
    for pattern_path in bases {
        let pattern_path = normalize(&pattern_path);
        // The literal prefix is walked; the rest is matched.
        let mut base = PathBuf::new();
        let mut rest = PathBuf::new();
        for c in pattern_path.components() {
            let s = c.as_os_str().to_string_lossy();
            if rest.as_os_str().is_empty() && !s.contains(['*', '?', '[', '{']) {
                base.push(c);
            } else {
                rest.push(c);
            }
        }
        let matcher =
            glob_matcher(&rest.to_string_lossy()).map_err(|source| ResolveError::Glob {
                entry: entry.to_string(),
                source,
            })?;
        let mut matches = Vec::new();
        // Without `**` a pattern cannot match deeper than its own number of components.
        let max_depth = if rest.to_string_lossy().contains("**") {
            usize::MAX
        } else {
            rest.components().count()
        };
        walk_matches(&base, &base, &matcher, max_depth, &mut matches);
        if matches.len() > ctx.glob_limit {
            let parents: BTreeSet<PathBuf> = matches
                .iter()
                .filter_map(|m| m.parent().map(Path::to_path_buf))
                .collect();
            let coarse: Vec<PathBuf> = if parents.len() > ctx.glob_limit {
                vec![base.clone()]
            } else {
                parents.into_iter().collect()
            };
            notes.push(format!(
                "{entry}: {} matches exceed the limit of {}; coarse-grained to {} director{}",
                matches.len(),
                ctx.glob_limit,
                coarse.len(),
                if coarse.len() == 1 { "y" } else { "ies" }
            ));
            out.extend(coarse);
        } else {
            out.extend(matches);
        }
    }
    Ok(out)
}

/// The compiled matcher of a glob pattern. Compiling builds a regex, a fifth of a resolution's
/// time, and every policy repeats the same few patterns: each is compiled once per thread.
fn glob_matcher(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    thread_local! {
        static COMPILED: std::cell::RefCell<std::collections::HashMap<String, GlobMatcher>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    if let Some(hit) = COMPILED.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(hit);
    }
    let matcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()?
        .compile_matcher();
    COMPILED.with(|c| c.borrow_mut().insert(pattern.to_owned(), matcher.clone()));
    Ok(matcher)
}

fn walk_matches(
    root: &Path,
    dir: &Path,
    matcher: &GlobMatcher,
    depth_left: usize,
    out: &mut Vec<PathBuf>,
) {
    if depth_left == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if let Ok(rel) = path.strip_prefix(root)
            && matcher.is_match(rel)
        {
            out.push(path.clone());
        }
        let name = entry.file_name();
        let skip = name == OsStr::new("node_modules") || name == OsStr::new(".git");
        // file_type() does not follow symlinks: a link to `/` is not walked.
        if !skip && entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk_matches(root, &path, matcher, depth_left - 1, out);
        }
    }
}

/// Lexically normalises `.` and `..` of an absolute path.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The path with its parent canonicalised and its last component kept (a symlink stays a
/// symlink).
fn canonical_parent(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => canonical_dir(parent).join(name),
        _ => path.to_path_buf(),
    }
}

thread_local! {
    /// What this thread has learnt of the file system during one [`resolve`] call, or during a
    /// whole [`resolve_batch`]: the mandatory denies share a handful of parents, every script of
    /// an install names the same system paths, and `realpath` costs a `readlink` per component.
    static SEEN: std::cell::RefCell<Seen> = std::cell::RefCell::new(Seen::default());
}

#[derive(Default)]
struct Seen {
    /// Inside [`resolve_batch`]: [`resolve`] keeps what it finds instead of starting afresh.
    batch: usize,
    /// `realpath` of directories (the path itself when it fails). Keyed by the bytes: hashing a
    /// `Path` walks its components, which costs more than the lookup saves.
    canonical: std::collections::HashMap<std::ffi::OsString, PathBuf>,
    /// `lstat`, and `stat` for symlinks; `None` when the path does not exist.
    stat: std::collections::HashMap<std::ffi::OsString, Option<Stat>>,
}

#[derive(Clone, Copy)]
struct Stat {
    symlink: bool,
    /// What the path is once followed; `None` for a dangling symlink.
    followed: Option<EntryKind>,
}

/// Runs `f` with every [`resolve`] call it makes on this thread sharing one view of the file
/// system: each path is looked up once, however many policies name it. For callers that resolve
/// many policies at once, such as the install scripts of one install; the paths must not change
/// meanwhile (nothing else is running then).
pub fn resolve_batch<R>(f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            SEEN.with(|s| {
                let mut seen = s.borrow_mut();
                seen.batch -= 1;
                if seen.batch == 0 {
                    *seen = Seen::default();
                }
            });
        }
    }
    SEEN.with(|s| s.borrow_mut().batch += 1);
    let _leave = Leave;
    f()
}

fn forget_unless_batched() {
    SEEN.with(|s| {
        let mut seen = s.borrow_mut();
        if seen.batch == 0 {
            *seen = Seen::default();
        }
    });
}

fn canonical_dir(dir: &Path) -> PathBuf {
    if let Some(hit) = SEEN.with(|s| s.borrow().canonical.get(dir.as_os_str()).cloned()) {
        return hit;
    }
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    SEEN.with(|s| {
        s.borrow_mut()
            .canonical
            .insert(dir.as_os_str().to_owned(), canonical.clone())
    });
    canonical
}

fn stat(path: &Path) -> Option<Stat> {
    if let Some(hit) = SEEN.with(|s| s.borrow().stat.get(path.as_os_str()).copied()) {
        return hit;
    }
    let kind = |m: &std::fs::Metadata| {
        if m.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        }
    };
    let found = std::fs::symlink_metadata(path).ok().map(|meta| {
        if meta.file_type().is_symlink() {
            Stat {
                symlink: true,
                followed: std::fs::metadata(path).ok().map(|m| kind(&m)),
            }
        } else {
            Stat {
                symlink: false,
                followed: Some(kind(&meta)),
            }
        }
    });
    SEEN.with(|s| {
        s.borrow_mut()
            .stat
            .insert(path.as_os_str().to_owned(), found)
    });
    found
}

fn kind_of(path: &Path) -> Option<EntryKind> {
    // A dangling link still exists (as a file) for the purpose of a deny.
    stat(path).map(|s| s.followed.unwrap_or(EntryKind::File))
}

fn is_dangling(path: &Path) -> bool {
    stat(path).is_some_and(|s| s.symlink && s.followed.is_none())
}

/// `dir/rel` with `.` and `..` applied to the text only (the link target may not exist).
fn lexical_join(dir: &Path, rel: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in dir.join(rel).components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn is_symlink(path: &Path) -> bool {
    stat(path).is_some_and(|s| s.symlink)
}

/// How many components `path` has (mount and rule ordering sorts by it).
pub(crate) fn depth(path: &Path) -> usize {
    path.components().count()
}

/// Why a policy could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A glob entry is malformed.
    #[error("invalid glob in policy entry `{entry}`")]
    Glob {
        /// The entry.
        entry: String,
        /// The parser's complaint.
        #[source]
        source: globset::Error,
    },
}

/// Constructors for the resolved policies the translation tests are written against.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{Access, Deny, EntryKind, Grant};

    pub(crate) fn grant(path: &str, access: Access, kind: EntryKind) -> Grant {
        Grant {
            path: path.into(),
            access,
            kind,
        }
    }

    pub(crate) fn deny(path: &str, kind: EntryKind) -> Deny {
        Deny {
            path: path.into(),
            kind,
            origin: path.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::fs;

    struct Fixture {
        _dir: tempfile::TempDir,
        root: PathBuf,
        ctx: ResolveContext,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let home = root.join("home");
        let other_home = root.join("pwhome");
        let project = root.join("project");
        for d in [
            &home,
            &other_home,
            &project,
            &home.join(".ssh"),
            &other_home.join(".ssh"),
        ] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(home.join(".ssh/id_rsa"), "secret").unwrap();
        fs::write(project.join(".env"), "TOKEN=1").unwrap();
        fs::create_dir_all(project.join("sub")).unwrap();
        fs::write(project.join("sub/.env.local"), "TOKEN=2").unwrap();
        fs::create_dir_all(project.join("node_modules/x")).unwrap();
        fs::write(project.join("node_modules/x/.env"), "").unwrap();
        let ctx = ResolveContext {
            cwd: project,
            home: Some(home),
            passwd_home: Some(other_home),
            env: BTreeMap::from([
                ("PATH".into(), "/usr/bin".into()),
                ("NPM_TOKEN".into(), "x".into()),
            ]),
            glob_limit: 64,
        };
        Fixture {
            _dir: dir,
            root,
            ctx,
        }
    }

    fn paths(denies: &[Deny]) -> Vec<PathBuf> {
        denies.iter().map(|d| d.path.clone()).collect()
    }

    #[test]
    fn a_batch_looks_paths_up_once_and_forgets_them_afterwards() {
        let f = fixture();
        let policy = Policy {
            read: vec!["~".into(), ".".into()],
            deny_read: vec!["~/.ssh".into(), "~/.aws".into(), "**/.env*".into()],
            ..Policy::default()
        };
        let alone = resolve(&policy, &f.ctx).unwrap();
        let aws = f.root.join("home/.aws");
        let (first, second) = resolve_batch(|| {
            let first = resolve(&policy, &f.ctx).unwrap();
            // Created during the batch: the batch's view of the file system does not change.
            fs::create_dir(&aws).unwrap();
            (first, resolve(&policy, &f.ctx).unwrap())
        });
        assert_eq!(paths(&first.deny_read), paths(&alone.deny_read));
        assert_eq!(paths(&second.deny_read), paths(&alone.deny_read));
        assert!(!paths(&second.deny_read).contains(&aws));
        // Outside the batch the new directory is seen, and denied.
        let after = resolve(&policy, &f.ctx).unwrap();
        assert!(paths(&after.deny_read).contains(&aws));
    }

    #[test]
    fn tilde_means_both_homes() {
        let f = fixture();
        let policy = Policy {
            read: vec!["~".into()],
            deny_read: vec!["~/.ssh".into()],
            ..Policy::default()
        };
        let r = resolve(&policy, &f.ctx).unwrap();
        let grants: Vec<_> = r.grants.iter().map(|g| g.path.clone()).collect();
        assert_eq!(grants, vec![f.root.join("home"), f.root.join("pwhome")]);
        assert_eq!(
            paths(&r.deny_read),
            vec![f.root.join("home/.ssh"), f.root.join("pwhome/.ssh")]
        );
    }

    #[test]
    fn deny_targets_that_do_not_exist_are_skipped() {
        let f = fixture();
        let policy = Policy {
            write: vec![".".into()],
            deny_read: vec!["missing-secret".into()],
            ..Policy::default()
        };
        let r = resolve(&policy, &f.ctx).unwrap();
        assert!(r.deny_read.is_empty());
        assert!(
            r.unenforced
                .iter()
                .any(|u| u.path.ends_with("missing-secret") && u.reason == "does not exist")
        );
        // Resolution never creates anything.
        assert!(!f.ctx.cwd.join("missing-secret").exists());
    }

    #[test]
    fn dangling_symlinks_hide_nothing_but_cannot_be_written_through() {
        let f = fixture();
        std::os::unix::fs::symlink("missing-target", f.ctx.cwd.join(".env.local")).unwrap();
        fs::create_dir_all(f.ctx.cwd.join(".git")).unwrap();
        std::os::unix::fs::symlink("../hooks-elsewhere", f.ctx.cwd.join(".git/hooks")).unwrap();
        let policy = Policy {
            write: vec![".".into()],
            deny_read: vec!["**/.env*".into()],
            deny_write: vec![".git/hooks".into()],
            ..Policy::default()
        };
        let r = resolve(&policy, &f.ctx).unwrap();
        assert!(
            !paths(&r.deny_read).contains(&f.ctx.cwd.join(".env.local")),
            "{:?}",
            r.deny_read
        );
        // The link's directory is read-only (the link cannot be replaced), and so is the
        // nearest existing ancestor of its target, where `hooks-elsewhere` would be created.
        let write_denied = paths(&r.deny_write);
        assert!(
            write_denied.contains(&f.ctx.cwd.join(".git")),
            "{write_denied:?}"
        );
        // Its target would be created in the project root, the writable grant itself: that
        // cannot be prevented without creating it, and is reported.
        assert!(
            r.unenforced
                .iter()
                .any(|u| u.path == f.ctx.cwd.join("hooks-elsewhere")
                    && u.reason.starts_with("could be created")),
            "{:?}",
            r.unenforced
        );
        assert!(!f.ctx.cwd.join("missing-target").exists());
        assert!(!f.ctx.cwd.join("hooks-elsewhere").exists());
    }

    #[test]
    fn env_glob_finds_project_secrets_but_not_package_files() {
        let f = fixture();
        let policy = Policy {
            write: vec![".".into()],
            deny_read: vec!["**/.env*".into()],
            ..Policy::default()
        };
        let r = resolve(&policy, &f.ctx).unwrap();
        assert_eq!(
            paths(&r.deny_read),
            vec![f.ctx.cwd.join(".env"), f.ctx.cwd.join("sub/.env.local")]
        );
    }

    #[test]
    fn glob_past_the_bound_is_coarse_grained_and_reported() {
        let mut f = fixture();
        for i in 0..5 {
            fs::create_dir_all(f.ctx.cwd.join(format!("d{i}"))).unwrap();
            fs::write(f.ctx.cwd.join(format!("d{i}/.env")), "").unwrap();
            fs::write(f.ctx.cwd.join(format!("d{i}/.env.2")), "").unwrap();
        }
        f.ctx.glob_limit = 8;
        let policy = Policy {
            write: vec![".".into()],
            deny_read: vec!["d*/.env*".into()],
            ..Policy::default()
        };
        let r = resolve(&policy, &f.ctx).unwrap();
        assert!(
            r.notes.iter().any(|n| n.contains("coarse-grained")),
            "{:?}",
            r.notes
        );
        assert!(paths(&r.deny_read).contains(&f.ctx.cwd.join("d3")));
    }

    #[test]
    fn deny_beats_write_beats_read() {
        let f = fixture();
        let policy = Policy {
            read: vec![
                f.root.to_string_lossy().into_owned(),
                f.ctx.cwd.join("sub").to_string_lossy().into_owned(),
            ],
            write: vec![".".into(), "~/.ssh".into()],
            deny_read: vec!["~/.ssh".into()],
            deny_write: vec!["sub".into()],
            ..Policy::default()
        };
        let r = resolve(&policy, &f.ctx).unwrap();
        // The write grant on ~/.ssh is gone: deny_read wins.
        assert!(
            !r.grants.iter().any(|g| g.path.ends_with(".ssh")),
            "{:?}",
            r.grants
        );
        // The read grant under the write grant is redundant.
        assert!(
            !r.grants.iter().any(|g| g.path.ends_with("sub")),
            "{:?}",
            r.grants
        );
        assert_eq!(
            r.covering_grant(&f.ctx.cwd.join("x")).unwrap().access,
            Access::Write
        );
        assert_eq!(
            r.covering_grant(&f.root.join("home/x")).unwrap().access,
            Access::Read
        );
        assert_eq!(paths(&r.deny_write), vec![f.ctx.cwd.join("sub")]);
    }

    #[test]
    fn missing_git_hooks_protects_the_git_dir() {
        let f = fixture();
        fs::create_dir_all(f.ctx.cwd.join(".git")).unwrap();
        let policy = Policy {
            write: vec![".".into()],
            deny_write: vec![".git/hooks".into()],
            ..Policy::default()
        };
        let r = resolve(&policy, &f.ctx).unwrap();
        assert_eq!(paths(&r.deny_write), vec![f.ctx.cwd.join(".git")]);
        assert!(!f.ctx.cwd.join(".git/hooks").exists(), "no ghost directory");
    }

    #[test]
    fn symlinked_grants_keep_the_link_and_grant_the_target() {
        let f = fixture();
        std::os::unix::fs::symlink(f.root.join("home"), f.root.join("link")).unwrap();
        let policy = Policy {
            read: vec![f.root.join("link").to_string_lossy().into_owned()],
            ..Policy::default()
        };
        let r = resolve(&policy, &f.ctx).unwrap();
        assert_eq!(
            r.symlinks,
            vec![Symlink {
                path: f.root.join("link"),
                target: f.root.join("home")
            }]
        );
        assert_eq!(r.grants[0].path, f.root.join("home"));
    }

    #[test]
    fn environment_is_reduced_to_the_allowlist() {
        let f = fixture();
        let policy = Policy {
            env: vec!["PATH".into()],
            ..Policy::default()
        };
        let r = resolve(&policy, &f.ctx).unwrap();
        assert_eq!(r.env.get("PATH").map(String::as_str), Some("/usr/bin"));
        assert!(!r.env.contains_key("NPM_TOKEN"));
        assert_eq!(r.env.get("TMPDIR").map(String::as_str), Some("/tmp"));
    }
}
