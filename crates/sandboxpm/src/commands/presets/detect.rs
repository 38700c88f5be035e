//! Which package manager a command line runs, and what its own arguments say about where it
//! writes and which registries or indexes it uses. Pure functions of the argument list.
//!
//! The tool is recognised by the file name of `argv[0]` (`npm`, `/usr/bin/pip3`, `python3.12 -m
//! pip`), never by what the program turns out to be: a preset only ever adds what that tool
//! needs, so a misnamed program gains nothing it could not get from the flags.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A package manager with a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// npm.
    Npm,
    /// pnpm.
    Pnpm,
    /// yarn (classic or berry).
    Yarn,
    /// bun.
    Bun,
    /// pip, pip3, pipX.Y, `python -m pip`.
    Pip,
    /// uv.
    Uv,
}

impl Tool {
    /// The name shown to the user.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Npm => "npm",
            Tool::Pnpm => "pnpm",
            Tool::Yarn => "yarn",
            Tool::Bun => "bun",
            Tool::Pip => "pip",
            Tool::Uv => "uv",
        }
    }

    /// Whether the tool installs npm packages (and reads `.npmrc`).
    pub fn is_node(self) -> bool {
        matches!(self, Tool::Npm | Tool::Pnpm | Tool::Yarn | Tool::Bun)
    }
}

/// A recognised command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The tool.
    pub tool: Tool,
    /// The tool's own arguments: after the program name, or after `python -m pip`.
    pub args: Vec<String>,
    /// `python -m pip`: the program is the interpreter.
    pub via_python: bool,
}

/// Recognises the tool `argv` runs, if it has a preset.
pub fn detect(argv: &[OsString]) -> Option<Invocation> {
    let first = argv.first()?;
    let name = Path::new(first).file_name()?.to_str()?;
    let args: Vec<String> = argv[1..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let tool = match name {
        "npm" => Tool::Npm,
        "pnpm" => Tool::Pnpm,
        "yarn" | "yarnpkg" => Tool::Yarn,
        "bun" => Tool::Bun,
        "uv" => Tool::Uv,
        _ if versioned(name, "pip") => Tool::Pip,
        _ if versioned(name, "python") => {
            let rest = python_module_args(&args, "pip")?;
            return Some(Invocation {
                tool: Tool::Pip,
                args: rest,
                via_python: true,
            });
        }
        _ => return None,
    };
    Some(Invocation {
        tool,
        args,
        via_python: false,
    })
}

/// `pip`, `pip3`, `pip3.12` (and the same for `python`).
fn versioned(name: &str, stem: &str) -> bool {
    name.strip_prefix(stem)
        .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// The arguments after `-m MODULE` when the interpreter's options lead to it; `None` when the
/// command runs a script, `-c`, or another module.
fn python_module_args(args: &[String], module: &str) -> Option<Vec<String>> {
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if !arg.starts_with('-') || arg == "-" || arg == "-c" || arg.starts_with("--") {
            // A script, stdin, a command string, or a long option python does not take before
            // -m in practice (`--version`, `--help`): not a module run.
            return None;
        }
        let flags = &arg[1..];
        if let Some(pos) = flags.find(['m', 'c', 'X', 'W']) {
            let (letter, rest) = (flags.as_bytes()[pos], &flags[pos + 1..]);
            let (value, next) = if rest.is_empty() {
                (args.get(i + 1)?.as_str(), i + 2)
            } else {
                (rest, i + 1)
            };
            match letter {
                b'm' => {
                    return (value == module).then(|| args[next..].to_vec());
                }
                b'c' => return None,
                // -X opt / -W arg take a value.
                _ => i = next,
            }
            continue;
        }
        i += 1;
    }
    None
}

/// What pip's or uv's arguments say about destinations and indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PythonArgs {
    /// `--target`, `-t`, `--prefix`, `--root`: directories the install writes into, as written.
    pub destinations: Vec<(String, PathBuf)>,
    /// `--index-url`, `-i`, `--default-index`, `--index` (uv's `name=url` allowed).
    pub index_urls: Vec<String>,
    /// `--extra-index-url`.
    pub extra_index_urls: Vec<String>,
    /// `--find-links`, `-f`.
    pub find_links: Vec<String>,
    /// `--cache-dir`.
    pub cache_dir: Option<PathBuf>,
    /// `--no-cache-dir`, `--no-cache`, `-n`.
    pub no_cache: bool,
    /// `--no-index`.
    pub no_index: bool,
    /// `--user`.
    pub user: bool,
    /// `-r`, `--requirement`, `-c`, `--constraint`: files that may hold index options too.
    pub requirement_files: Vec<PathBuf>,
}

/// Options that take a value, and what they mean.
const VALUE_OPTIONS: &[(&str, Opt)] = &[
    ("--target", Opt::Destination),
    ("-t", Opt::Destination),
    ("--prefix", Opt::Destination),
    ("--root", Opt::Destination),
    ("--index-url", Opt::Index),
    ("-i", Opt::Index),
    ("--default-index", Opt::Index),
    ("--index", Opt::Index),
    ("--extra-index-url", Opt::Extra),
    ("--find-links", Opt::FindLinks),
    ("-f", Opt::FindLinks),
    ("--cache-dir", Opt::Cache),
    ("--requirement", Opt::Requirements),
    ("-r", Opt::Requirements),
    ("--constraint", Opt::Requirements),
    ("-c", Opt::Requirements),
];

#[derive(Debug, Clone, Copy)]
enum Opt {
    Destination,
    Index,
    Extra,
    FindLinks,
    Cache,
    Requirements,
}

/// Reads pip's or uv's arguments (`--opt value`, `--opt=value`, `-tDIR`).
pub fn python_args(args: &[String]) -> PythonArgs {
    let mut out = PythonArgs::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if arg == "--" {
            break;
        }
        match arg {
            "--no-cache-dir" | "--no-cache" | "-n" => out.no_cache = true,
            "--no-index" => out.no_index = true,
            "--user" => out.user = true,
            _ => {}
        }
        let Some((opt, name, value, consumed_next)) =
            split_value_option(arg, args.get(i).map(String::as_str))
        else {
            continue;
        };
        let Some(value) = value else { continue };
        if consumed_next {
            i += 1;
        }
        let value = value.to_string();
        match opt {
            Opt::Destination => out.destinations.push((name.to_string(), value.into())),
            Opt::Index => {
                // uv's `--index name=url`.
                let url = match value.split_once('=') {
                    Some((name, url)) if !name.contains(':') => url.to_string(),
                    _ => value,
                };
                out.index_urls.push(url);
            }
            Opt::Extra => out.extra_index_urls.push(value),
            Opt::FindLinks => out.find_links.push(value),
            Opt::Cache => out.cache_dir = Some(value.into()),
            Opt::Requirements => out.requirement_files.push(value.into()),
        }
    }
    out
}

/// Matches `--opt`, `--opt=value` and `-xVALUE` against [`VALUE_OPTIONS`]: the option, its
/// canonical name, its value, and whether the value is the next argument.
fn split_value_option<'a>(
    arg: &'a str,
    next: Option<&'a str>,
) -> Option<(Opt, &'static str, Option<&'a str>, bool)> {
    for (name, opt) in VALUE_OPTIONS {
        if arg == *name {
            return Some((*opt, name, next, true));
        }
        if name.starts_with("--") {
            if let Some(value) = arg.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                return Some((*opt, name, Some(value), false));
            }
        } else if !arg.starts_with("--")
            && let Some(value) = arg.strip_prefix(name).filter(|v| !v.is_empty())
        {
            return Some((*opt, name, Some(value.trim_start_matches('=')), false));
        }
    }
    None
}

/// The npm configuration keys a node tool's command line may set (`--registry URL`,
/// `--cache=DIR`, `--@scope:registry=URL`), as `(key, value)` pairs for the config loader.
pub fn npm_cli_config(args: &[String]) -> Vec<(String, String)> {
    const KEYS: &[&str] = &[
        "registry",
        "cache",
        "cache-dir",
        "store-dir",
        "cafile",
        "userconfig",
        "globalconfig",
    ];
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(body) = arg.strip_prefix("--") else {
            continue;
        };
        let (key, inline) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (body, None),
        };
        let scoped = key.starts_with('@') && key.ends_with(":registry");
        if !scoped && !KEYS.contains(&key) {
            continue;
        }
        let value = match inline {
            Some(v) => v.to_string(),
            None => match args.get(i) {
                Some(v) if !v.starts_with("--") => {
                    i += 1;
                    v.clone()
                }
                _ => continue,
            },
        };
        out.push((key.to_string(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tools_are_recognised_by_program_name() {
        for (cmd, tool) in [
            ("npm", Tool::Npm),
            ("/usr/bin/npm", Tool::Npm),
            ("pnpm", Tool::Pnpm),
            ("yarn", Tool::Yarn),
            ("bun", Tool::Bun),
            ("pip", Tool::Pip),
            ("pip3", Tool::Pip),
            ("/opt/venv/bin/pip3.12", Tool::Pip),
            ("uv", Tool::Uv),
        ] {
            let inv = detect(&argv(&[cmd, "install"])).unwrap();
            assert_eq!(inv.tool, tool, "{cmd}");
            assert_eq!(inv.args, strings(&["install"]));
            assert!(!inv.via_python);
        }
        for cmd in ["node", "npx", "pipx", "pip-audit", "python3", "sh", "uvx"] {
            assert_eq!(detect(&argv(&[cmd, "install"])), None, "{cmd}");
        }
    }

    #[test]
    fn python_dash_m_pip_is_pip() {
        for words in [
            &["python3", "-m", "pip", "install", "six"][..],
            &["python", "-mpip", "install", "six"],
            &["/usr/bin/python3.11", "-I", "-m", "pip", "install", "six"],
            &["python3", "-Im", "pip", "install", "six"],
            &["python3", "-X", "utf8", "-m", "pip", "install", "six"],
        ] {
            let inv = detect(&argv(words)).unwrap();
            assert_eq!(inv.tool, Tool::Pip, "{words:?}");
            assert!(inv.via_python);
            assert_eq!(inv.args, strings(&["install", "six"]), "{words:?}");
        }
        for words in [
            &["python3", "-m", "venv", ".venv"][..],
            &["python3", "script.py", "-m", "pip"],
            &["python3", "-c", "import pip"],
            &["python3", "-m"],
            &["python3"],
        ] {
            assert_eq!(detect(&argv(words)), None, "{words:?}");
        }
    }

    #[test]
    fn pip_arguments_name_destinations_and_indexes() {
        let args = python_args(&strings(&[
            "install",
            "--target",
            "out",
            "-tother",
            "--prefix=/opt/p",
            "-i",
            "https://index.invalid/simple",
            "--extra-index-url=https://extra.invalid/simple",
            "-f",
            "https://links.invalid/",
            "--cache-dir",
            "/c",
            "-r",
            "req.txt",
            "--no-index",
            "six",
        ]));
        assert_eq!(
            args.destinations,
            vec![
                ("--target".to_string(), PathBuf::from("out")),
                ("-t".to_string(), PathBuf::from("other")),
                ("--prefix".to_string(), PathBuf::from("/opt/p")),
            ]
        );
        assert_eq!(args.index_urls, strings(&["https://index.invalid/simple"]));
        assert_eq!(
            args.extra_index_urls,
            strings(&["https://extra.invalid/simple"])
        );
        assert_eq!(args.find_links, strings(&["https://links.invalid/"]));
        assert_eq!(args.cache_dir, Some(PathBuf::from("/c")));
        assert_eq!(args.requirement_files, vec![PathBuf::from("req.txt")]);
        assert!(args.no_index);
        assert!(!args.no_cache && !args.user);
    }

    #[test]
    fn uv_named_indexes_keep_only_the_url() {
        let args = python_args(&strings(&[
            "pip",
            "install",
            "--index",
            "internal=https://index.invalid/simple",
            "--default-index=https://default.invalid/simple",
            "--no-cache",
        ]));
        assert_eq!(
            args.index_urls,
            strings(&[
                "https://index.invalid/simple",
                "https://default.invalid/simple"
            ])
        );
        assert!(args.no_cache);
    }

    #[test]
    fn a_trailing_option_without_value_is_ignored() {
        let args = python_args(&strings(&["install", "--target"]));
        assert!(args.destinations.is_empty());
    }

    #[test]
    fn npm_command_line_config_is_picked_up() {
        let pairs = npm_cli_config(&strings(&[
            "install",
            "--registry",
            "https://r.invalid/",
            "--@acme:registry=https://acme.invalid/",
            "--cache=/c",
            "--save-dev",
            "left-pad",
        ]));
        assert_eq!(
            pairs,
            vec![
                ("registry".to_string(), "https://r.invalid/".to_string()),
                (
                    "@acme:registry".to_string(),
                    "https://acme.invalid/".to_string()
                ),
                ("cache".to_string(), "/c".to_string()),
            ]
        );
    }
}
