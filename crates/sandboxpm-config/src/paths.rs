//! Where sandboxpm keeps its own files: `$SANDBOXPM_HOME`, else `~/.sandboxpm`; the store under
//! `store/` (or the user's `storeDir`), caches under `cache/`.

use std::path::{Path, PathBuf};

use crate::env_vars::{self, Environment};
use crate::error::ConfigError;

/// sandboxpm's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `$SANDBOXPM_HOME` or `~/.sandboxpm`.
    pub home: PathBuf,
    /// The store root (the store adds its own `v2/`).
    pub store_dir: PathBuf,
    /// Metadata and other caches.
    pub cache_dir: PathBuf,
}

impl Paths {
    /// Resolves the directories; a relative `$SANDBOXPM_HOME` is taken from `cwd`.
    pub fn resolve(
        env: &Environment,
        user_home: Option<&Path>,
        cwd: &Path,
        store_dir: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let home = match env.get(env_vars::SANDBOXPM_HOME).filter(|v| !v.is_empty()) {
            Some(dir) => cwd.join(dir),
            None => user_home.ok_or(ConfigError::NoHome)?.join(".sandboxpm"),
        };
        Ok(Paths {
            store_dir: store_dir.map_or_else(|| home.join("store"), Path::to_path_buf),
            cache_dir: home.join("cache"),
            home,
        })
    }
}

/// The user's home directory: `$HOME` from `env`, else the platform's answer.
pub fn home_dir(env: &Environment) -> Option<PathBuf> {
    env.get(env_vars::HOME)
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(std::env::home_dir)
}
