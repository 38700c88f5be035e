//! The consent prompt: what a person sees before any package code runs.
//!
//! ```text
//! ──────────────────────────────────────────────────────
//! ⚠ 3 packages have install scripts
//! ──────────────────────────────────────────────────────
//! 1. esbuild@0.19.4
//!    Type:    postinstall
//!    Script:  node install.js
//!    Inspect: node_modules/.sandboxpm/esbuild@0.19.4/node_modules/esbuild/install.js
//! Run this script? [y/N/inspect/always/never]
//! ```
//!
//! One question per package (a decision covers all its scripts). `y`/`yes` approves; an empty
//! answer, `n` or `no` refuses, and so does the end of the input, so nothing runs by accident;
//! `inspect` prints the source of what the commands run, forty lines at a time, and asks again;
//! `always` adds `name@version` to the project's `whitelist` and approves; `never` adds `name` to
//! its `blacklist` and refuses. Anything else asks again.
//!
//! Everything shown comes from the package and is attacker-controlled, so control characters and
//! bidirectional overrides are made visible (`\x1b`, `<U+202E>`) before they reach the terminal:
//! an escape sequence in `install.js` must not be able to clear the screen, rewrite the line the
//! user is reading, or hide code ("Trojan Source", CVE-2021-42574).
//!
//! Input and output are generic, so tests drive the prompt with bytes and compare the transcript.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use sandboxpm_config::{RuleList, add_rule};

use crate::discovery::PackageScripts;
use crate::error::ScriptsError;
use crate::inspect::{InspectTarget, inspect, inspect_targets};

/// How many source lines `inspect` prints before `-- more --`.
pub const PAGE_LINES: usize = 40;

const RULE: &str = "──────────────────────────────────────────────────────";
const QUESTION: &str = "[y/N/inspect/always/never] ";

/// A final answer about one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `y`: run, this time.
    Yes,
    /// `n`, empty, or end of input: do not run, this time.
    No,
    /// `always`: run, and whitelisted as `name@version`.
    Always,
    /// `never`: do not run, and blacklisted as `name`.
    Never,
}

impl Answer {
    /// Whether the scripts run.
    pub fn approves(self) -> bool {
        matches!(self, Answer::Yes | Answer::Always)
    }
}

/// Someone who decides about packages nothing in `.sandboxpmrc` decides about.
pub trait Consent {
    /// One answer per package, in order.
    fn ask(&mut self, packages: &[&PackageScripts]) -> Result<Vec<Answer>, ScriptsError>;
}

/// The terminal prompt.
#[derive(Debug)]
pub struct Prompt<R, W> {
    input: R,
    output: W,
    project_dir: PathBuf,
    shown_root: PathBuf,
}

impl<R: BufRead, W: Write> Prompt<R, W> {
    /// A prompt reading answers from `input`, writing to `output`; `always`/`never` are recorded
    /// in `<project_dir>/.sandboxpmrc`, and paths are shown relative to `project_dir`.
    pub fn new(input: R, output: W, project_dir: &Path) -> Self {
        Prompt {
            input,
            output,
            project_dir: project_dir.to_owned(),
            shown_root: std::fs::canonicalize(project_dir)
                .unwrap_or_else(|_| project_dir.to_owned()),
        }
    }

    /// The input and output back (tests read the transcript from the output).
    pub fn into_parts(self) -> (R, W) {
        (self.input, self.output)
    }

    fn ask_one(&mut self, number: usize, package: &PackageScripts) -> std::io::Result<Answer> {
        writeln!(self.output, "{number}. {}", clean(&package.id()))?;
        for script in &package.scripts {
            writeln!(self.output, "   Type:    {}", script.kind.label())?;
            writeln!(self.output, "   Script:  {}", clean(&script.command))?;
            let targets = inspect_targets(&package.dir, &script.command);
            if !targets.is_empty() {
                let shown: Vec<String> = targets.iter().map(|t| self.describe(t)).collect();
                writeln!(self.output, "   Inspect: {}", shown.join(", "))?;
            }
        }
        let question = if package.scripts.len() == 1 {
            "Run this script?"
        } else {
            "Run these scripts?"
        };
        loop {
            write!(self.output, "{question} {QUESTION}")?;
            self.output.flush()?;
            let Some(answer) = self.read_line()? else {
                return Ok(Answer::No);
            };
            match answer.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" => return Ok(Answer::Yes),
                "" | "n" | "no" => return Ok(Answer::No),
                "always" => return Ok(Answer::Always),
                "never" => return Ok(Answer::Never),
                "inspect" => self.show_sources(package)?,
                _ => writeln!(
                    self.output,
                    "   Please answer y, n, inspect, always or never."
                )?,
            }
        }
    }

    fn describe(&self, target: &InspectTarget) -> String {
        match target {
            InspectTarget::File(path) => self.shown(path),
            InspectTarget::Inline(_) => "inline code (answer `inspect` to read it)".to_owned(),
            InspectTarget::Outside(written) => {
                format!("⚠ {} is outside the package", clean(written))
            }
            InspectTarget::Missing(written) => {
                format!("{} (not in the package)", clean(written))
            }
        }
    }

    fn shown(&self, path: &Path) -> String {
        let shown = path.strip_prefix(&self.shown_root).unwrap_or(path);
        clean(&shown.to_string_lossy())
    }

    /// Prints the source of what each script of `package` runs, paged.
    fn show_sources(&mut self, package: &PackageScripts) -> std::io::Result<()> {
        let mut shown_any = false;
        for script in &package.scripts {
            let inspection = match inspect(&package.dir, &script.command) {
                Ok(inspection) => inspection,
                Err(err) => {
                    writeln!(self.output, "{err}")?;
                    continue;
                }
            };
            for (target, text) in &inspection.parts {
                shown_any = true;
                let title = match target {
                    InspectTarget::File(path) => self.shown(path),
                    InspectTarget::Inline(_) => {
                        format!("inline code of `{}`", clean(&script.command))
                    }
                    InspectTarget::Outside(_) | InspectTarget::Missing(_) => {
                        writeln!(self.output, "{}: cannot be shown", self.describe(target))?;
                        continue;
                    }
                };
                writeln!(self.output, "─── {title} ───")?;
                if !self.page(text)? {
                    writeln!(self.output, "─── (stopped) ───")?;
                    continue;
                }
                if inspection.truncated {
                    writeln!(self.output, "─── (cut after 1 MiB) ───")?;
                }
                writeln!(self.output, "─── end of {title} ───")?;
            }
        }
        if !shown_any {
            writeln!(
                self.output,
                "Nothing to inspect: the commands run no file of the package."
            )?;
        }
        Ok(())
    }

    /// Prints `text` [`PAGE_LINES`] lines at a time; `false` when the reader stopped.
    fn page(&mut self, text: &str) -> std::io::Result<bool> {
        let lines: Vec<&str> = text.lines().collect();
        for (i, chunk) in lines.chunks(PAGE_LINES).enumerate() {
            if i > 0 {
                write!(self.output, "-- more -- ")?;
                self.output.flush()?;
                match self.read_line()? {
                    Some(answer) if answer.trim().eq_ignore_ascii_case("q") => return Ok(false),
                    Some(_) => {}
                    None => return Ok(false),
                }
            }
            for line in chunk {
                writeln!(self.output, "{}", clean(line))?;
            }
        }
        Ok(true)
    }

    fn read_line(&mut self) -> std::io::Result<Option<String>> {
        let mut line = String::new();
        if self.input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line))
    }

    fn record(&mut self, package: &PackageScripts, answer: Answer) -> Result<(), ScriptsError> {
        let (list, entry) = match answer {
            Answer::Always => (RuleList::Whitelist, package.id()),
            Answer::Never => (RuleList::Blacklist, package.name.clone()),
            Answer::Yes | Answer::No => return Ok(()),
        };
        add_rule(&self.project_dir, list, &entry).map_err(|source| ScriptsError::Record {
            package: package.id(),
            source,
        })?;
        writeln!(
            self.output,
            "   Added {} to the {} in .sandboxpmrc",
            clean(&entry),
            list.key()
        )
        .map_err(ScriptsError::Prompt)
    }
}

impl<R: BufRead, W: Write> Consent for Prompt<R, W> {
    fn ask(&mut self, packages: &[&PackageScripts]) -> Result<Vec<Answer>, ScriptsError> {
        let header = if packages.len() == 1 {
            "⚠ 1 package has install scripts".to_owned()
        } else {
            format!("⚠ {} packages have install scripts", packages.len())
        };
        writeln!(self.output, "{RULE}\n{header}\n{RULE}").map_err(ScriptsError::Prompt)?;
        let mut answers = Vec::with_capacity(packages.len());
        for (i, package) in packages.iter().enumerate() {
            let answer = self.ask_one(i + 1, package).map_err(ScriptsError::Prompt)?;
            self.record(package, answer)?;
            answers.push(answer);
        }
        Ok(answers)
    }
}

/// Makes control characters and bidirectional formatting characters visible.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.push_str(&format!("<U+{:04X}>", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_overrides_are_made_visible() {
        assert_eq!(
            clean("a\x1b[2Jb\u{202e}c\td\r"),
            "a\\x1b[2Jb<U+202E>c\td\\x0d"
        );
    }
}
