//! The environment of a script: what npm gives one, minus the secrets, and nothing else.
//!
//! npm hands a script its whole environment plus `npm_*` variables, which is how
//! `NPM_TOKEN`, `GITHUB_TOKEN` and `AWS_SECRET_ACCESS_KEY` end up in stolen-credential dumps. Here
//! the environment is built from nothing:
//!
//! - `npm_lifecycle_event`, `npm_lifecycle_script`, `npm_package_name`, `npm_package_version`,
//!   `npm_package_json`, `npm_node_execpath`, `npm_execpath`, `INIT_CWD`: what scripts and
//!   tools (node-gyp, prebuild-install, node-pre-gyp) read;
//! - `PATH`: the package's dependencies' bins, its own nested bins, npm's `node-gyp` shim, then
//!   the caller's `PATH`;
//! - `npm_config_*` for configuration that is not a credential and not a network setting (see
//!   [`is_secret_config_key`]);
//! - the variables named in `.sandboxpmrc` `envPassthrough`, which the user chose;
//! - `HOME` and `TMPDIR` are set by the sandbox (a private, empty home).

use std::collections::BTreeMap;
use std::path::Path;

use sandboxpm_config::NpmConfig;
use sandboxpm_npm::InstallEvent;

use crate::discovery::PackageScripts;
use crate::toolchain::Toolchain;

/// Everything a script's environment is built from.
#[derive(Debug, Clone, Copy)]
pub struct ScriptEnvInputs<'a> {
    /// The project root (`INIT_CWD`).
    pub project_dir: &'a Path,
    /// The package.
    pub package: &'a PackageScripts,
    /// The lifecycle event.
    pub event: InstallEvent,
    /// The script text.
    pub command: &'a str,
    /// node, npm and the build tools.
    pub toolchain: &'a Toolchain,
    /// npm's configuration.
    pub npm_config: &'a NpmConfig,
    /// The caller's environment (for `PATH` and the pass-through variables).
    pub caller_env: &'a BTreeMap<String, String>,
    /// `.sandboxpmrc` `envPassthrough`.
    pub passthrough: &'a [String],
}

/// The complete environment of one script (before the sandbox adds `HOME` and `TMPDIR`).
pub fn script_env(inputs: &ScriptEnvInputs<'_>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    // Chosen by the user, and overridden by anything below: a pass-through `PATH` or
    // `npm_lifecycle_event` must not change what the script is told about itself.
    for name in inputs.passthrough {
        if let Some(value) = inputs.caller_env.get(name) {
            env.insert(name.clone(), value.clone());
        }
    }
    for (key, entry) in inputs.npm_config.iter() {
        if is_secret_config_key(key) {
            continue;
        }
        let values = entry.value.as_list();
        if values.iter().any(|v| has_credentials(v)) {
            continue;
        }
        env.insert(config_var_name(key), values.join("\n\n"));
    }

    let package = inputs.package;
    let text = |p: &Path| p.to_string_lossy().into_owned();
    env.insert("npm_lifecycle_event".into(), inputs.event.name().to_owned());
    env.insert("npm_lifecycle_script".into(), inputs.command.to_owned());
    env.insert("npm_package_name".into(), package.name.clone());
    env.insert("npm_package_version".into(), package.version.clone());
    env.insert(
        "npm_package_json".into(),
        text(&package.dir.join("package.json")),
    );
    if let Some(node) = &inputs.toolchain.node {
        env.insert("npm_node_execpath".into(), text(node));
    }
    if let Some(npm) = &inputs.toolchain.npm_execpath {
        env.insert("npm_execpath".into(), text(npm));
    }
    env.insert("INIT_CWD".into(), text(inputs.project_dir));

    let mut path = vec![
        text(&dependency_bin_dir(inputs.project_dir, &package.key)),
        text(&package.dir.join("node_modules").join(".bin")),
    ];
    // node-gyp builds against the headers node ships, rather than downloading them.
    if let Some(dir) = &inputs.toolchain.nodedir {
        env.entry("npm_config_nodedir".into())
            .or_insert_with(|| text(dir));
    }
    if let Some(shim) = &inputs.toolchain.node_gyp_bin {
        path.push(text(shim));
        // npm's shim runs `node "$npm_config_node_gyp"`; without it, `node ""` exits 0 having
        // built nothing, and a native addon silently stays unbuilt.
        if let Some(root) = &inputs.toolchain.npm_root {
            let gyp = root
                .join("node_modules")
                .join("node-gyp")
                .join("bin")
                .join("node-gyp.js");
            if gyp.is_file() {
                // A `node-gyp` the user configured wins.
                env.entry("npm_config_node_gyp".into())
                    .or_insert_with(|| text(&gyp));
            }
        }
    }
    if let Some(caller) = inputs.caller_env.get("PATH").filter(|p| !p.is_empty()) {
        path.push(caller.clone());
    }
    env.insert("PATH".into(), path.join(":"));
    env
}

/// `node_modules/.sandboxpm/<dir>/node_modules/.bin`: the bins of the package's dependencies.
pub fn dependency_bin_dir(project_dir: &Path, key: &str) -> std::path::PathBuf {
    dependency_links_dir(project_dir, key).join(".bin")
}

/// `node_modules/.sandboxpm/<dir>/node_modules`: the package and the links to its dependencies.
pub fn dependency_links_dir(project_dir: &Path, key: &str) -> std::path::PathBuf {
    project_dir
        .join("node_modules")
        .join(".sandboxpm")
        .join(sandboxpm_linker::virtual_store_dir_name(key))
        .join("node_modules")
}

/// Whether an npm configuration key may hold a credential or a network setting, and so never
/// reaches a script: anything about auth, passwords, tokens, secrets, keys or certificates,
/// per-registry settings (`//host/:…`), scoped auth (`@scope:_authToken`), the proxy keys (a
/// proxy URL can carry a password, and the sandbox sets its own proxy when it grants network), and
/// `otp`, the two-factor code npm sends when publishing (valid for seconds, but a credential).
pub fn is_secret_config_key(key: &str) -> bool {
    const WORDS: &[&str] = &[
        "_auth",
        "auth",
        "password",
        "token",
        "secret",
        "key",
        "cert",
        "credential",
    ];
    const EXACT: &[&str] = &[
        "proxy",
        "https-proxy",
        "http-proxy",
        "noproxy",
        "username",
        "email",
        "otp",
    ];
    let lower = key.to_ascii_lowercase();
    lower.starts_with("//")
        || lower.contains(":_")
        || WORDS.iter().any(|w| lower.contains(w))
        || EXACT.contains(&lower.as_str())
}

/// A URL with a user or password in it (`https://user:pass@host/`).
fn has_credentials(value: &str) -> bool {
    value.split_whitespace().any(|word| {
        word.split_once("://").is_some_and(|(_, rest)| {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            authority.contains('@')
        })
    })
}

/// npm's naming: `npm_config_` + the key with leading `_` removed, other characters than
/// letters, digits and `_` replaced by `_`, lower-cased.
fn config_var_name(key: &str) -> String {
    let cleaned: String = key
        .trim_start_matches('_')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("npm_config_{cleaned}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for key in [
            "_auth",
            "_authToken",
            "//registry.invalid/:_authToken",
            "//registry.invalid/:_password",
            "@scope:_authToken",
            "keyfile",
            "certfile",
            "cert",
            "key",
            "my-secret",
            "GITHUB_TOKEN",
            "https-proxy",
            "otp",
            "OTP",
        ] {
            assert!(is_secret_config_key(key), "{key}");
        }
        for key in [
            "registry",
            "cache",
            "nodedir",
            "python",
            "loglevel",
            "foreground-scripts",
        ] {
            assert!(!is_secret_config_key(key), "{key}");
        }
    }

    #[test]
    fn credentials_in_urls() {
        assert!(has_credentials("https://u:p@mirror.invalid/"));
        assert!(!has_credentials("https://mirror.invalid/a@b"));
        assert!(!has_credentials("plain@value"));
    }

    #[test]
    fn npm_variable_names() {
        assert_eq!(config_var_name("node-gyp"), "npm_config_node_gyp");
        assert_eq!(
            config_var_name("@scope:registry"),
            "npm_config__scope_registry"
        );
        assert_eq!(config_var_name("Cache"), "npm_config_cache");
    }
}
