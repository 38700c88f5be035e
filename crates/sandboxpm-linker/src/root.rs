//! The top of `node_modules`: symlinks for the direct dependencies and their `.bin` entries.
//!
//! This is the one place where sandboxpm shares a directory with the user and other tools, so it
//! never removes or replaces an entry it did not make. An entry is sandboxpm's when it is a
//! symlink whose text has the shape sandboxpm writes: into `.sandboxpm/` for a dependency
//! (`../.sandboxpm/` from a scope directory), and relative (`../`) for a `.bin` entry, the shape
//! every package manager uses there. Anything else in the way of a wanted link (a directory left
//! by another package manager, a file, an `npm link` symlink) is *foreign*: by default the run
//! stops before changing anything and names every such entry; on request each is moved into
//! `node_modules/.sandboxpm/displaced/`. Entries nobody wants are left alone unless they are
//! sandboxpm's.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::desired::{LinkSet, root_link_prefix};
use crate::error::{ForeignEntry, LinkError, Result, io_error};
use crate::fsops::{describe, join_rel, remove_dir_if_empty, replace_with_symlink};
use crate::report::Displaced;
use crate::sys;

/// What is at a wanted root link's path.
#[derive(Debug)]
enum State {
    /// The wanted link.
    Matches,
    /// Nothing.
    Missing,
    /// Another link of sandboxpm's (an older version): replace it.
    Ours,
    /// Something sandboxpm did not make.
    Foreign(ForeignEntry),
}

/// The work the root needs.
#[derive(Debug, Default)]
pub(crate) struct RootWork {
    /// Links to create or replace (rel path, text).
    pub(crate) write: Vec<(String, String)>,
    /// Foreign entries in the way, deduplicated by path.
    pub(crate) foreign: Vec<ForeignEntry>,
    /// Links of sandboxpm's that are no longer wanted.
    pub(crate) stale: Vec<String>,
}

impl RootWork {
    pub(crate) fn is_empty(&self) -> bool {
        self.write.is_empty() && self.foreign.is_empty() && self.stale.is_empty()
    }
}

/// Compares the root with `wanted`. `previous` are the root links a trusted `lock.json` lists;
/// without it `node_modules` is scanned for sandboxpm's links. One `readlink` per wanted link when
/// nothing changed.
pub(crate) fn inspect(
    modules: &Path,
    wanted: &LinkSet,
    previous: Option<&BTreeSet<String>>,
) -> Result<RootWork> {
    let mut work = RootWork::default();
    for (rel, text) in wanted {
        match state(modules, rel, text)? {
            State::Matches => {}
            State::Missing | State::Ours => work.write.push((rel.clone(), text.clone())),
            State::Foreign(entry) => {
                if !work.foreign.contains(&entry) {
                    work.foreign.push(entry);
                }
                work.write.push((rel.clone(), text.clone()));
            }
        }
    }
    work.stale = match previous {
        Some(previous) => previous
            .iter()
            .filter(|rel| !wanted.contains_key(*rel) && is_ours(modules, rel))
            .cloned()
            .collect(),
        None => scan(modules, wanted).map_err(io_error(None, "read", modules))?,
    };
    work.foreign.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(work)
}

fn state(modules: &Path, rel: &str, text: &str) -> Result<State> {
    let path = join_rel(modules, rel);
    match fs::read_link(&path) {
        Ok(current) if current.as_os_str() == text => Ok(State::Matches),
        Ok(current) => {
            if current
                .to_str()
                .is_some_and(|t| t.starts_with(root_link_prefix(rel)))
            {
                Ok(State::Ours)
            } else {
                Ok(State::Foreign(ForeignEntry {
                    path,
                    kind: format!("symbolic link to {}", current.display()),
                }))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::Missing),
        // `readlink` of something that is not a symlink.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            let metadata = fs::symlink_metadata(&path).map_err(io_error(None, "inspect", &path))?;
            Ok(State::Foreign(ForeignEntry {
                kind: describe(&metadata),
                path,
            }))
        }
        // A file where the scope or `.bin` directory should be.
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let metadata =
                fs::symlink_metadata(&parent).map_err(io_error(None, "inspect", &parent))?;
            Ok(State::Foreign(ForeignEntry {
                kind: describe(&metadata),
                path: parent,
            }))
        }
        Err(e) => Err(io_error(None, "inspect", path)(e)),
    }
}

fn is_ours(modules: &Path, rel: &str) -> bool {
    fs::read_link(join_rel(modules, rel)).is_ok_and(|text| {
        text.to_str()
            .is_some_and(|t| t.starts_with(root_link_prefix(rel)))
    })
}

/// sandboxpm's links in `node_modules` (top level, scope directories, `.bin`) that are not wanted.
fn scan(modules: &Path, wanted: &LinkSet) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(modules) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut stale = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let is_dir = entry.file_type()?.is_dir();
        if is_dir && (name == ".bin" || name.starts_with('@')) {
            for child in fs::read_dir(entry.path())? {
                let child = child?;
                let Some(child) = child.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let rel = format!("{name}/{child}");
                if !wanted.contains_key(&rel) && is_ours(modules, &rel) {
                    stale.push(rel);
                }
            }
        } else if name != ".sandboxpm" && !wanted.contains_key(&name) && is_ours(modules, &name) {
            stale.push(name);
        }
    }
    stale.sort();
    Ok(stale)
}

/// Moves each foreign entry into `internal/displaced/`, keeping its name (scopes flattened with
/// `+`) and adding `.1`, `.2`, … if a previous run displaced one of the same name.
pub(crate) fn move_aside(
    modules: &Path,
    internal: &Path,
    foreign: &[ForeignEntry],
) -> Result<Vec<Displaced>> {
    let displaced_dir = internal.join("displaced");
    fs::create_dir_all(&displaced_dir).map_err(io_error(None, "create", &displaced_dir))?;
    let mut moved = Vec::new();
    for entry in foreign {
        let rel = entry
            .path
            .strip_prefix(modules)
            .unwrap_or(&entry.path)
            .to_string_lossy()
            .replace(['/', '\\'], "+");
        let mut to = displaced_dir.join(&rel);
        let mut n = 0;
        while fs::symlink_metadata(&to).is_ok() {
            n += 1;
            to = displaced_dir.join(format!("{rel}.{n}"));
        }
        fs::rename(&entry.path, &to).map_err(io_error(None, "move aside", &entry.path))?;
        moved.push(Displaced {
            from: entry.path.clone(),
            to,
        });
    }
    Ok(moved)
}

/// Writes the wanted links and removes the stale ones. Runs after every package directory exists.
pub(crate) fn apply(modules: &Path, work: &RootWork) -> Result<()> {
    for rel in &work.stale {
        let path = join_rel(modules, rel);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_error(None, "remove", path)(e));
            }
            _ => {}
        }
        if let Some((parent, _)) = rel.split_once('/') {
            remove_dir_if_empty(&modules.join(parent));
        }
    }
    for (rel, text) in &work.write {
        let path = join_rel(modules, rel);
        write_link(&path, rel, text).map_err(|e| match e {
            WriteError::Io(source) => io_error(None, "create symlink", path.clone())(source),
            WriteError::Foreign(entry) => LinkError::ForeignEntries {
                entries: vec![entry],
            },
        })?;
    }
    Ok(())
}

enum WriteError {
    Io(io::Error),
    Foreign(ForeignEntry),
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

/// Creates or replaces one root link, re-checking ownership at the last moment (the entry may
/// have appeared since [`inspect`]).
fn write_link(path: &PathBuf, rel: &str, text: &str) -> Result<(), WriteError> {
    match sys::symlink(text, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            Ok(sys::symlink(text, path)?)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::read_link(path) {
            Ok(current) if current.as_os_str() == text => Ok(()),
            Ok(current)
                if current
                    .to_str()
                    .is_some_and(|t| t.starts_with(root_link_prefix(rel))) =>
            {
                Ok(replace_with_symlink(text, path)?)
            }
            _ => {
                let kind = fs::symlink_metadata(path)
                    .map(|m| describe(&m))
                    .unwrap_or_else(|_| "entry".into());
                Err(WriteError::Foreign(ForeignEntry {
                    path: path.clone(),
                    kind,
                }))
            }
        },
        Err(e) => Err(e.into()),
    }
}
