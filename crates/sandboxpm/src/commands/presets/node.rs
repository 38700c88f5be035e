//! The presets of npm, pnpm, yarn and bun.
//!
//! Registries come from npm's configuration layers (read by `sandboxpm-config`: command line,
//! `npm_config_*`, project, user and global `.npmrc`), plus yarn berry's `.yarnrc.yml`, classic
//! yarn's `.yarnrc` and bun's `bunfig.toml`. A tool's built-in default registry is the tool's own
//! answer in the probe (`npm config get registry`, `pnpm config get registry`, `yarn config get
//! registry` / `npmRegistryServer`; bun has no such command and uses npm's default, which its
//! documentation says it shares).
//!
//! The sandboxed tool cannot read `~/.npmrc` or a project `.npmrc` (mandatory denies, because they
//! hold tokens), so the preset plants a `~/.npmrc` (or `~/.yarnrc.yml` for berry) in the private
//! home with the registry lines, the cache location and the TLS settings only.

use std::path::{Path, PathBuf};

use sandboxpm_config::{Environment, NpmConfig, NpmConfigInputs, find_project_dir};

use super::detect::{Invocation, Tool, npm_cli_config};
use super::install;
use super::probe::{Answers, Question};
use super::textconf::{toml_entries, yarnrc_registry, yarnrc_yml_registries};
use super::{HomeFile, HostEnv, PathGrant, Preset, has_credentials, strip_credentials};

/// Non-secret variables each tool (or its installer) reads to find its own directories.
const PASSED_VARS: &[(Tool, &str)] = &[
    (Tool::Pnpm, "PNPM_HOME"),
    (Tool::Bun, "BUN_INSTALL"),
    (Tool::Bun, "BUN_INSTALL_CACHE_DIR"),
    (Tool::Yarn, "YARN_CACHE_FOLDER"),
    (Tool::Yarn, "YARN_GLOBAL_FOLDER"),
];

/// Version-manager variables passed when set, for every node tool.
const MANAGER_VARS: &[&str] = &["NVM_DIR", "VOLTA_HOME", "ASDF_DIR", "ASDF_DATA_DIR"];

/// The probe's questions, and what must be readable for them to be answered.
pub fn prepare(
    preset: &mut Preset,
    invocation: &Invocation,
    program: &Path,
    host: &HostEnv,
) -> Vec<Question> {
    let prog = program.to_string_lossy().into_owned();
    let ask = |label: &'static str, args: &[&str]| Question {
        label,
        argv: std::iter::once(prog.clone())
            .chain(args.iter().map(|s| s.to_string()))
            .collect(),
    };
    for var in MANAGER_VARS {
        preset.pass_env(host, var, "version manager");
    }
    for (tool, var) in PASSED_VARS {
        if *tool == invocation.tool {
            preset.pass_env(host, var, "where the tool keeps its files");
        }
    }
    corepack(preset, program, host);
    match invocation.tool {
        Tool::Npm => vec![ask("npm", &["config", "get", "cache", "registry"])],
        Tool::Pnpm => vec![ask("pnpm-registry", &["config", "get", "registry"])],
        Tool::Yarn => vec![
            ask("yarn-version", &["--version"]),
            ask("yarn-registry", &["config", "get", "registry"]),
            ask(
                "yarn-berry-registry",
                &["config", "get", "npmRegistryServer"],
            ),
            ask("yarn-cache", &["cache", "dir"]),
        ],
        Tool::Bun => {
            let mut questions = vec![ask("bun-cache", &["pm", "cache"])];
            // Bun's default registry is npm's; ask npm when it is installed.
            if let Some(npm) = install::find_on_path("npm", host.path_var()) {
                preset
                    .read
                    .extend(install::grants(&npm, host.path_var(), &host.homes));
                questions.push(Question {
                    label: "npm",
                    argv: vec![
                        npm.to_string_lossy().into_owned(),
                        "config".into(),
                        "get".into(),
                        "cache".into(),
                        "registry".into(),
                    ],
                });
            }
            questions
        }
        Tool::Pip | Tool::Uv => Vec::new(),
    }
}

/// A corepack shim runs a package manager it downloaded into its home: that must be readable.
/// It is not made writable: what corepack stores there is run outside the sandbox later.
fn corepack(preset: &mut Preset, program: &Path, host: &HostEnv) {
    let Ok(real) = std::fs::canonicalize(program) else {
        return;
    };
    if !real.components().any(|c| c.as_os_str() == "corepack") {
        return;
    }
    preset.pass_env(host, "COREPACK_HOME", "corepack's downloads");
    let home = host.var("COREPACK_HOME").map(PathBuf::from).or_else(|| {
        host.dir_var_or("XDG_CACHE_HOME", ".cache")
            .map(|c| c.join("node/corepack"))
    });
    if let Some(home) = home.filter(|h| h.is_dir()) {
        preset.read.push(PathGrant::new(
            &home,
            "corepack's downloaded package managers (read-only)",
        ));
    }
    preset.notes.push(
        "corepack cannot download a package manager inside the sandbox (its home is read-only): \
         run `corepack install` first"
            .to_string(),
    );
}

/// A registry URL, the scope it serves, and where it was configured.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Registry {
    scope: Option<String>,
    url: String,
    from: String,
}

/// Everything else, once the probe has answered.
pub fn complete(preset: &mut Preset, invocation: &Invocation, host: &HostEnv, answers: &Answers) {
    let tool = invocation.tool;
    let env = Environment::from_pairs(host.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let cli = npm_cli_config(&invocation.args);
    let config = match NpmConfig::load(&NpmConfigInputs {
        cwd: &host.cwd,
        home: host.home.as_deref(),
        env: &env,
        cli: &cli,
    }) {
        Ok(config) => config,
        Err(e) => {
            preset
                .notes
                .push(format!("reading the npm configuration: {e}"));
            NpmConfig::default()
        }
    };
    let npm_answers = key_values(answers.get("npm").map(String::as_str).unwrap_or_default());
    let project = find_project_dir(&host.cwd);
    let berry = tool == Tool::Yarn && is_berry(answers, project.as_deref());

    // Registries.
    let mut registries: Vec<Registry> = Vec::new();
    let configured = config.entry("registry").map(|e| Registry {
        scope: None,
        url: e.value.as_scalar().unwrap_or_default().to_string(),
        from: format!("registry in {}", e.source),
    });
    // The tool's answer in the probe: a `key=value` line of npm's, or the last line.
    let asked = |label: &str, key: Option<&str>, how: &str| -> Option<Registry> {
        let text = match key {
            Some(key) => npm_answers.iter().find(|(k, _)| k == key)?.1.clone(),
            None => answers.get(label)?.lines().last()?.trim().to_string(),
        };
        host_is_url(&text).then(|| Registry {
            scope: None,
            url: text,
            from: how.to_string(),
        })
    };
    let tool_default = match tool {
        Tool::Npm => asked("npm", Some("registry"), "npm config get registry"),
        Tool::Pnpm => asked("pnpm-registry", None, "pnpm config get registry"),
        Tool::Yarn if berry => asked(
            "yarn-berry-registry",
            None,
            "yarn config get npmRegistryServer",
        ),
        Tool::Yarn => asked("yarn-registry", None, "yarn config get registry"),
        Tool::Bun => asked("npm", Some("registry"), "npm's default, which bun shares"),
        Tool::Pip | Tool::Uv => None,
    };
    // Berry does not read .npmrc at all; the others use npm's registry setting.
    if !berry {
        registries.extend(configured.clone());
        for (key, entry) in config.iter() {
            if let Some(scope) = key.strip_suffix(":registry").filter(|s| s.starts_with('@')) {
                registries.push(Registry {
                    scope: Some(scope.trim_start_matches('@').to_string()),
                    url: entry.value.as_scalar().unwrap_or_default().to_string(),
                    from: format!("{key} in {}", entry.source),
                });
            }
        }
    }
    match tool {
        Tool::Yarn if berry => {
            registries.extend(berry_registries(host, project.as_deref()));
        }
        Tool::Yarn => {
            for (path, from) in [
                (
                    project.as_ref().map(|p| p.join(".yarnrc")),
                    "the project's .yarnrc",
                ),
                (host.in_home(".yarnrc"), "~/.yarnrc"),
            ] {
                if let Some(url) = path
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .and_then(|t| yarnrc_registry(&t))
                {
                    registries.push(Registry {
                        scope: None,
                        url,
                        from: format!("registry in {from}"),
                    });
                }
            }
        }
        Tool::Bun => registries.extend(bunfig_registries(host, project.as_deref())),
        _ => {}
    }
    // The tool's own default is needed when nothing configures the default registry; classic
    // yarn's is allowed as well, since its lockfiles name it whatever .npmrc says.
    let has_default = registries.iter().any(|r| r.scope.is_none());
    if let Some(default) = tool_default
        && (!has_default || (tool == Tool::Yarn && !berry))
    {
        registries.push(default);
    }
    for r in &registries {
        let what = match &r.scope {
            Some(scope) => format!("registry of @{scope}: {}", r.from),
            None => format!("registry: {}", r.from),
        };
        preset.allow_url(&r.url, what);
        if has_credentials(&r.url) {
            preset.notes.push(format!(
                "{}: the user name and password in the URL are not passed to the sandbox",
                strip_credentials(&r.url)
            ));
        }
    }

    // Caches and stores.
    let expand = |key: &str| {
        config
            .get(key)
            .filter(|v| !v.is_empty())
            .map(|v| host.expand(v))
    };
    let mut npmrc_dirs: Vec<(&str, PathBuf)> = Vec::new();
    match tool {
        Tool::Npm => {
            let cache = expand("cache")
                .map(|p| (p, "npm's cache (cache in the npm configuration)"))
                .or_else(|| {
                    npm_answers
                        .iter()
                        .find(|(k, _)| k == "cache")
                        .map(|(_, v)| (PathBuf::from(v), "npm's cache (npm config get cache)"))
                })
                .or_else(|| host.in_home(".npm").map(|p| (p, "npm's cache")));
            if let Some((dir, why)) = cache {
                grant_dir(preset, host, &dir, why);
                npmrc_dirs.push(("cache", dir));
            }
        }
        Tool::Pnpm => {
            // No store: the sandbox binds each grant as its own mount, and hard links cannot
            // cross mounts, so pnpm finds it cannot link from a store outside the project and
            // keeps one inside it. Granting the global store would only let the command alter
            // files that other projects' node_modules are hard links of.
            let cache = expand("cache-dir").or_else(|| {
                host.dir_var_or("XDG_CACHE_HOME", ".cache")
                    .map(|d| d.join("pnpm"))
            });
            let state = expand("state-dir").or_else(|| {
                host.dir_var_or("XDG_STATE_HOME", ".local/state")
                    .map(|d| d.join("pnpm"))
            });
            for (key, dir, why) in [
                ("cache-dir", cache, "pnpm's metadata cache"),
                ("state-dir", state, "pnpm's state (update checks)"),
            ] {
                if let Some(dir) = dir {
                    grant_dir(preset, host, &dir, why);
                    npmrc_dirs.push((key, dir));
                }
            }
            preset.notes.push(
                "pnpm cannot hard-link from its global store into the project inside the sandbox \
                 (every grant is a separate mount), so it keeps a store in node_modules/.pnpm-store; \
                 the global store is not granted"
                    .to_string(),
            );
        }
        Tool::Yarn if berry => {
            if let Some(dir) = host
                .var("YARN_GLOBAL_FOLDER")
                .map(PathBuf::from)
                .or_else(|| host.in_home(".yarn/berry"))
            {
                grant_dir(preset, host, &dir, "yarn's global folder (its cache)");
            }
        }
        Tool::Yarn => {
            // Classic yarn's cache, as its `getCacheDir` finds it (asking yarn in the read-only
            // probe would give its fallback for an unwritable cache instead): root's home is
            // /usr/local/share for it.
            let dir = host
                .var("YARN_CACHE_FOLDER")
                .map(PathBuf::from)
                .or_else(|| {
                    host.var("XDG_CACHE_HOME")
                        .map(|c| PathBuf::from(c).join("yarn"))
                })
                .or_else(|| {
                    if is_root() {
                        Some(PathBuf::from("/usr/local/share/.cache/yarn"))
                    } else {
                        host.in_home(".cache/yarn")
                    }
                });
            if let Some(dir) = dir {
                grant_dir(preset, host, &dir, "yarn's cache");
            }
        }
        Tool::Bun => {
            let dir = host
                .var("BUN_INSTALL_CACHE_DIR")
                .map(PathBuf::from)
                .or_else(|| {
                    answers
                        .get("bun-cache")
                        .filter(|s| s.starts_with('/') && !s.contains('\n'))
                        .map(PathBuf::from)
                })
                .or_else(|| {
                    host.var("BUN_INSTALL")
                        .map(|b| PathBuf::from(b).join("install/cache"))
                        .or_else(|| host.in_home(".bun/install/cache"))
                });
            if let Some(dir) = dir {
                grant_dir(preset, host, &dir, "bun's install cache");
            }
        }
        Tool::Pip | Tool::Uv => {}
    }

    // TLS settings of the npm configuration.
    let cafile = expand("cafile").filter(|p| p.is_file());
    if let Some(cafile) = &cafile {
        preset
            .read
            .push(PathGrant::new(cafile, "cafile in the npm configuration"));
    }
    let strict_ssl = config.get("strict-ssl").map(str::to_string);

    if berry {
        let text = yarnrc_yml(&registries);
        if !text.is_empty() {
            preset.home_files.push(HomeFile {
                path: ".yarnrc.yml".into(),
                content: text,
                why: "registries of the yarn configuration, without credentials".to_string(),
            });
        }
    } else {
        let text = npmrc(
            &registries,
            &npmrc_dirs,
            cafile.as_deref(),
            strict_ssl.as_deref(),
        );
        preset.home_files.push(HomeFile {
            path: ".npmrc".into(),
            content: text,
            why: "registries, cache and TLS settings of the npm configuration, no credentials"
                .to_string(),
        });
    }
}

/// Grants a cache directory read-write (created when missing), unless it is too broad.
fn grant_dir(preset: &mut Preset, host: &HostEnv, dir: &Path, why: &str) {
    if install::acceptable(dir, &host.homes) && dir.is_absolute() {
        preset.write.push(PathGrant::created(dir, why));
    } else {
        preset.notes.push(format!(
            "{} ({why}) is too broad to grant; grant it with --allow-write if you mean it",
            dir.display()
        ));
    }
}

/// `key=value` lines (`npm config get a b` prints them).
fn key_values(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn host_is_url(text: &str) -> bool {
    super::host_entry(text).is_some()
}

/// Whether this process runs as root (classic yarn keeps root's cache elsewhere).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Berry when yarn says it is 2 or later, or (without an answer) when the project has a
/// `.yarnrc.yml` or asks for `yarn@2+` in `packageManager`.
fn is_berry(answers: &Answers, project: Option<&Path>) -> bool {
    if let Some(major) = answers
        .get("yarn-version")
        .and_then(|v| v.lines().last())
        .and_then(|v| v.trim().split('.').next()?.parse::<u32>().ok())
    {
        return major >= 2;
    }
    let Some(project) = project else {
        return false;
    };
    if project.join(".yarnrc.yml").is_file() {
        return true;
    }
    std::fs::read_to_string(project.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("packageManager")?.as_str().map(str::to_string))
        .and_then(|pm| {
            let version = pm.strip_prefix("yarn@")?;
            version.split('.').next()?.parse::<u32>().ok()
        })
        .is_some_and(|major| major >= 2)
}

fn berry_registries(host: &HostEnv, project: Option<&Path>) -> Vec<Registry> {
    let mut out = Vec::new();
    if let Some(url) = host.var("YARN_NPM_REGISTRY_SERVER") {
        out.push(Registry {
            scope: None,
            url: url.to_string(),
            from: "YARN_NPM_REGISTRY_SERVER".to_string(),
        });
    }
    for (path, from) in [
        (host.in_home(".yarnrc.yml"), "~/.yarnrc.yml"),
        (
            project.map(|p| p.join(".yarnrc.yml")),
            "the project's .yarnrc.yml",
        ),
    ] {
        let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
            continue;
        };
        for (scope, url) in yarnrc_yml_registries(&text) {
            out.push(Registry {
                scope,
                url,
                from: from.to_string(),
            });
        }
    }
    out
}

fn bunfig_registries(host: &HostEnv, project: Option<&Path>) -> Vec<Registry> {
    let mut out = Vec::new();
    for var in ["BUN_CONFIG_REGISTRY", "NPM_CONFIG_REGISTRY"] {
        if let Some(url) = host.var(var) {
            out.push(Registry {
                scope: None,
                url: url.to_string(),
                from: var.to_string(),
            });
        }
    }
    let global = host
        .var("XDG_CONFIG_HOME")
        .map(|x| PathBuf::from(x).join(".bunfig.toml"))
        .or_else(|| host.in_home(".bunfig.toml"));
    for (path, from) in [
        (global, "the global bunfig.toml"),
        (
            project.map(|p| p.join("bunfig.toml")),
            "the project's bunfig.toml",
        ),
    ] {
        let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
            continue;
        };
        for entry in toml_entries(&text) {
            let scope = match (entry.table.as_str(), entry.key.as_str()) {
                ("install", "registry") | ("", "install.registry") => None,
                ("install.scopes", scope) => Some(scope.trim_start_matches('@').to_string()),
                _ => continue,
            };
            if let Some(url) = entry.strings.first() {
                out.push(Registry {
                    scope,
                    url: url.clone(),
                    from: from.to_string(),
                });
            }
        }
    }
    out
}

/// The planted `~/.npmrc`: registry URLs without credentials, cache directories, TLS settings.
/// Values with line breaks are dropped (they could smuggle other keys in).
fn npmrc(
    registries: &[Registry],
    dirs: &[(&str, PathBuf)],
    cafile: Option<&Path>,
    strict_ssl: Option<&str>,
) -> String {
    let mut lines = vec!["; written by sandboxpm: no credentials enter the sandbox".to_string()];
    let mut push = |key: String, value: String| {
        if !value.contains(['\n', '\r']) && !key.contains(['\n', '\r', '=']) {
            lines.push(format!("{key}={value}"));
        }
    };
    let mut seen_default = false;
    for r in registries {
        if !host_is_url(&r.url) {
            continue;
        }
        match &r.scope {
            // The first default is the configured one (or the tool's own when none is).
            None if seen_default => {}
            None => {
                seen_default = true;
                push("registry".to_string(), strip_credentials(&r.url));
            }
            Some(scope) => push(format!("@{scope}:registry"), strip_credentials(&r.url)),
        }
    }
    for (key, dir) in dirs {
        push((*key).to_string(), dir.to_string_lossy().into_owned());
    }
    if let Some(cafile) = cafile {
        push("cafile".to_string(), cafile.to_string_lossy().into_owned());
    }
    if let Some(strict) = strict_ssl {
        push("strict-ssl".to_string(), strict.to_string());
    }
    lines.join("\n") + "\n"
}

/// The planted `~/.yarnrc.yml` of berry: registries without credentials.
fn yarnrc_yml(registries: &[Registry]) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace(['"', '\\', '\n', '\r'], ""));
    let mut text = String::new();
    let mut scopes = String::new();
    let mut seen_default = false;
    for r in registries.iter().filter(|r| host_is_url(&r.url)) {
        let url = quote(&strip_credentials(&r.url));
        match &r.scope {
            None if seen_default => {}
            None => {
                seen_default = true;
                text.push_str(&format!("npmRegistryServer: {url}\n"));
            }
            Some(scope) => {
                let scope = scope.replace(['"', '\\', '\n', '\r', ':'], "");
                scopes.push_str(&format!("  \"{scope}\":\n    npmRegistryServer: {url}\n"));
            }
        }
    }
    if !scopes.is_empty() {
        text.push_str("npmScopes:\n");
        text.push_str(&scopes);
    }
    if text.is_empty() {
        return text;
    }
    format!("# written by sandboxpm: no credentials enter the sandbox\n{text}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn reg(scope: Option<&str>, url: &str) -> Registry {
        Registry {
            scope: scope.map(str::to_string),
            url: url.to_string(),
            from: "test".to_string(),
        }
    }

    #[test]
    fn planted_npmrc_has_registries_and_dirs_but_no_credentials() {
        let text = npmrc(
            &[
                reg(None, "https://user:SECRET@r.invalid/npm/"),
                reg(None, "https://second.invalid/"),
                reg(Some("acme"), "https://acme.invalid/"),
                reg(Some("bad"), "https://x.invalid/\n//x.invalid/:_authToken=T"),
            ],
            &[("cache", PathBuf::from("/h/.npm"))],
            Some(Path::new("/etc/ssl/ca.pem")),
            Some("false"),
        );
        assert_eq!(
            text,
            "; written by sandboxpm: no credentials enter the sandbox\n\
             registry=https://r.invalid/npm/\n\
             @acme:registry=https://acme.invalid/\n\
             cache=/h/.npm\n\
             cafile=/etc/ssl/ca.pem\n\
             strict-ssl=false\n"
        );
        assert!(!text.contains("SECRET") && !text.contains("_authToken"));
    }

    #[test]
    fn planted_yarnrc_yml_lists_scopes() {
        let text = yarnrc_yml(&[
            reg(None, "https://t:SECRET@r.invalid/"),
            reg(Some("acme"), "https://acme.invalid/"),
        ]);
        assert_eq!(
            text,
            "# written by sandboxpm: no credentials enter the sandbox\n\
             npmRegistryServer: \"https://r.invalid/\"\n\
             npmScopes:\n  \"acme\":\n    npmRegistryServer: \"https://acme.invalid/\"\n"
        );
        assert_eq!(yarnrc_yml(&[]), "");
    }

    #[test]
    fn berry_is_recognised_from_the_version_or_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let mut answers = Answers::new();
        answers.insert("yarn-version".into(), "4.1.0".into());
        assert!(is_berry(&answers, None));
        answers.insert("yarn-version".into(), "1.22.22".into());
        assert!(!is_berry(&answers, Some(dir.path())));
        let none = Answers::new();
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"packageManager": "yarn@3.6.0"}"#,
        )
        .unwrap();
        assert!(is_berry(&none, Some(dir.path())));
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"packageManager": "yarn@1.22.0"}"#,
        )
        .unwrap();
        assert!(!is_berry(&none, Some(dir.path())));
    }

    #[test]
    fn npm_config_answers_are_key_values() {
        assert_eq!(
            key_values("cache=/h/.npm\nregistry=https://r.invalid/\n"),
            vec![
                ("cache".to_string(), "/h/.npm".to_string()),
                ("registry".to_string(), "https://r.invalid/".to_string())
            ]
        );
    }
}
