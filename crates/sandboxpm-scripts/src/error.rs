//! The one error type of this crate. Every variant names the package, file or rule it concerns,
//! so the binary can print it with a `hint:` and nothing else.

use std::io;
use std::path::PathBuf;

use sandboxpm_config::{Origin, SandboxpmrcError};
use sandboxpm_npm::SemverError;
use sandboxpm_sandbox::resolve::ResolveError;

/// Why lifecycle scripts could not be discovered, approved, prepared or run.
#[derive(Debug, thiserror::Error)]
pub enum ScriptsError {
    /// A package's `binding.gyp` exists but cannot be read.
    #[error("{package}: cannot read {}", path.display())]
    BindingGyp {
        /// `name@version`.
        package: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file a script runs cannot be read for `inspect`.
    #[error("cannot read {} to inspect it", path.display())]
    Inspect {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A `whitelist` or `blacklist` entry has a version range that is not valid semver.
    #[error("{origin}: {rule:?} has an invalid version or range")]
    InvalidRule {
        /// The entry as written.
        rule: String,
        /// Where it was written.
        origin: Origin,
        /// What the semver parser said.
        #[source]
        source: SemverError,
    },
    /// Packages with install scripts were neither approved nor refused, and there is no one to
    /// ask (no terminal, or CI) while `policies.onBlock` says to stop.
    #[error(
        "{} with install scripts {} not approved and there is no terminal to ask ({}); \
         policies.onBlock is `{action}`",
        count(packages.len()), if packages.len() == 1 { "is" } else { "are" }, packages.join(", ")
    )]
    NotApproved {
        /// `name@version` of each undecided package.
        packages: Vec<String>,
        /// The configured action (`abort`, or `prompt`, which means abort without a terminal).
        action: &'static str,
    },
    /// The terminal could not be read or written while asking for consent.
    #[error("cannot ask for consent on the terminal")]
    Prompt(#[source] io::Error),
    /// An `always` / `never` answer could not be recorded in `.sandboxpmrc`.
    #[error("cannot record the answer for {package} in .sandboxpmrc")]
    Record {
        /// `name@version`.
        package: String,
        /// What went wrong.
        #[source]
        source: SandboxpmrcError,
    },
    /// A script's sandbox policy could not be resolved.
    #[error("{package}: cannot resolve the sandbox policy of its {event} script")]
    Resolve {
        /// `name@version`.
        package: String,
        /// `preinstall`, `install` or `postinstall`.
        event: &'static str,
        /// The resolver's complaint.
        #[source]
        source: ResolveError,
    },
    /// The sandbox helper request could not be written.
    #[error("cannot write the sandbox request in {}", dir.display())]
    Request {
        /// The request directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The sandbox helper could not be started or waited for.
    #[error("cannot run the sandbox helper {}", exe.display())]
    Spawn {
        /// The `sandboxpm` binary.
        exe: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A script of a non-optional package failed.
    #[error("{package}: {event} script failed ({status}): {command}\n{output}")]
    ScriptFailed {
        /// `name@version`.
        package: String,
        /// `preinstall`, `install` or `postinstall`.
        event: &'static str,
        /// The script.
        command: String,
        /// `exit code N`, or why it did not run.
        status: String,
        /// What it printed (stdout, then stderr).
        output: String,
    },
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 package".to_owned()
    } else {
        format!("{n} packages")
    }
}
