//! One package's directory in the virtual store: `node_modules/.sandboxpm/<dir>/node_modules/…`.
//!
//! Its files are materialised into a fresh `.tmp-*` sibling and renamed into place in one step,
//! so `<dir>` is either absent, the old complete directory, or the new complete one; an
//! interrupted run leaves at worst a `.tmp-*` or `.trash-*` directory that the next run removes.
//! The dependency links and the `.bin` entries are added afterwards, once every package's
//! directory exists, so no link is ever created before its target.
//!
//! Install-script packages get private copies ([`LinkMode::Copy`]). Bins that the tarball did not
//! mark executable are made executable here, in the package's own directory: by `chmod` when the
//! file is private, by replacing the one file with a private copy when it is a hard link to a
//! store blob, whose mode every project shares.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sandboxpm_store::{LinkMode, LinkStats, PackageIndex, Store};

use crate::desired::{DesiredPackage, LinkSet};
use crate::error::{LinkError, LinkWarning, Result, io_error};
use crate::fsops::{force_symlink, join_rel, remove_dir_if_empty, remove_tree, unique_name};
use crate::plan::{PackageContents, PlannedPackage};
use crate::sys;

/// The package's index, from the plan or the store.
pub(crate) fn load_index(store: &Store, planned: &PlannedPackage) -> Result<Arc<PackageIndex>> {
    match &planned.contents {
        PackageContents::Index(index) => Ok(Arc::clone(index)),
        PackageContents::Stored(digest) => match store.index(&digest.0) {
            Ok(Some(index)) => Ok(Arc::new(index)),
            Ok(None) => Err(LinkError::MissingIndex {
                key: planned.key.clone(),
                tarball: Box::new(*digest),
            }),
            Err(source) => Err(LinkError::Store {
                key: planned.key.clone(),
                source,
            }),
        },
    }
}

/// A freshly built directory.
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) stats: LinkStats,
    /// The previous directory, moved aside; delete it once nothing refers to it.
    pub(crate) trash: Option<PathBuf>,
    pub(crate) warnings: Vec<LinkWarning>,
}

/// Removes a staging directory unless the build got as far as renaming it into place.
struct Staging(Option<PathBuf>);

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = remove_tree(&path);
        }
    }
}

/// Materialises the package's files in `internal/<dir>` (replacing a previous directory).
pub(crate) fn build(
    store: &Store,
    internal: &Path,
    package: &DesiredPackage<'_>,
    index: &PackageIndex,
) -> Result<Built> {
    let key = package.planned.key.as_str();
    let staging_path = internal.join(unique_name(".tmp-"));
    let mut staging = Staging(Some(staging_path.clone()));
    let (stats, warnings) = materialise(store, &staging_path, package, index)?;
    let target = internal.join(&package.locked.dir);
    let trash = move_aside(internal, &target, key)?;
    fs::rename(&staging_path, &target).map_err(io_error(Some(key), "rename into", &target))?;
    staging.0 = None;
    Ok(Built {
        stats,
        trash,
        warnings,
    })
}

/// Materialises the package's shared directory `target`, links included, unless another install
/// made it first. `replace`: the directory there is broken; move it aside. The store's directory
/// of shared directories (`target`'s parent) must exist.
pub(crate) fn build_shared(
    store: &Store,
    target: &Path,
    package: &DesiredPackage<'_>,
    index: &PackageIndex,
    replace: bool,
) -> Result<Built> {
    let key = package.planned.key.as_str();
    let shared_dir = target.parent().unwrap_or(Path::new("."));
    let staging_path = shared_dir.join(unique_name(".tmp-"));
    let mut staging = Staging(Some(staging_path.clone()));
    let (stats, warnings) = materialise(store, &staging_path, package, index)?;
    let modules = staging_path.join("node_modules");
    for (rel, text) in &package.links {
        let path = join_rel(&modules, rel);
        force_symlink(text, &path).map_err(io_error(Some(key), "create symlink", path))?;
    }
    let trash = if replace {
        move_aside(shared_dir, target, key)?
    } else {
        None
    };
    match fs::rename(&staging_path, target) {
        Ok(()) => staging.0 = None,
        // Another install finished the same directory first: its contents are the same.
        Err(e) if !replace && target.is_dir() => drop(e),
        Err(e) => return Err(io_error(Some(key), "rename into", target)(e)),
    }
    Ok(Built {
        stats,
        trash,
        warnings,
    })
}

/// `<staging>/node_modules/<name>/…`: the package's files, with its bins made executable.
fn materialise(
    store: &Store,
    staging_path: &Path,
    package: &DesiredPackage<'_>,
    index: &PackageIndex,
) -> Result<(LinkStats, Vec<LinkWarning>)> {
    let key = package.planned.key.as_str();
    let locked = &package.locked;
    // Each level made here, so the store's `create_dir_all` of the content directory succeeds
    // with its first `mkdir` instead of failing down to the staging directory and back up.
    let modules = staging_path.join("node_modules");
    let mut parents = vec![staging_path.to_path_buf(), modules.clone()];
    if let Some((scope, _)) = locked.name.split_once('/') {
        parents.push(modules.join(scope));
    }
    for dir in &parents {
        fs::create_dir(dir).map_err(io_error(Some(key), "create", dir))?;
    }
    let content = join_rel(&modules, &locked.name);
    let mode = if locked.private {
        LinkMode::Copy
    } else {
        LinkMode::Auto
    };
    let stats = store
        .link_package(index, &content, mode)
        .map_err(|source| LinkError::Store {
            key: key.to_owned(),
            source,
        })?;

    let mut warnings = Vec::new();
    for (command, path) in &locked.bins {
        match index.files.get(path) {
            None => warnings.push(LinkWarning::BinTargetMissing {
                key: key.to_owned(),
                command: command.clone(),
                path: path.clone(),
            }),
            Some(entry) if !entry.is_executable() => {
                let file = join_rel(&content, path);
                sys::make_executable(&file).map_err(io_error(
                    Some(key),
                    "make executable",
                    file,
                ))?;
            }
            Some(_) => {}
        }
    }
    Ok((stats, warnings))
}

/// Renames whatever is at `target` to a `.trash-*` name in `dir`, returning that name.
pub(crate) fn move_aside(dir: &Path, target: &Path, key: &str) -> Result<Option<PathBuf>> {
    match fs::symlink_metadata(target) {
        Ok(_) => {
            let trash = dir.join(unique_name(".trash-"));
            fs::rename(target, &trash).map_err(io_error(Some(key), "move aside", target))?;
            Ok(Some(trash))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(Some(key), "inspect", target)(e)),
    }
}

/// Whether `dir` (`internal/<dir>`, or the package's shared directory) holds every file of the
/// index, as the check used when `lock.json` cannot vouch for the directory. Each file must be a
/// regular file of the right size, executable if the tarball said so; a file sharing its inode
/// with other names must be the store's blob for it (so a hard link to other content of the same
/// size is caught), and a private package may have no such file. A private copy's content is not
/// re-hashed: that would cost as much as copying. Extra files are allowed, since install scripts
/// write build output there.
pub(crate) fn verify(
    store: &Store,
    dir: &Path,
    package: &DesiredPackage<'_>,
    index: &PackageIndex,
) -> bool {
    let locked = &package.locked;
    let modules = dir.join("node_modules");
    let content = join_rel(&modules, &locked.name);
    // Real directories all the way down: a symlink here would make the files below someone else's.
    let mut chain = vec![dir.to_path_buf(), modules.clone()];
    if let Some((scope, _)) = locked.name.split_once('/') {
        chain.push(modules.join(scope));
    }
    chain.push(content.clone());
    if !chain
        .iter()
        .all(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
    {
        return false;
    }
    let files_ok = index.files.iter().all(|(path, entry)| {
        let Ok(file) = fs::symlink_metadata(join_rel(&content, path)) else {
            return false;
        };
        if !file.is_file()
            || file.len() != entry.size
            || (entry.is_executable() && !sys::is_executable(&file))
        {
            return false;
        }
        match sys::link_count(&file) {
            Some(1) | None => true,
            Some(_) if locked.private => false,
            Some(_) => fs::symlink_metadata(store.blob_path(entry))
                .is_ok_and(|blob| sys::same_file(&file, &blob)),
        }
    });
    let bins_ok = locked.bins.values().all(|path| {
        !index.files.contains_key(path)
            || fs::symlink_metadata(join_rel(&content, path)).is_ok_and(|m| sys::is_executable(&m))
    });
    files_ok && bins_ok
}

/// [`verify`], plus every link the shared directory must hold.
pub(crate) fn verify_shared(
    store: &Store,
    entry_dir: &Path,
    package: &DesiredPackage<'_>,
    index: &PackageIndex,
) -> bool {
    let modules = entry_dir.join("node_modules");
    verify(store, entry_dir, package, index)
        && package.links.iter().all(|(rel, text)| {
            fs::read_link(join_rel(&modules, rel)).is_ok_and(|t| t.as_os_str() == text.as_str())
        })
}

/// Brings the links below `internal/<dir>/node_modules` to `links`. `previous` lists the links a
/// trusted `lock.json` says are there; without it the directory is scanned, and everything in it
/// that is neither the package itself nor a wanted link is removed (it is all sandboxpm's).
pub(crate) fn apply_links(
    internal: &Path,
    package: &DesiredPackage<'_>,
    previous: Option<&BTreeSet<String>>,
) -> Result<()> {
    let key = package.planned.key.as_str();
    let locked = &package.locked;
    let modules = internal.join(&locked.dir).join("node_modules");
    let stale: Vec<String> = match previous {
        Some(previous) => previous
            .iter()
            .filter(|rel| !package.links.contains_key(*rel) && !is_own(&locked.name, rel))
            .cloned()
            .collect(),
        None => scan(&modules, &locked.name, &package.links).map_err(io_error(
            Some(key),
            "read",
            &modules,
        ))?,
    };
    for rel in &stale {
        let path = join_rel(&modules, rel);
        remove_tree(&path).map_err(io_error(Some(key), "remove", &path))?;
        if let Some((parent, _)) = rel.split_once('/')
            && !is_own(&locked.name, parent)
        {
            remove_dir_if_empty(&modules.join(parent));
        }
    }
    for (rel, text) in &package.links {
        let path = join_rel(&modules, rel);
        force_symlink(text, &path).map_err(io_error(Some(key), "create symlink", path))?;
    }
    Ok(())
}

/// Whether `rel` is the package's own directory or the scope directory holding it.
fn is_own(name: &str, rel: &str) -> bool {
    rel == name || name.split_once('/').is_some_and(|(scope, _)| scope == rel)
}

/// Entries below `modules` that are not wanted: anything but the package and the links in `links`.
fn scan(modules: &Path, name: &str, links: &LinkSet) -> io::Result<Vec<String>> {
    let mut stale = Vec::new();
    for entry in read_dir_or_empty(modules)? {
        let entry = entry?;
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type()?.is_dir();
        if is_dir && (entry_name == ".bin" || entry_name.starts_with('@')) {
            for child in fs::read_dir(entry.path())? {
                let child = child?;
                let rel = format!("{entry_name}/{}", child.file_name().to_string_lossy());
                if rel != name && !links.contains_key(&rel) {
                    stale.push(rel);
                }
            }
        } else if !is_own(name, &entry_name) && !links.contains_key(&entry_name) {
            stale.push(entry_name);
        }
    }
    Ok(stale)
}

fn read_dir_or_empty(dir: &Path) -> io::Result<Box<dyn Iterator<Item = io::Result<fs::DirEntry>>>> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(Box::new(entries)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Box::new(std::iter::empty())),
        Err(e) => Err(e),
    }
}
