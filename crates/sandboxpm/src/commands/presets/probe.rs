//! Asking a tool for its own defaults, inside a read-only, offline sandbox.
//!
//! Some facts exist only in the tool: npm's default registry and cache, pip's default index and
//! the host its files come from, where pnpm puts its store, where an interpreter's standard
//! library lives. sandboxpm never writes a registry host name, so it asks, at run time.
//!
//! The question runs **in a sandbox** rather than on the host, because the program that answers
//! may be exactly what the preset is about to let a sandboxed command modify: a virtualenv's
//! `python` and its `site-packages` (`.pth` files run at start-up), a project's `.yarn/releases`
//! or `.python-version`, a package manager under `node_modules/.bin`. The probe sandbox gets the
//! same read grants as the command will, but nothing writable (the project included), no network,
//! an empty home (so user configuration, which sandboxpm reads itself, is not involved) and a
//! timeout. It is a fresh `sandboxpm sandbox-helper` process, so this process stays
//! single-threaded for the sandbox that follows.
//!
//! Each answer is framed by a marker holding a per-run nonce, so that nothing a tool prints can
//! forge another tool's answer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use sandboxpm_sandbox::helper::{self, Request};
use sandboxpm_sandbox::{Backend, Command, Policy, ResolveContext, resolve};

/// The longest a probe may take; the sandbox kills it (and everything it started) afterwards.
const PROBE_TIMEOUT_SECS: u64 = 30;

/// One question: a label and the command that answers it on its standard output.
#[derive(Debug, Clone)]
pub struct Question {
    /// What the answer is called.
    pub label: &'static str,
    /// The command (absolute program first).
    pub argv: Vec<String>,
}

/// Answers by label (standard output, trimmed). A question whose command failed may be missing
/// or empty.
pub type Answers = BTreeMap<String, String>;

/// Runs `questions` in one sandbox made from `policy` (which the caller has made read-only and
/// offline). Errors say why nothing could be asked.
pub fn ask(
    policy: &Policy,
    ctx: &ResolveContext,
    backend: Backend,
    questions: &[Question],
) -> Result<Answers, String> {
    if questions.is_empty() {
        return Ok(Answers::new());
    }
    let nonce = nonce();
    let script = script(questions, &nonce);
    let mut policy = policy.clone();
    policy.limits.timeout_secs = Some(PROBE_TIMEOUT_SECS);
    let resolved = resolve(&policy, ctx).map_err(|e| e.to_string())?;
    let home = resolved.home.to_string_lossy().into_owned();
    let request = Request {
        policy: resolved,
        command: Command {
            program: PathBuf::from("/bin/sh"),
            argv: vec!["sh".into(), "-c".into(), script.into()],
        },
        backend,
        tripwire_slot: None,
    };
    let exe = std::env::current_exe().map_err(|e| format!("finding sandboxpm itself: {e}"))?;
    let output = helper::command(&exe, &helper::request_dir(), &request)
        .map_err(|e| format!("writing the probe request: {e}"))?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("running the probe: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut answers = parse(&stdout, &nonce);
    // A backend without a mount namespace gives the probe a scratch home elsewhere: answers
    // that are paths in it (npm's cache) are paths in the real home.
    if let Some(probe_home) = answers
        .remove(HOME)
        .filter(|h| h.starts_with('/') && *h != home)
    {
        for text in answers.values_mut() {
            *text = text.replace(&probe_home, &home);
        }
    }
    if !answers.contains_key(END) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        return Err(format!("the probe sandbox did not finish ({why})"));
    }
    Ok(answers)
}

const END: &str = "end";
const HOME: &str = "home";

fn script(questions: &[Question], nonce: &str) -> String {
    let mut script = format!("printf '\\n@@{nonce}:{HOME}\\n%s\\n' \"$HOME\"\n");
    for q in questions {
        let command: Vec<String> = q.argv.iter().map(|a| sh_quote(a)).collect();
        script.push_str(&format!(
            "printf '\\n@@{nonce}:{}\\n'; {} 2>/dev/null </dev/null\n",
            q.label,
            command.join(" ")
        ));
    }
    script.push_str(&format!("printf '\\n@@{nonce}:{END}\\n'\n"));
    script
}

fn parse(stdout: &str, nonce: &str) -> Answers {
    let marker = format!("@@{nonce}:");
    let mut answers = Answers::new();
    let mut current: Option<(String, String)> = None;
    for line in stdout.lines() {
        if let Some(label) = line.strip_prefix(&marker) {
            if let Some((label, text)) = current.take() {
                answers.insert(label, text.trim().to_string());
            }
            current = Some((label.to_string(), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    if let Some((label, text)) = current {
        answers.insert(label, text.trim().to_string());
    }
    answers
}

/// Single-quotes `s` for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut bytes = [0u8; 16];
    // /dev/urandom when available; the clock and pid otherwise (the marker only has to be
    // unguessable by what runs in the probe, which cannot see this process).
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    let mut text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    text.push_str(&format!("{nanos:x}{:x}", std::process::id()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_split_by_the_nonce_marker_only() {
        let out = "\n@@abc:npm\ncache=/c\nregistry=https://r.invalid/\n\n@@abc:python\n@@forged:npm\n{}\n@@abc:end\n";
        let answers = parse(out, "abc");
        assert_eq!(answers["npm"], "cache=/c\nregistry=https://r.invalid/");
        assert_eq!(answers["python"], "@@forged:npm\n{}");
        assert!(answers.contains_key(END));
    }

    #[test]
    fn the_script_quotes_every_word() {
        let script = script(
            &[Question {
                label: "npm",
                argv: vec!["/opt/it's/npm".into(), "config".into()],
            }],
            "n",
        );
        assert!(
            script.contains("'/opt/it'\\''s/npm' 'config' 2>/dev/null"),
            "{script}"
        );
        assert!(script.ends_with("printf '\\n@@n:end\\n'\n"), "{script}");
    }
}
