//! Who may run: a decision per package, from `.sandboxpmrc` first, then from a person.
//!
//! Precedence, fixed and documented because users rely on it:
//!
//! 1. a `blacklist` entry that matches (`name`, `name@version` or `name@range`) refuses, even
//!    when a `whitelist` entry matches too: "never" is the safer reading of a contradiction;
//! 2. a matching `whitelist` entry approves;
//! 3. everything else is undecided, and is asked about on a terminal, or, without one (no TTY, or
//!    `CI` set), settled by `policies.onBlock`: `abort` (the default there) and `prompt` (which
//!    cannot prompt) stop the install; `continue` skips the scripts and goes on.
//!
//! A rule whose version part is not valid semver is an error naming the file and key it came
//! from, never a silent non-match: a blacklist entry that quietly matches nothing is worse than no
//! entry at all.

use std::io::IsTerminal;

use sandboxpm_config::{PackageRule, PolicyAction, SandboxpmSettings};
use sandboxpm_npm::{Range, Version};

use crate::discovery::PackageScripts;
use crate::error::ScriptsError;
use crate::prompt::{Answer, Consent};

/// Why a package's scripts run or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A `whitelist` entry matched.
    Whitelisted(PackageRule),
    /// A `blacklist` entry matched.
    Blacklisted(PackageRule),
    /// The user answered on the terminal.
    Answered(Answer),
    /// No terminal, `policies.onBlock` is `continue`: skipped.
    SkippedWithoutTerminal,
}

/// The decision for one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Its scripts run (in the sandbox).
    Approved(Reason),
    /// Its scripts do not run.
    Refused(Reason),
    /// Nothing in `.sandboxpmrc` decides; someone has to.
    Undecided,
}

impl Decision {
    /// Whether the scripts run.
    pub fn is_approved(&self) -> bool {
        matches!(self, Decision::Approved(_))
    }
}

/// What `.sandboxpmrc` says about `name@version`.
pub fn decide(
    settings: &SandboxpmSettings,
    name: &str,
    version: &str,
) -> Result<Decision, ScriptsError> {
    for rule in &settings.blacklist {
        if rule_matches(rule, name, version)? {
            return Ok(Decision::Refused(Reason::Blacklisted(rule.clone())));
        }
    }
    for rule in &settings.whitelist {
        if rule_matches(rule, name, version)? {
            return Ok(Decision::Approved(Reason::Whitelisted(rule.clone())));
        }
    }
    Ok(Decision::Undecided)
}

/// Whether `rule` covers `name@version`. The version part is compared as text first (so an
/// exact entry matches even a version semver would not parse), then as a node-semver range.
pub fn rule_matches(rule: &PackageRule, name: &str, version: &str) -> Result<bool, ScriptsError> {
    if rule.name != name {
        return Ok(false);
    }
    let Some(wanted) = rule.version.as_deref() else {
        return Ok(true);
    };
    if wanted == version {
        return Ok(true);
    }
    let invalid = |source| ScriptsError::InvalidRule {
        rule: rule.text(),
        origin: rule.origin.clone(),
        source,
    };
    let range = Range::parse(wanted).map_err(invalid)?;
    // A resolved version that is not semver (a git dependency's) only matches textually.
    Ok(Version::parse(version).is_ok_and(|v| range.satisfies(&v)))
}

/// Whether a person can be asked: standard input and error are terminals and `CI` is not set.
pub fn is_interactive() -> bool {
    interactive(
        std::io::stdin().is_terminal(),
        std::io::stderr().is_terminal(),
        std::env::var("CI").ok().as_deref(),
    )
}

/// [`is_interactive`] from its inputs. `CI` counts when set to anything but empty, `0` or
/// `false` (CI services set `true` or `1`).
pub fn interactive(stdin_tty: bool, output_tty: bool, ci: Option<&str>) -> bool {
    let ci = ci.is_some_and(|v| {
        let v = v.trim();
        !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
    });
    stdin_tty && output_tty && !ci
}

/// The decisions for a set of packages, in their order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approvals {
    /// Each package's key and decision (never [`Decision::Undecided`]).
    pub decisions: Vec<(String, Decision)>,
}

impl Approvals {
    /// Keys of the packages whose scripts run.
    pub fn approved(&self) -> impl Iterator<Item = &str> {
        self.decisions
            .iter()
            .filter(|(_, d)| d.is_approved())
            .map(|(k, _)| k.as_str())
    }

    /// Keys of the packages whose scripts do not run, with why.
    pub fn refused(&self) -> impl Iterator<Item = (&str, &Decision)> {
        self.decisions
            .iter()
            .filter(|(_, d)| !d.is_approved())
            .map(|(k, d)| (k.as_str(), d))
    }
}

/// Decides every package: `.sandboxpmrc` first, then `consent` for the rest (`None`: there is no
/// terminal, `policies.onBlock` settles them).
pub fn approve(
    packages: &[PackageScripts],
    settings: &SandboxpmSettings,
    consent: Option<&mut dyn Consent>,
) -> Result<Approvals, ScriptsError> {
    let mut decisions: Vec<(String, Decision)> = Vec::with_capacity(packages.len());
    let mut undecided: Vec<&PackageScripts> = Vec::new();
    for package in packages {
        let decision = decide(settings, &package.name, &package.version)?;
        if decision == Decision::Undecided {
            undecided.push(package);
        }
        decisions.push((package.key.clone(), decision));
    }
    if undecided.is_empty() {
        return Ok(Approvals { decisions });
    }
    let settled: Vec<Decision> = match consent {
        Some(consent) => consent
            .ask(&undecided)?
            .into_iter()
            .map(|answer| {
                if answer.approves() {
                    Decision::Approved(Reason::Answered(answer))
                } else {
                    Decision::Refused(Reason::Answered(answer))
                }
            })
            .collect(),
        None => match settings.on_block {
            PolicyAction::Continue => undecided
                .iter()
                .map(|_| Decision::Refused(Reason::SkippedWithoutTerminal))
                .collect(),
            action @ (PolicyAction::Abort | PolicyAction::Prompt) => {
                return Err(ScriptsError::NotApproved {
                    packages: undecided.iter().map(|p| p.id()).collect(),
                    action: if action == PolicyAction::Abort {
                        "abort"
                    } else {
                        "prompt"
                    },
                });
            }
        },
    };
    let mut settled = settled.into_iter();
    for (_, decision) in decisions.iter_mut() {
        if *decision == Decision::Undecided {
            // A consent that answers fewer packages than asked leaves the rest refused.
            *decision = settled
                .next()
                .unwrap_or(Decision::Refused(Reason::Answered(Answer::No)));
        }
    }
    Ok(Approvals { decisions })
}
