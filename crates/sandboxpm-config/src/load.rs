//! Loading everything at once: the npm layers, the settings derived from them, `.sandboxpmrc`
//! and sandboxpm's directories.

use std::path::PathBuf;

use crate::env_vars::Environment;
use crate::error::ConfigError;
use crate::npm_config::{NpmConfig, NpmConfigInputs};
use crate::paths::{Paths, home_dir};
use crate::sandboxpmrc::SandboxpmSettings;
use crate::settings::{RegistryFallback, Settings, SettingsInputs};

/// What loading depends on; [`LoadOptions::from_process`] fills it from the running process.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The working directory.
    pub cwd: PathBuf,
    /// The environment.
    pub env: Environment,
    /// The user's home directory.
    pub home: Option<PathBuf>,
    /// Command-line settings (`--registry=…` as `("registry", "…")`), highest precedence.
    pub cli: Vec<(String, String)>,
    /// How to find the registry if nothing sets it.
    pub registry_fallback: RegistryFallback,
}

impl LoadOptions {
    /// Options for the current process.
    pub fn from_process() -> std::io::Result<Self> {
        let env = Environment::from_process();
        Ok(LoadOptions {
            cwd: std::env::current_dir()?,
            home: home_dir(&env),
            env,
            cli: Vec::new(),
            registry_fallback: RegistryFallback::default(),
        })
    }
}

/// Everything configuration decides.
#[derive(Debug, Clone)]
pub struct Config {
    /// The merged npm configuration.
    pub npm: NpmConfig,
    /// Registry, credentials, proxies, TLS.
    pub settings: Settings,
    /// `.sandboxpmrc`, merged.
    pub sandboxpm: SandboxpmSettings,
    /// sandboxpm's directories.
    pub paths: Paths,
    /// Warnings from every source.
    pub warnings: Vec<String>,
}

impl Config {
    /// Loads and validates every layer.
    pub fn load(options: &LoadOptions) -> Result<Self, ConfigError> {
        let home = options.home.as_deref();
        let npm = NpmConfig::load(&NpmConfigInputs {
            cwd: &options.cwd,
            home,
            env: &options.env,
            cli: &options.cli,
        })?;
        let settings = Settings::from_config(
            &npm,
            &SettingsInputs {
                env: &options.env,
                cwd: &options.cwd,
                home,
                registry_fallback: &options.registry_fallback,
            },
        )?;
        let sandboxpm = SandboxpmSettings::load(npm.project_dir.as_deref(), home)?;
        let paths = Paths::resolve(
            &options.env,
            home,
            &options.cwd,
            sandboxpm.store_dir.as_deref(),
        )?;
        let warnings = npm
            .warnings
            .iter()
            .chain(&sandboxpm.warnings)
            .cloned()
            .collect();
        Ok(Config {
            npm,
            settings,
            sandboxpm,
            paths,
            warnings,
        })
    }

    /// The project directory (nearest `package.json`), if any.
    pub fn project_dir(&self) -> Option<&std::path::Path> {
        self.npm.project_dir.as_deref()
    }
}
