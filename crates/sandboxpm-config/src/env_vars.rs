//! Every environment variable this crate reads, in one place, and the environment snapshot the
//! loaders read them from.
//!
//! Loaders never call `std::env::var` themselves: they get an [`Environment`], so tests are
//! hermetic and the set of variables that can influence configuration is exactly this list.

use std::collections::BTreeMap;
use std::fmt;

/// Overrides `~/.sandboxpm`, where the store and caches live.
pub const SANDBOXPM_HOME: &str = "SANDBOXPM_HOME";
/// The user's home directory.
pub const HOME: &str = "HOME";
/// The executable search path (to find `node` and `npm`).
pub const PATH: &str = "PATH";
/// npm's prefix override (`$PREFIX/etc/npmrc` is the global config).
pub const PREFIX: &str = "PREFIX";
/// Prefix of npm configuration variables (matched case-insensitively): `npm_config_registry`.
pub const NPM_CONFIG_PREFIX: &str = "npm_config_";
/// Proxy for `http:` URLs when `proxy` is not configured (also read lowercase).
pub const HTTP_PROXY: &str = "HTTP_PROXY";
/// Proxy for `https:` URLs when `https-proxy` is not configured (also read lowercase).
pub const HTTPS_PROXY: &str = "HTTPS_PROXY";
/// Hosts that bypass the proxy when `noproxy` is not configured (also read lowercase).
pub const NO_PROXY: &str = "NO_PROXY";

/// A snapshot of environment variables.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// The current process's environment (variables that are not UTF-8 are left out).
    pub fn from_process() -> Self {
        Self::from_pairs(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// An environment made of the given pairs.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Environment {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `name`, exactly as spelled.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The first of `names` that is set and not empty.
    pub fn first_of(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| self.get(n).filter(|v| !v.is_empty()))
    }

    /// Every variable, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for Environment {
    /// Names only: values may be credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}
