//! The command-line interface, as clap types.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// sandboxpm: install and run package code without handing it your machine.
#[derive(Debug, Parser)]
#[command(name = "sandboxpm", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install the dependencies of package.json into node_modules.
    #[command(alias = "i")]
    Install(InstallArgs),
    /// Add packages to package.json and install them.
    ///
    /// Each SPEC is `name`, `name@range`, `name@version`, `name@tag`, `@scope/name@…` or
    /// `alias@npm:name@…`. A bare name or a tag is resolved from the registry (`latest` by
    /// default) and saved as `^<version>`, like an exact version; a range is saved as written;
    /// `--save-exact` saves the resolved version in every case. The package leaves the other
    /// dependency sections. If the install fails, package.json and sandboxpm-lock.json are put back
    /// byte for byte.
    Add(AddArgs),
    /// Remove packages from package.json (every dependency section) and from node_modules.
    ///
    /// Nothing changes if a NAME is not a dependency. If the install fails, package.json and
    /// sandboxpm-lock.json are put back byte for byte.
    #[command(visible_alias = "rm", alias = "uninstall")]
    Remove(RemoveArgs),
    /// List install scripts and decide which may run (written to the project's .sandboxpmrc).
    Scripts {
        #[command(subcommand)]
        command: ScriptsCommand,
    },
    /// Inspect and look after the package store shared by every project.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Run a command inside the sandbox.
    ///
    /// By default the command sees the system directories and the tools on PATH (read-only), the
    /// current directory (read-write, minus .env files, .git/hooks and .git/config), an empty HOME
    /// and /tmp, no network, and a minimal environment.
    ///
    /// When CMD is npm, pnpm, yarn, bun, pip (or `python -m pip`) or uv, the tool's preset adds
    /// what it needs: its cache read-write, its installation readable, the registries or indexes
    /// of its own configuration through the filtering proxy, and that configuration without
    /// credentials in the private HOME. `--no-preset` turns it off; `policy show -- CMD` prints it.
    Exec(ExecArgs),
    /// Report which isolation this machine can give, and why.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect sandbox policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Internal: run a resolved sandbox request written by a multi-threaded sandboxpm process.
    #[command(name = "sandbox-helper", hide = true)]
    SandboxHelper {
        /// The request file (read, then deleted).
        #[arg(long, required_unless_present = "serve", conflicts_with = "serve")]
        request: Option<PathBuf>,
        /// Serve requests from the socket on standard input, forking for each (the zygote).
        #[arg(long)]
        serve: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the effective policy for a command and its translation for the native backend.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sandbox: SandboxArgs,
        /// The command the policy is for (optional).
        #[arg(last = true)]
        command: Vec<OsString>,
    },
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// Print the backend chosen and why, and the preset applied.
    #[arg(short, long)]
    pub verbose: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Flags that shape the policy, shared by `exec` and `policy show`.
#[derive(Debug, Args, Default)]
pub struct SandboxArgs {
    /// Grant read access to PATH (repeatable).
    #[arg(long = "allow-read", value_name = "PATH")]
    pub allow_read: Vec<PathBuf>,
    /// Grant read-write access to PATH (repeatable).
    #[arg(long = "allow-write", value_name = "PATH")]
    pub allow_write: Vec<PathBuf>,
    /// Hide PATH even if a grant covers it (repeatable; globs allowed).
    #[arg(long = "deny-read", value_name = "PATH")]
    pub deny_read: Vec<String>,
    /// Make PATH read-only even if a grant covers it (repeatable; globs allowed).
    #[arg(long = "deny-write", value_name = "PATH")]
    pub deny_write: Vec<String>,
    /// Allow network access to HOST[:PORT] (repeatable).
    #[arg(long = "allow-net", value_name = "HOST")]
    pub allow_net: Vec<String>,
    /// Network mode.
    #[arg(long, value_enum)]
    pub net: Option<NetMode>,
    /// Pass the environment variable NAME through (repeatable).
    #[arg(long = "env", value_name = "NAME")]
    pub env: Vec<String>,
    /// Kill the command and everything it started after SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Isolation backend.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Do not apply the preset of a known package manager (npm, pnpm, yarn, bun, pip, uv): the
    /// command gets the plain defaults.
    #[arg(long)]
    pub no_preset: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum NetMode {
    /// Loopback only.
    None,
    /// The host's network, unrestricted.
    Host,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum BackendArg {
    /// The strongest backend available here.
    #[default]
    Auto,
    /// Namespaces + Landlock + seccomp.
    Native,
    /// Landlock + seccomp only (for machines without user namespaces).
    Landlock,
    /// bubblewrap with the same mount plan and seccomp program.
    Bwrap,
    /// A Docker container (Engine API), built locally from the host's system directories.
    Docker,
    /// macOS sandbox-exec with a generated Seatbelt profile.
    Seatbelt,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Fail instead of updating sandboxpm-lock.json when it disagrees with package.json.
    #[arg(long)]
    pub frozen_lockfile: bool,
    /// Use only cached metadata and the store; never touch the network.
    #[arg(long, conflicts_with = "prefer_offline")]
    pub offline: bool,
    /// Use cached metadata without revalidating it.
    #[arg(long)]
    pub prefer_offline: bool,
    /// Skip devDependencies.
    #[arg(long = "prod", alias = "production")]
    pub prod: bool,
    /// Omit a dependency type (`dev`), like npm's `--omit=dev`.
    #[arg(long, value_name = "TYPE")]
    pub omit: Vec<String>,
    /// Do not run install scripts (they are never run silently; this release does not run them).
    #[arg(long)]
    pub ignore_scripts: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long)]
    pub silent: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The packages to add.
    #[arg(required = true, value_name = "SPEC")]
    pub specs: Vec<String>,
    /// Save to devDependencies.
    #[arg(short = 'D', long, conflicts_with = "save_optional")]
    pub save_dev: bool,
    /// Save to optionalDependencies.
    #[arg(short = 'O', long)]
    pub save_optional: bool,
    /// Save the exact version instead of a `^` range.
    #[arg(short = 'E', long)]
    pub save_exact: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The dependencies to remove.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Print the store directory (the versioned directory holding `files/` and `index/`).
    Path,
    /// Count the packages and files in the store, and their bytes.
    Status,
    /// Re-hash every file and re-read every package index; exit 1 if anything is broken.
    ///
    /// Reports corrupt files (content that no longer matches its hash), files a package index
    /// needs but the store lacks, and damaged indexes, each by path. Files that are not store
    /// entries are listed and left alone.
    Verify {
        /// Remove the corrupt files, the damaged indexes and every index that needs a corrupt or
        /// missing file, so the next install downloads those packages again; exit 0 once done.
        #[arg(long)]
        repair: bool,
    },
    /// Remove the packages and files that no kept project references.
    ///
    /// sandboxpm keeps no list of the projects that use the store, so you say which to keep:
    /// the current project (the nearest directory with a package.json) and every
    /// `--keep-project DIR`. A kept project's packages are those its sandboxpm-lock.json and its
    /// node_modules/.sandboxpm/lock.json refer to; everything else in the store (package indexes,
    /// the files only they use, leftovers of interrupted work) is removed. Without a current
    /// project and without `--keep-project`, prune refuses to run, rather than empty the store.
    /// Installed projects keep working (their files are hard links); a removed package is
    /// downloaded again the next time a project installs it.
    Prune {
        /// Also keep the packages of the project in DIR (repeatable).
        #[arg(long = "keep-project", value_name = "DIR")]
        keep_project: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScriptsCommand {
    /// List the installed packages that have install scripts, and whether they may run.
    Ls,
    /// Allow the scripts of these packages (`name` or `name@version`; the installed version is
    /// pinned when none is given) by adding them to `whitelist`.
    Approve {
        /// Packages.
        #[arg(required_unless_present = "all")]
        packages: Vec<String>,
        /// Every package with scripts that nothing decides yet.
        #[arg(long)]
        all: bool,
    },
    /// Never run the scripts of these packages (adds their names to `blacklist`).
    Deny {
        /// Package names.
        #[arg(required = true)]
        packages: Vec<String>,
    },
}
