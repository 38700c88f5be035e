#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sandboxpm_scripts::{Decision, Reason, ScriptsError, approve, decide, interactive};
use support::Project;

fn decision(rc: &str, name: &str, version: &str) -> Decision {
    let settings = support::settings(rc, std::path::Path::new("/p/.sandboxpmrc"));
    decide(&settings, name, version).unwrap()
}

#[test]
fn whitelist_by_name_version_and_range() {
    for rule in [
        "esbuild",
        "esbuild@0.19.4",
        "esbuild@^0.19.0",
        "esbuild@>=0.18 <0.20",
    ] {
        let rc = format!(r#"{{"whitelist":["{rule}"]}}"#);
        assert!(decision(&rc, "esbuild", "0.19.4").is_approved(), "{rule}");
    }
    for rule in [
        "esbuild@0.19.3",
        "esbuild@^0.18.0",
        "esbuilder",
        "@x/esbuild",
    ] {
        let rc = format!(r#"{{"whitelist":["{rule}"]}}"#);
        assert_eq!(
            decision(&rc, "esbuild", "0.19.4"),
            Decision::Undecided,
            "{rule}"
        );
    }
}

#[test]
fn scoped_names_match_whole() {
    let rc = r#"{"whitelist":["@swc/core@^1.4"]}"#;
    assert!(decision(rc, "@swc/core", "1.4.2").is_approved());
    assert_eq!(decision(rc, "@swc/core", "2.0.0"), Decision::Undecided);
    assert_eq!(decision(rc, "core", "1.4.2"), Decision::Undecided);
}

#[test]
fn blacklist_wins_over_whitelist() {
    let rc = r#"{"whitelist":["esbuild@0.19.4"],"blacklist":["esbuild@0.19"]}"#;
    match decision(rc, "esbuild", "0.19.4") {
        Decision::Refused(Reason::Blacklisted(rule)) => assert_eq!(rule.text(), "esbuild@0.19"),
        other => panic!("{other:?}"),
    }
    // Outside the blacklisted range, the whitelist applies again.
    let rc = r#"{"whitelist":["esbuild"],"blacklist":["esbuild@<0.19"]}"#;
    assert!(decision(rc, "esbuild", "0.19.4").is_approved());
}

#[test]
fn invalid_rule_range_is_an_error_with_its_origin() {
    let settings = support::settings(
        r#"{"blacklist":["ok","esbuild@not a range!"]}"#,
        std::path::Path::new("/p/.sandboxpmrc"),
    );
    let err = decide(&settings, "esbuild", "0.19.4").unwrap_err();
    assert!(matches!(err, ScriptsError::InvalidRule { .. }));
    assert_eq!(
        err.to_string(),
        "/p/.sandboxpmrc: blacklist[1]: \"esbuild@not a range!\" has an invalid version or range"
    );
    // Rules for other names are not even parsed.
    assert_eq!(
        decide(&settings, "other", "1.0.0").unwrap(),
        Decision::Undecided
    );
}

#[test]
fn terminal_detection() {
    assert!(interactive(true, true, None));
    assert!(interactive(true, true, Some("false")));
    assert!(interactive(true, true, Some("")));
    assert!(!interactive(true, true, Some("true")));
    assert!(!interactive(true, true, Some("1")));
    assert!(!interactive(false, true, None));
    assert!(!interactive(true, false, None));
}

fn ci_packages(p: &Project) -> Vec<sandboxpm_scripts::PackageScripts> {
    vec![
        p.scripted("esbuild", "0.19.4", "node install.js", &[]),
        p.scripted("sharp", "0.33.2", "node install/check", &[]),
        p.scripted("trusted", "1.0.0", "make", &[]),
    ]
}

#[test]
fn without_terminal_on_block_abort_stops_and_names_the_packages() {
    let p = Project::new();
    for (rc, action) in [
        (r#"{"whitelist":["trusted"]}"#, "prompt"), // the default
        (
            r#"{"whitelist":["trusted"],"policies":{"onBlock":"abort"}}"#,
            "abort",
        ),
        (
            r#"{"whitelist":["trusted"],"policies":{"onBlock":"prompt"}}"#,
            "prompt",
        ),
    ] {
        let err = approve(&ci_packages(&p), &p.settings(rc), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "2 packages with install scripts are not approved and there is no terminal to \
                 ask (esbuild@0.19.4, sharp@0.33.2); policies.onBlock is `{action}`"
            )
        );
    }
}

#[test]
fn without_terminal_on_block_continue_skips_undecided_and_runs_whitelisted() {
    let p = Project::new();
    let settings = p.settings(r#"{"whitelist":["trusted"],"policies":{"onBlock":"continue"}}"#);
    let approvals = approve(&ci_packages(&p), &settings, None).unwrap();
    assert_eq!(
        approvals.approved().collect::<Vec<_>>(),
        vec!["trusted@1.0.0"]
    );
    let refused: Vec<_> = approvals.refused().collect();
    assert_eq!(
        refused,
        vec![
            (
                "esbuild@0.19.4",
                &Decision::Refused(Reason::SkippedWithoutTerminal)
            ),
            (
                "sharp@0.33.2",
                &Decision::Refused(Reason::SkippedWithoutTerminal)
            ),
        ]
    );
}

#[test]
fn without_terminal_everything_decided_needs_no_policy() {
    let p = Project::new();
    let settings = p.settings(
        r#"{"whitelist":["esbuild","sharp"],"blacklist":["trusted"],"policies":{"onBlock":"abort"}}"#,
    );
    let approvals = approve(&ci_packages(&p), &settings, None).unwrap();
    assert_eq!(
        approvals.approved().collect::<Vec<_>>(),
        vec!["esbuild@0.19.4", "sharp@0.33.2"]
    );
}
