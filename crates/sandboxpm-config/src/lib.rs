//! sandboxpm's configuration: npm's `.npmrc` layers and environment variables merged into typed
//! registry/auth/proxy/TLS [`Settings`], sandboxpm's own `.sandboxpmrc`, and where sandboxpm keeps
//! its files.
//!
//! This crate depends on nothing else of sandboxpm; everything downstream reads configuration from
//! here. Two rules shape it: no registry host is ever written in the source (when nothing
//! configures one, the installed npm is asked), and a project's files are not trusted with the
//! user's secrets (no `${VAR}` expansion into registry, credential or proxy settings from a
//! project `.npmrc`; no `storeDir` from a project `.sandboxpmrc`).
#![deny(missing_docs)]

mod atomic;
mod env_vars;
mod error;
mod load;
mod npm_cli;
mod npm_config;
mod npmrc;
mod paths;
mod sandboxpmrc;
mod sandboxpmrc_edit;
mod settings;
mod url;

pub use env_vars::{
    Environment, HOME, HTTP_PROXY, HTTPS_PROXY, NO_PROXY, NPM_CONFIG_PREFIX, PATH, PREFIX,
    SANDBOXPM_HOME,
};
pub use error::ConfigError;
pub use load::{Config, LoadOptions};
pub use npm_cli::{NPM_TIMEOUT, ask_npm_registry};
pub use npm_config::{ConfigEntry, ConfigSource, NpmConfig, NpmConfigInputs, find_project_dir};
pub use npmrc::{FileTrust, NpmrcValue, ParsedNpmrc, expand_env, is_sensitive_key, parse_npmrc};
pub use paths::{Paths, home_dir};
pub use sandboxpmrc::{
    Origin, PackageGrants, PackageRule, PolicyAction, SANDBOXPMRC_NAME, SandboxBackend,
    SandboxpmSettings, SandboxpmrcError, SandboxpmrcFile,
};
pub use sandboxpmrc_edit::{RuleList, add_rule};
pub use settings::{Credential, RegistryAuth, RegistryFallback, Settings, SettingsInputs};
