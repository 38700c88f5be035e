//! The presets of pip (`pip`, `pip3`, `python -m pip`) and uv.
//!
//! Indexes come from the tool's own configuration, read here: pip's `pip.conf` files in pip's
//! order (global, user, site, `PIP_CONFIG_FILE`; `[install]` over `[global]`), `PIP_*`
//! variables, the command line and the requirement files it names; uv's `uv.toml` (system, user,
//! project), `[tool.uv]` in `pyproject.toml`, `UV_*` variables and the command line. When nothing
//! names an index, the default is pip's own, asked of pip in the probe (`PyPI.url`), together with
//! the host its files are served from (`PyPI.file_storage_domain`); uv uses the same default.
//!
//! The interpreter is asked (in the probe, isolated with `-I` so the project is not on its path)
//! where its standard library and `site-packages` are, and whether it belongs to a virtualenv,
//! which then becomes writable for pip.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::detect::{Invocation, PythonArgs, Tool, python_args};
use super::install;
use super::probe::{Answers, Question};
use super::textconf::{ini_entries, toml_entries};
use super::{
    HomeFile, HostEnv, PathGrant, Preset, has_credentials, host_entry, sanitized_url,
    strip_credentials,
};

/// Printed by the interpreter in the probe: where it lives and pip's default index.
/// Written without single quotes, since the probe quotes it for `sh`.
const PYTHON_PROBE: &str = r#"import json, sys
out = {"prefix": sys.prefix, "base_prefix": sys.base_prefix, "exec_prefix": sys.exec_prefix,
       "base_exec_prefix": sys.base_exec_prefix, "path": [p for p in sys.path if p]}
try:
    from pip._internal.models.index import PyPI
    out["index"] = PyPI.url
    out["files"] = PyPI.file_storage_domain
except Exception as e:
    out["pip_error"] = repr(e)[:200]
print(json.dumps(out))
"#;

/// Non-secret variables passed when set.
const PASSED_VARS: &[(Option<Tool>, &str, &str)] = &[
    (None, "VIRTUAL_ENV", "the active virtualenv"),
    (None, "PYENV_ROOT", "version manager"),
    (None, "PYENV_VERSION", "version manager"),
    (None, "ASDF_DIR", "version manager"),
    (None, "ASDF_DATA_DIR", "version manager"),
    (Some(Tool::Uv), "UV_PYTHON", "which interpreter uv uses"),
    (
        Some(Tool::Uv),
        "UV_PYTHON_INSTALL_DIR",
        "where uv's interpreters are",
    ),
    (
        Some(Tool::Uv),
        "UV_PROJECT_ENVIRONMENT",
        "where uv puts the project's environment",
    ),
];

/// What the interpreter said about itself.
#[derive(Debug, Clone, Default, Deserialize)]
struct PythonFacts {
    prefix: PathBuf,
    base_prefix: PathBuf,
    exec_prefix: PathBuf,
    base_exec_prefix: PathBuf,
    #[serde(default)]
    path: Vec<PathBuf>,
    index: Option<String>,
    files: Option<String>,
    pip_error: Option<String>,
}

/// The probe's questions, and what must be readable or writable for the command.
pub fn prepare(
    preset: &mut Preset,
    invocation: &Invocation,
    program: &Path,
    host: &HostEnv,
) -> Vec<Question> {
    for (tool, var, why) in PASSED_VARS {
        if tool.is_none_or(|t| t == invocation.tool) {
            preset.pass_env(host, var, why);
        }
    }
    if let Some(venv) = host.var("VIRTUAL_ENV").map(PathBuf::from) {
        grant_write(
            preset,
            host,
            &venv,
            "the active virtualenv ($VIRTUAL_ENV)",
            false,
        );
    }
    let mut questions = Vec::new();
    let interpreter = interpreter_for(invocation, program, host);
    if let Some(python) = &interpreter {
        if python != program {
            preset
                .read
                .extend(install::grants(python, host.path_var(), &host.homes));
        }
        questions.push(Question {
            label: "python",
            argv: vec![
                python.to_string_lossy().into_owned(),
                "-I".into(),
                "-c".into(),
                PYTHON_PROBE.into(),
            ],
        });
    } else {
        preset
            .notes
            .push("no Python interpreter found to ask for pip's default index".to_string());
    }
    if invocation.tool == Tool::Uv {
        let managed = host
            .var("UV_PYTHON_INSTALL_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                host.dir_var_or("XDG_DATA_HOME", ".local/share")
                    .map(|d| d.join("uv/python"))
            });
        if let Some(dir) = managed.filter(|d| d.is_dir()) {
            preset
                .read
                .push(PathGrant::new(&dir, "interpreters uv installed"));
        }
        questions.push(Question {
            label: "uv-cache",
            argv: vec![
                program.to_string_lossy().into_owned(),
                "cache".into(),
                "dir".into(),
            ],
        });
    }
    questions
}

/// The interpreter that runs the tool: the program itself for `python -m pip`; the `#!`
/// interpreter of a pip script; a `python3` next to a shim; for uv, `python3` on `PATH`.
fn interpreter_for(invocation: &Invocation, program: &Path, host: &HostEnv) -> Option<PathBuf> {
    if invocation.via_python {
        return Some(program.to_path_buf());
    }
    if invocation.tool == Tool::Pip {
        let script = std::fs::read(program).ok().map(|b| {
            let end = b.iter().position(|c| *c == b'\n').unwrap_or(b.len());
            String::from_utf8_lossy(&b[..end]).into_owned()
        });
        if let Some(python) = script
            .and_then(|s| install::shebang(&s, host.path_var()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python"))
            })
        {
            return Some(python);
        }
        // A shim (pyenv, asdf): the interpreter of the same version sits next to it.
        let name = program.file_name()?.to_str()?;
        let version = name.trim_start_matches("pip");
        let dir = program.parent()?;
        for candidate in [
            format!("python{version}"),
            "python3".into(),
            "python".into(),
        ] {
            let path = dir.join(candidate);
            if sandboxpm_sandbox::doctor::is_executable(&path) {
                return Some(path);
            }
        }
    }
    install::find_on_path("python3", host.path_var())
}

/// Grants a directory read-write when it is not too broad.
fn grant_write(preset: &mut Preset, host: &HostEnv, dir: &Path, why: &str, create: bool) {
    if !install::acceptable(dir, &host.homes) {
        preset.notes.push(format!(
            "{} ({why}) is too broad to grant; grant it with --allow-write if you mean it",
            dir.display()
        ));
        return;
    }
    preset.write.push(if create {
        PathGrant::created(dir, why)
    } else {
        PathGrant::new(dir, why)
    });
}

/// An index URL and where it was configured.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Index {
    url: String,
    from: String,
}

/// What the configuration says, before defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct IndexConfig {
    /// The default index, if one is configured (the last one set wins).
    index: Option<Index>,
    /// Extra indexes.
    extra: Vec<Index>,
    /// `find-links` entries (URLs or local directories).
    find_links: Vec<Index>,
    /// `cert`.
    cert: Option<String>,
    /// `trusted-host`.
    trusted_host: Option<String>,
    /// `cache-dir`.
    cache_dir: Option<String>,
    /// `no-cache-dir` / `UV_NO_CACHE`.
    no_cache: bool,
    /// `no-index`.
    no_index: bool,
}

impl IndexConfig {
    /// Applies one `key = value` of pip's configuration.
    fn set_pip(&mut self, key: &str, value: &str, from: &str) {
        let index = |url: &str| Index {
            url: url.to_string(),
            from: from.to_string(),
        };
        match key {
            "index-url" => self.index = Some(index(value.trim())),
            "extra-index-url" => self.extra = value.split_whitespace().map(index).collect(),
            "find-links" => self.find_links = value.split_whitespace().map(index).collect(),
            "cert" => self.cert = Some(value.trim().to_string()),
            "trusted-host" => self.trusted_host = Some(value.trim().to_string()),
            "cache-dir" => self.cache_dir = Some(value.trim().to_string()),
            "no-cache-dir" => self.no_cache = truthy(value),
            "no-index" => self.no_index = truthy(value),
            _ => {}
        }
    }
}

fn truthy(value: &str) -> bool {
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "false" | "no" | "off"
    )
}

/// pip's configuration files, lowest precedence first (pip's `get_configuration_files`).
fn pip_config_files(host: &HostEnv, site_prefix: Option<&Path>) -> Vec<PathBuf> {
    let env_file = host.var("PIP_CONFIG_FILE").map(PathBuf::from);
    if env_file.as_deref() == Some(Path::new("/dev/null")) {
        return Vec::new();
    }
    let mut files = Vec::new();
    for dir in host.var("XDG_CONFIG_DIRS").unwrap_or("/etc/xdg").split(':') {
        if dir.starts_with('/') {
            files.push(Path::new(dir).join("pip/pip.conf"));
        }
    }
    files.push(PathBuf::from("/etc/pip.conf"));
    files.extend(host.in_home(".pip/pip.conf"));
    files.extend(
        host.dir_var_or("XDG_CONFIG_HOME", ".config")
            .map(|d| d.join("pip/pip.conf")),
    );
    files.extend(site_prefix.map(|p| p.join("pip.conf")));
    files.extend(env_file);
    files
}

/// pip's effective configuration: files, then `PIP_*` variables.
fn pip_config(host: &HostEnv, site_prefix: Option<&Path>) -> IndexConfig {
    let mut config = IndexConfig::default();
    for file in pip_config_files(host, site_prefix) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let entries = ini_entries(&text);
        for section in ["global", "install"] {
            for e in entries.iter().filter(|e| e.section == section) {
                config.set_pip(&e.key, &e.value, &file.display().to_string());
            }
        }
    }
    for (var, key) in [
        ("PIP_INDEX_URL", "index-url"),
        ("PIP_EXTRA_INDEX_URL", "extra-index-url"),
        ("PIP_FIND_LINKS", "find-links"),
        ("PIP_CERT", "cert"),
        ("PIP_TRUSTED_HOST", "trusted-host"),
        ("PIP_CACHE_DIR", "cache-dir"),
        ("PIP_NO_CACHE_DIR", "no-cache-dir"),
        ("PIP_NO_INDEX", "no-index"),
    ] {
        if let Some(value) = host.var(var) {
            config.set_pip(key, value, var);
        }
    }
    config
}

/// uv's configuration: system and user `uv.toml` (which the sandbox cannot see, so they are
/// planted) and `UV_*` variables; the project's files are read for the allowlist only.
fn uv_config(host: &HostEnv) -> (IndexConfig, IndexConfig) {
    let mut carried = IndexConfig::default();
    let mut project = IndexConfig::default();
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    for dir in host.var("XDG_CONFIG_DIRS").unwrap_or("/etc/xdg").split(':') {
        if dir.starts_with('/') {
            files.push((Path::new(dir).join("uv/uv.toml"), false));
        }
    }
    files.push((PathBuf::from("/etc/uv/uv.toml"), false));
    files.extend(
        host.dir_var_or("XDG_CONFIG_HOME", ".config")
            .map(|d| (d.join("uv/uv.toml"), false)),
    );
    // The project: the nearest directory with a uv.toml or a pyproject.toml.
    if let Some(dir) = host
        .cwd
        .ancestors()
        .find(|d| d.join("uv.toml").is_file() || d.join("pyproject.toml").is_file())
    {
        for name in ["pyproject.toml", "uv.toml"] {
            files.push((dir.join(name), true));
        }
    }
    for (file, in_project) in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let is_pyproject = file.file_name().is_some_and(|n| n == "pyproject.toml");
        let target = if in_project {
            &mut project
        } else {
            &mut carried
        };
        apply_uv_toml(target, &text, is_pyproject, &file.display().to_string());
    }
    for (var, key) in [
        ("UV_INDEX_URL", "index-url"),
        ("UV_DEFAULT_INDEX", "index-url"),
        ("UV_INDEX", "extra-index-url"),
        ("UV_EXTRA_INDEX_URL", "extra-index-url"),
        ("UV_FIND_LINKS", "find-links"),
        ("UV_CACHE_DIR", "cache-dir"),
        ("UV_NO_CACHE", "no-cache-dir"),
    ] {
        let Some(value) = host.var(var) else { continue };
        // `UV_INDEX` entries may be `name=url`; lists are separated by spaces (commas for
        // find-links). Every list variable adds to what the files say: uv uses them all.
        let items: Vec<Index> = value
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once('=') {
                Some((name, url)) if !name.contains(':') => url,
                _ => s,
            })
            .map(|url| Index {
                url: url.to_string(),
                from: var.to_string(),
            })
            .collect();
        match key {
            "extra-index-url" => carried.extra.extend(items),
            "find-links" => carried.find_links.extend(items),
            "index-url" => carried.index = items.into_iter().last(),
            _ => carried.set_pip(key, value, var),
        }
    }
    (carried, project)
}

fn apply_uv_toml(config: &mut IndexConfig, text: &str, pyproject: bool, from: &str) {
    let prefix = if pyproject { "tool.uv" } else { "" };
    let under = |table: &str, rel: &str| {
        let full = match (prefix.is_empty(), rel.is_empty()) {
            (true, _) => rel.to_string(),
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{rel}"),
        };
        table == full
    };
    for entry in toml_entries(text) {
        let settings = under(&entry.table, "") || under(&entry.table, "pip");
        let index_table = under(&entry.table, "index");
        let add = |list: &mut Vec<Index>| {
            list.extend(entry.strings.iter().map(|url| Index {
                url: url.clone(),
                from: from.to_string(),
            }))
        };
        match entry.key.as_str() {
            "index-url" if settings => {
                config.index = entry.strings.first().map(|url| Index {
                    url: url.clone(),
                    from: from.to_string(),
                });
            }
            "extra-index-url" if settings => add(&mut config.extra),
            "find-links" if settings => add(&mut config.find_links),
            "cache-dir" if settings && !pyproject => {
                config.cache_dir = entry.strings.first().cloned();
            }
            "url" if index_table => add(&mut config.extra),
            // `default = true` in an index table: the PyPI default is replaced.
            "default" if index_table && entry.is_true => {
                config.index = config.extra.last().cloned();
            }
            _ => {}
        }
    }
}

/// Index options in requirement files (`-i`, `--extra-index-url`, `-f`, `--no-index`, nested
/// `-r`), read like the command line, at most a few levels and files deep.
fn requirement_options(args: &mut PythonArgs, host: &HostEnv) {
    let mut queue: Vec<(PathBuf, usize)> = args
        .requirement_files
        .iter()
        .map(|f| (host.cwd.join(f), 0))
        .collect();
    let mut read = 0;
    while let Some((file, depth)) = queue.pop() {
        read += 1;
        if read > 32 || depth > 4 {
            break;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        for line in text.lines() {
            let line = line.split(" #").next().unwrap_or_default().trim();
            if !line.starts_with('-') {
                continue;
            }
            let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            let found = python_args(&words);
            args.index_urls.extend(found.index_urls);
            args.extra_index_urls.extend(found.extra_index_urls);
            args.find_links.extend(found.find_links);
            args.no_index |= found.no_index;
            queue.extend(
                found
                    .requirement_files
                    .into_iter()
                    .map(|f| (dir.join(f), depth + 1)),
            );
        }
    }
}

/// Everything else, once the probe has answered.
pub fn complete(preset: &mut Preset, invocation: &Invocation, host: &HostEnv, answers: &Answers) {
    let tool = invocation.tool;
    let mut args = python_args(&invocation.args);
    requirement_options(&mut args, host);
    let facts: Option<PythonFacts> = answers
        .get("python")
        .and_then(|text| text.lines().last())
        .and_then(|line| serde_json::from_str(line).ok());
    if answers.contains_key("python") && facts.is_none() {
        preset
            .notes
            .push("the interpreter did not say where it is installed".to_string());
    }

    // The interpreter's installation and, for pip, its virtualenv.
    if let Some(facts) = &facts {
        for dir in [&facts.base_prefix, &facts.base_exec_prefix] {
            if dir.is_dir() && install::acceptable(dir, &host.homes) {
                preset
                    .read
                    .push(PathGrant::new(dir, "the interpreter's installation"));
            }
        }
        for dir in &facts.path {
            if dir.exists() && !dir.starts_with(&host.cwd) && install::acceptable(dir, &host.homes)
            {
                preset
                    .read
                    .push(PathGrant::new(dir, "on the interpreter's module path"));
            }
        }
        let in_venv =
            facts.prefix != facts.base_prefix || facts.exec_prefix != facts.base_exec_prefix;
        if tool == Tool::Pip && in_venv && facts.prefix.is_dir() {
            grant_write(
                preset,
                host,
                &facts.prefix,
                "the virtualenv pip installs into",
                false,
            );
        }
        if facts.index.is_none()
            && let Some(error) = &facts.pip_error
        {
            preset.notes.push(format!(
                "pip could not be imported to learn its default index ({error})"
            ));
        }
    }

    // Where the install goes.
    for (flag, dir) in &args.destinations {
        let dir = normalize(&host.cwd.join(dir));
        grant_write(preset, host, &dir, &format!("{flag} of the command"), true);
    }
    if args.user {
        preset.notes.push(
            "--user installs into ~/.local, which the preset does not make writable: use a \
             virtualenv or --target"
                .to_string(),
        );
    }

    // Configuration.
    let site = facts
        .as_ref()
        .map(|f| f.prefix.clone())
        .or_else(|| host.var("VIRTUAL_ENV").map(PathBuf::from));
    let (carried, project) = match tool {
        Tool::Pip => (pip_config(host, site.as_deref()), IndexConfig::default()),
        _ => uv_config(host),
    };

    // Cache.
    let no_cache = args.no_cache || carried.no_cache;
    let cache = if no_cache {
        None
    } else {
        args.cache_dir
            .as_ref()
            .map(|d| (normalize(&host.cwd.join(d)), "--cache-dir of the command"))
            .or_else(|| {
                carried
                    .cache_dir
                    .as_deref()
                    .or(project.cache_dir.as_deref())
                    .map(|d| (host.expand(d), "cache-dir in the configuration"))
            })
            .or_else(|| {
                answers
                    .get("uv-cache")
                    .and_then(|s| s.lines().last())
                    .filter(|s| s.starts_with('/'))
                    .map(|s| (PathBuf::from(s), "uv's cache (uv cache dir)"))
            })
            .or_else(|| {
                host.dir_var_or("XDG_CACHE_HOME", ".cache")
                    .map(|d| (d.join(tool.name()), "the tool's cache"))
            })
    };
    if let Some((dir, why)) = &cache {
        grant_write(preset, host, dir, why, true);
    }

    // Indexes.
    let pypi = facts.as_ref().and_then(|f| f.index.clone());
    let files_host = facts.as_ref().and_then(|f| f.files.clone());
    let mut indexes: Vec<(Index, &str)> = Vec::new();
    let configured_default = args
        .index_urls
        .last()
        .map(|url| Index {
            url: url.clone(),
            from: "the command line".into(),
        })
        .or_else(|| carried.index.clone())
        .or_else(|| project.index.clone());
    let no_index = args.no_index || carried.no_index;
    if !no_index {
        match (&configured_default, &pypi) {
            (Some(index), _) => indexes.push((index.clone(), "index")),
            (None, Some(url)) => indexes.push((
                Index {
                    url: url.clone(),
                    from: "pip's default, PyPI.url".into(),
                },
                "index",
            )),
            (None, None) => preset.notes.push(
                "the default index is unknown (pip could not be asked): add it with --allow-net"
                    .to_string(),
            ),
        }
        for url in &args.extra_index_urls {
            indexes.push((
                Index {
                    url: url.clone(),
                    from: "the command line".into(),
                },
                "extra index",
            ));
        }
        for index in carried.extra.iter().chain(&project.extra) {
            indexes.push((index.clone(), "extra index"));
        }
    }
    let find_links: Vec<Index> = args
        .find_links
        .iter()
        .map(|url| Index {
            url: url.clone(),
            from: "the command line".into(),
        })
        .chain(carried.find_links.iter().cloned())
        .chain(project.find_links.iter().cloned())
        .collect();
    for (index, what) in &indexes {
        preset.allow_url(&index.url, format!("{what}: {}", index.from));
        if has_credentials(&index.url) {
            preset.notes.push(format!(
                "{}: the user name and password in the URL are not passed to the sandbox",
                strip_credentials(&index.url)
            ));
        }
    }
    for link in &find_links {
        if host_entry(&link.url).is_some() {
            preset.allow_url(&link.url, format!("find-links: {}", link.from));
        } else if link.url.starts_with('/') && Path::new(&link.url).is_dir() {
            preset.read.push(PathGrant::new(
                Path::new(&link.url),
                format!("find-links ({})", link.from),
            ));
        }
    }
    // The files of the default index are served from another host.
    let pypi_host = pypi.as_deref().and_then(host_entry);
    if let Some(files) = files_host
        && indexes
            .iter()
            .any(|(i, _)| host_entry(&i.url).is_some_and(|h| Some(h) == pypi_host))
    {
        preset.allow_url(
            &format!("https://{files}/"),
            "files of the default index: PyPI.file_storage_domain",
        );
    }
    if indexes.iter().any(|(i, _)| host_entry(&i.url) != pypi_host) {
        preset.notes.push(
            "an index may serve its files from other hosts; add them with --allow-net".to_string(),
        );
    }

    // The carried configuration, planted in the private home.
    let cert = carried
        .cert
        .as_deref()
        .map(|c| host.expand(c))
        .filter(|c| c.exists());
    if let Some(cert) = &cert {
        preset
            .read
            .push(PathGrant::new(cert, "cert in the pip configuration"));
    }
    let carried_links: Vec<String> = carried
        .find_links
        .iter()
        .filter(|l| host_entry(&l.url).is_some() || Path::new(&l.url).is_dir())
        .map(|l| strip_credentials_or_path(&l.url))
        .collect();
    let file = match tool {
        Tool::Pip => HomeFile {
            path: ".config/pip/pip.conf".into(),
            content: pip_conf(
                &carried,
                &carried_links,
                cert.as_deref(),
                cache.as_ref().map(|(d, _)| d.as_path()),
                no_cache,
            ),
            why: "indexes, cache and TLS settings of the pip configuration, no credentials".into(),
        },
        _ => HomeFile {
            path: ".config/uv/uv.toml".into(),
            content: uv_toml(
                &carried,
                &carried_links,
                cache.as_ref().map(|(d, _)| d.as_path()),
            ),
            why: "indexes and cache of the user and system uv configuration, no credentials".into(),
        },
    };
    preset.home_files.push(file);
}

fn strip_credentials_or_path(entry: &str) -> String {
    if entry.starts_with('/') {
        entry.to_string()
    } else {
        strip_credentials(entry)
    }
}

/// Lexically removes `.` and `..`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
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

fn clean(value: &str) -> Option<String> {
    (!value.contains(['\n', '\r'])).then(|| value.to_string())
}

/// The planted `pip.conf`.
fn pip_conf(
    config: &IndexConfig,
    find_links: &[String],
    cert: Option<&Path>,
    cache: Option<&Path>,
    no_cache: bool,
) -> String {
    let mut lines = vec![
        "# written by sandboxpm: no credentials enter the sandbox".to_string(),
        "[global]".to_string(),
    ];
    let mut push = |key: &str, value: Option<String>| {
        if let Some(value) = value.as_deref().and_then(clean) {
            lines.push(format!("{key} = {value}"));
        }
    };
    push(
        "index-url",
        config.index.as_ref().and_then(|i| sanitized_url(&i.url)),
    );
    let extra: Vec<String> = config
        .extra
        .iter()
        .filter_map(|i| sanitized_url(&i.url))
        .collect();
    if !extra.is_empty() {
        push("extra-index-url", Some(extra.join(" ")));
    }
    if !find_links.is_empty() {
        push("find-links", Some(find_links.join(" ")));
    }
    push("cert", cert.map(|c| c.to_string_lossy().into_owned()));
    push("trusted-host", config.trusted_host.clone());
    if no_cache {
        push("no-cache-dir", Some("true".into()));
    } else {
        push("cache-dir", cache.map(|c| c.to_string_lossy().into_owned()));
    }
    if config.no_index {
        push("no-index", Some("true".into()));
    }
    lines.join("\n") + "\n"
}

/// The planted `uv.toml`.
fn uv_toml(config: &IndexConfig, find_links: &[String], cache: Option<&Path>) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace(['"', '\\', '\n', '\r'], ""));
    let list = |items: Vec<String>| {
        let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut lines = vec!["# written by sandboxpm: no credentials enter the sandbox".to_string()];
    if let Some(index) = config.index.as_ref().and_then(|i| sanitized_url(&i.url)) {
        lines.push(format!("index-url = {}", quote(&index)));
    }
    let extra: Vec<String> = config
        .extra
        .iter()
        .filter_map(|i| sanitized_url(&i.url))
        .collect();
    if !extra.is_empty() {
        lines.push(format!("extra-index-url = {}", list(extra)));
    }
    if !find_links.is_empty() {
        lines.push(format!("find-links = {}", list(find_links.to_vec())));
    }
    if let Some(cache) = cache {
        lines.push(format!("cache-dir = {}", quote(&cache.to_string_lossy())));
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeMap;

    fn host(dir: &Path, env: &[(&str, &str)]) -> HostEnv {
        HostEnv {
            cwd: dir.join("project"),
            home: Some(dir.join("home")),
            homes: vec![dir.join("home")],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn pip_config_layers_install_over_global_and_env_last() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("home/.config/pip")).unwrap();
        std::fs::create_dir_all(root.join("venv")).unwrap();
        std::fs::write(
            root.join("home/.config/pip/pip.conf"),
            "[global]\nindex-url = https://u:SECRET@user.invalid/simple\ncert = /c.pem\n[install]\nextra-index-url = https://extra.invalid/simple\n",
        )
        .unwrap();
        std::fs::write(
            root.join("venv/pip.conf"),
            "[install]\nindex-url = https://site.invalid/simple\n",
        )
        .unwrap();
        let h = host(
            root,
            &[
                ("XDG_CONFIG_DIRS", "/nonexistent"),
                ("PIP_CACHE_DIR", "/pip-cache"),
            ],
        );
        let config = pip_config(&h, Some(&root.join("venv")));
        assert_eq!(config.index.unwrap().url, "https://site.invalid/simple");
        assert_eq!(config.extra[0].url, "https://extra.invalid/simple");
        assert_eq!(config.cert.as_deref(), Some("/c.pem"));
        assert_eq!(config.cache_dir.as_deref(), Some("/pip-cache"));

        let h = host(root, &[("PIP_CONFIG_FILE", "/dev/null")]);
        assert_eq!(pip_config(&h, None), IndexConfig::default());
    }

    #[test]
    fn uv_config_separates_what_must_be_carried_from_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("home/.config/uv")).unwrap();
        std::fs::create_dir_all(root.join("project")).unwrap();
        std::fs::write(
            root.join("home/.config/uv/uv.toml"),
            "index-url = \"https://user.invalid/simple\"\ncache-dir = \"/uv-cache\"\n",
        )
        .unwrap();
        std::fs::write(
            root.join("project/pyproject.toml"),
            "[project]\nname = \"x\"\n[[tool.uv.index]]\nname = \"corp\"\nurl = \"https://corp.invalid/simple\"\ndefault = true\n",
        )
        .unwrap();
        let h = host(
            root,
            &[
                ("XDG_CONFIG_DIRS", "/nonexistent"),
                ("UV_INDEX", "other=https://env.invalid/simple"),
                ("UV_EXTRA_INDEX_URL", "https://env2.invalid/simple"),
            ],
        );
        let (carried, project) = uv_config(&h);
        assert_eq!(carried.index.unwrap().url, "https://user.invalid/simple");
        let extra: Vec<&str> = carried.extra.iter().map(|i| i.url.as_str()).collect();
        assert_eq!(
            extra,
            vec!["https://env.invalid/simple", "https://env2.invalid/simple"]
        );
        assert_eq!(carried.cache_dir.as_deref(), Some("/uv-cache"));
        assert_eq!(project.index.unwrap().url, "https://corp.invalid/simple");
    }

    #[test]
    fn requirement_files_may_name_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("req")).unwrap();
        std::fs::write(
            project.join("req/base.txt"),
            "--extra-index-url https://extra.invalid/simple\nsix\n-r more.txt\n",
        )
        .unwrap();
        std::fs::write(
            project.join("req/more.txt"),
            "-i https://main.invalid/simple\n",
        )
        .unwrap();
        let h = host(dir.path(), &[]);
        let mut args = python_args(&["install".into(), "-r".into(), "req/base.txt".into()]);
        requirement_options(&mut args, &h);
        assert_eq!(args.extra_index_urls, vec!["https://extra.invalid/simple"]);
        assert_eq!(args.index_urls, vec!["https://main.invalid/simple"]);
    }

    #[test]
    fn planted_pip_conf_has_no_credentials() {
        let config = IndexConfig {
            index: Some(Index {
                url: "https://u:SECRET@i.invalid/simple".into(),
                from: "t".into(),
            }),
            extra: vec![
                Index {
                    url: "https://TOKEN@e.invalid/simple".into(),
                    from: "t".into(),
                },
                Index {
                    url: "not a url".into(),
                    from: "t".into(),
                },
            ],
            trusted_host: Some("i.invalid\nclient-cert = /k".into()),
            ..IndexConfig::default()
        };
        let text = pip_conf(
            &config,
            &["/srv/wheels".to_string()],
            Some(Path::new("/c.pem")),
            Some(Path::new("/h/.cache/pip")),
            false,
        );
        assert_eq!(
            text,
            "# written by sandboxpm: no credentials enter the sandbox\n[global]\n\
             index-url = https://i.invalid/simple\n\
             extra-index-url = https://e.invalid/simple\n\
             find-links = /srv/wheels\n\
             cert = /c.pem\n\
             cache-dir = /h/.cache/pip\n"
        );
        let toml = uv_toml(&config, &[], Some(Path::new("/h/.cache/uv")));
        assert_eq!(
            toml,
            "# written by sandboxpm: no credentials enter the sandbox\n\
             index-url = \"https://i.invalid/simple\"\n\
             extra-index-url = [\"https://e.invalid/simple\"]\n\
             cache-dir = \"/h/.cache/uv\"\n"
        );
    }
}
