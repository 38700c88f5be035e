#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sandboxpm_npm::InstallEvent;
use sandboxpm_scripts::{
    InspectTarget, ScriptKind, ScriptsError, discover, discover_all, inspect, inspect_targets,
};
use support::Project;

#[test]
fn lifecycle_scripts_in_npm_order() {
    let p = Project::new();
    p.package(
        "a@1.0.0",
        "a",
        r#"{"name":"a","version":"1.0.0","scripts":{
            "postinstall":"node post.js","test":"jest","preinstall":"node pre.js","install":"make"}}"#,
        &[],
        &[],
    );
    let found = discover(&p.installed("a@1.0.0", "a", "1.0.0"))
        .unwrap()
        .unwrap();
    let kinds: Vec<(ScriptKind, &str)> = found
        .scripts
        .iter()
        .map(|s| (s.kind, s.command.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                ScriptKind::Lifecycle(InstallEvent::Preinstall),
                "node pre.js"
            ),
            (ScriptKind::Lifecycle(InstallEvent::Install), "make"),
            (
                ScriptKind::Lifecycle(InstallEvent::Postinstall),
                "node post.js"
            ),
        ]
    );
}

#[test]
fn identity_is_the_resolved_one_not_the_tarballs_claim() {
    let p = Project::new();
    // The tarball says it is esbuild 0.19.4; the lockfile resolved evil-pkg 1.0.0.
    p.package(
        "evil-pkg@1.0.0",
        "evil-pkg",
        r#"{"name":"esbuild","version":"0.19.4","scripts":{"postinstall":"node x.js"}}"#,
        &[],
        &[],
    );
    let found = discover(&p.installed("evil-pkg@1.0.0", "evil-pkg", "1.0.0"))
        .unwrap()
        .unwrap();
    assert_eq!(found.id(), "evil-pkg@1.0.0");
    assert_eq!(
        (found.name.as_str(), found.version.as_str()),
        ("evil-pkg", "1.0.0")
    );
    assert_eq!(found.key, "evil-pkg@1.0.0");
}

#[test]
fn binding_gyp_adds_node_gyp_rebuild_and_lists_its_command_expansions() {
    let p = Project::new();
    let gyp = r#"{
  'targets': [{
    'target_name': 'addon',
    'include_dirs': ["<!(node -e \"require('nan')\")"],
    'libraries': ['<!@(node -p "require(\'./tools/libs\').join(\' \')")'],
  }]
}"#;
    p.package(
        "addon@2.0.0",
        "addon",
        r#"{"name":"addon","version":"2.0.0"}"#,
        &[("binding.gyp", gyp)],
        &[],
    );
    let found = discover(&p.installed("addon@2.0.0", "addon", "2.0.0"))
        .unwrap()
        .unwrap();
    let kinds: Vec<(&str, &str)> = found
        .scripts
        .iter()
        .map(|s| (s.kind.label(), s.command.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("install (implicit, binding.gyp)", "node-gyp rebuild"),
            (
                "binding.gyp command expansion",
                r#"node -e "require('nan')""#
            ),
            (
                "binding.gyp command expansion",
                r#"node -p "require('./tools/libs').join(' ')""#
            ),
        ]
    );
    // Expansions are shown, but only the lifecycle scripts run.
    let runnable: Vec<_> = found.runnable().collect();
    assert_eq!(runnable, vec![(InstallEvent::Install, "node-gyp rebuild")]);
}

#[test]
fn explicit_install_or_preinstall_suppresses_the_implicit_gyp_script() {
    let p = Project::new();
    for (key, scripts) in [
        (
            "x@1.0.0",
            r#"{"install":"prebuild-install || node-gyp rebuild"}"#,
        ),
        ("y@1.0.0", r#"{"preinstall":"node check.js"}"#),
    ] {
        let name = &key[..1];
        p.package(
            key,
            name,
            &format!(r#"{{"name":"{name}","scripts":{scripts}}}"#),
            &[("binding.gyp", "{'x': ['<!(echo hi)']}")],
            &[],
        );
        let found = discover(&p.installed(key, name, "1.0.0")).unwrap().unwrap();
        assert!(
            !found
                .scripts
                .iter()
                .any(|s| s.kind == ScriptKind::ImplicitGyp),
            "{found:?}"
        );
        assert_eq!(found.scripts.last().unwrap().kind, ScriptKind::GypExpansion);
    }
}

#[test]
fn bundled_dependencies_and_packages_without_scripts_run_nothing() {
    let p = Project::new();
    p.package(
        "b@1.0.0",
        "b",
        r#"{"name":"b","scripts":{"postinstall":"node steal.js"}}"#,
        &[],
        &[],
    );
    let mut bundled = p.installed("b@1.0.0", "b", "1.0.0");
    bundled.bundled = true;
    assert_eq!(discover(&bundled).unwrap(), None);

    p.package(
        "c@1.0.0",
        "c",
        r#"{"name":"c","scripts":{"test":"jest"}}"#,
        &[],
        &[],
    );
    assert_eq!(
        discover(&p.installed("c@1.0.0", "c", "1.0.0")).unwrap(),
        None
    );

    // `gypfile: false` turns the implicit script off, and with it the expansions.
    p.package(
        "d@1.0.0",
        "d",
        r#"{"name":"d","gypfile":false}"#,
        &[("binding.gyp", "{'x': ['<!(echo hi)']}")],
        &[],
    );
    assert_eq!(
        discover(&p.installed("d@1.0.0", "d", "1.0.0")).unwrap(),
        None
    );
}

#[test]
fn discover_all_sorts_by_key_and_skips_silent_packages() {
    let p = Project::new();
    let mut installed = Vec::new();
    for name in ["zeta", "alpha", "quiet"] {
        let scripts = if name == "quiet" {
            "{}"
        } else {
            r#"{"install":"make"}"#
        };
        let key = format!("{name}@1.0.0");
        p.package(&key, name, &format!(r#"{{"scripts":{scripts}}}"#), &[], &[]);
        installed.push(p.installed(&key, name, "1.0.0"));
    }
    let keys: Vec<String> = discover_all(&installed)
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys, vec!["alpha@1.0.0", "zeta@1.0.0"]);
}

#[test]
fn unreadable_binding_gyp_is_an_error_naming_the_package() {
    let p = Project::new();
    p.package("e@1.0.0", "e", r#"{"name":"e"}"#, &[], &[]);
    let mut installed = p.installed("e@1.0.0", "e", "1.0.0");
    installed.has_binding_gyp = true; // but the file is gone
    let err = discover(&installed).unwrap_err();
    assert!(matches!(err, ScriptsError::BindingGyp { .. }));
    assert!(
        err.to_string().starts_with("e@1.0.0: cannot read "),
        "{err}"
    );
}

#[test]
fn inspect_finds_the_file_the_command_runs() {
    let p = Project::new();
    let dir = p.package(
        "esbuild@0.19.4",
        "esbuild",
        "{}",
        &[
            ("install.js", "console.log('install')\n"),
            ("scripts/postinstall.js", "// post\n"),
        ],
        &[],
    );
    let inspection = inspect(&dir, "node install.js").unwrap();
    assert_eq!(
        inspection.parts,
        vec![(
            InspectTarget::File(dir.join("install.js")),
            "console.log('install')\n".to_owned()
        )]
    );
    let inspection = inspect(&dir, "node ./scripts/postinstall.js --flag").unwrap();
    assert_eq!(inspection.parts[0].1, "// post\n");
    assert!(!inspection.truncated);

    // Climbing out of the package is reported, never read.
    std::fs::write(p.root.join("secret.js"), "SECRET").unwrap();
    let escape = "node ../../../../secret.js";
    assert_eq!(
        inspect_targets(&dir, escape),
        vec![InspectTarget::Outside("../../../../secret.js".into())]
    );
    assert!(!format!("{:?}", inspect(&dir, escape).unwrap()).contains("SECRET"));
}
