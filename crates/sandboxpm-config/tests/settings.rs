//! Registry, credential, proxy and TLS settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sandboxpm_config::{
    ConfigEntry, ConfigSource, Environment, NpmConfig, NpmrcValue, RegistryFallback, Settings,
    SettingsInputs,
};

fn config(pairs: &[(&str, &str)]) -> NpmConfig {
    NpmConfig::from_entries(pairs.iter().map(|(k, v)| {
        (
            (*k).to_owned(),
            ConfigEntry {
                value: NpmrcValue::Scalar((*v).to_owned()),
                source: ConfigSource::User(PathBuf::from("/home/u/.npmrc")),
            },
        )
    }))
}

fn settings_with(
    pairs: &[(&str, &str)],
    env: &Environment,
    fallback: &RegistryFallback,
) -> Result<Settings, String> {
    Settings::from_config(
        &config(pairs),
        &SettingsInputs {
            env,
            cwd: Path::new("/work"),
            home: Some(Path::new("/home/u")),
            registry_fallback: fallback,
        },
    )
    .map_err(|e| e.to_string())
}

fn settings(pairs: &[(&str, &str)]) -> Settings {
    settings_with(
        pairs,
        &Environment::default(),
        &RegistryFallback::Fixed("http://127.0.0.1:1".into()),
    )
    .unwrap()
}

#[test]
fn registry_is_normalised_and_scoped_registries_apply() {
    let s = settings(&[
        ("registry", "http://127.0.0.1:4873"),
        ("@corp:registry", "http://127.0.0.2:4873/npm"),
    ]);
    assert_eq!(s.registry(), "http://127.0.0.1:4873/");
    assert_eq!(
        s.registry_source(),
        &ConfigSource::User(PathBuf::from("/home/u/.npmrc"))
    );
    assert_eq!(s.registry_for("react"), "http://127.0.0.1:4873/");
    assert_eq!(s.registry_for("@corp/tool"), "http://127.0.0.2:4873/npm/");
    assert_eq!(s.registry_for("@other/tool"), "http://127.0.0.1:4873/");
}

#[test]
fn invalid_registry_error_names_key_and_file() {
    let err = settings_with(
        &[("registry", "not-a-url")],
        &Environment::default(),
        &RegistryFallback::Fixed("http://127.0.0.1:1".into()),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "registry: invalid value \"not-a-url\" from /home/u/.npmrc: an http(s) URL"
    );
}

#[test]
fn fixed_fallback_when_nothing_sets_the_registry() {
    let s = settings(&[]);
    assert_eq!(s.registry(), "http://127.0.0.1:1/");
    assert_eq!(s.registry_source(), &ConfigSource::NpmDefault);
}

#[test]
fn auth_longest_prefix_match() {
    let s = settings(&[
        ("registry", "http://127.0.0.1:4873/"),
        ("//127.0.0.1:4873/:_authToken", "host-token"),
        ("//127.0.0.1:4873/private/:_authToken", "private-token"),
        ("//127.0.0.1:4873/private/:always-auth", "true"),
        ("//127.0.0.2/:_auth", "dXNlcjpwYXNz"),
        ("//127.0.0.3/:username", "bob"),
        ("//127.0.0.3/:_password", "aHVudGVyMg=="),
        ("//127.0.0.4/:username", "only-user"),
        ("_authToken", "top-level-is-ignored"),
    ]);
    let header = |url: &str| s.auth_for(url).map(|a| a.credential.authorization_header());
    assert_eq!(
        header("http://127.0.0.1:4873/react").as_deref(),
        Some("Bearer host-token")
    );
    assert_eq!(
        header("http://127.0.0.1:4873/private/pkg/-/pkg-1.0.0.tgz").as_deref(),
        Some("Bearer private-token")
    );
    assert_eq!(
        header("http://127.0.0.1:4873/privateer").as_deref(),
        Some("Bearer host-token")
    );
    assert!(
        s.auth_for("http://127.0.0.1:4873/private/x")
            .unwrap()
            .always_auth
    );
    assert!(!s.auth_for("http://127.0.0.1:4873/x").unwrap().always_auth);
    assert_eq!(
        s.auth_for("http://127.0.0.1:4873/private/x")
            .unwrap()
            .matched,
        "//127.0.0.1:4873/private/"
    );
    assert_eq!(
        header("https://127.0.0.2/x").as_deref(),
        Some("Basic dXNlcjpwYXNz")
    );
    assert_eq!(
        header("http://127.0.0.2:80/x").as_deref(),
        Some("Basic dXNlcjpwYXNz"),
        "default port"
    );
    // username + base64 password -> Basic base64("bob:hunter2").
    assert_eq!(
        header("http://127.0.0.3/x").as_deref(),
        Some("Basic Ym9iOmh1bnRlcjI=")
    );
    assert_eq!(
        header("http://127.0.0.4/x"),
        None,
        "username alone is not a credential"
    );
    assert_eq!(
        header("http://127.0.0.1:4874/x"),
        None,
        "other port, other host"
    );
    assert_eq!(
        header("http://127.0.0.5/x"),
        None,
        "top-level tokens are never sent"
    );
}

#[test]
fn top_level_always_auth_applies() {
    let s = settings(&[("always-auth", "true"), ("//127.0.0.1/:_authToken", "t")]);
    assert!(s.auth_for("http://127.0.0.1/x").unwrap().always_auth);
}

#[test]
fn bad_password_error_hides_the_value() {
    let err = settings_with(
        &[
            ("//127.0.0.3/:username", "bob"),
            ("//127.0.0.3/:_password", "%%%secret%%%"),
        ],
        &Environment::default(),
        &RegistryFallback::Fixed("http://127.0.0.1:1".into()),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "//127.0.0.3/:_password: invalid value \"<redacted>\" from /home/u/.npmrc: a base64-encoded password"
    );
}

#[test]
fn proxies_and_noproxy() {
    let s = settings(&[
        ("proxy", "http://127.0.0.1:3128/"),
        ("https-proxy", "http://127.0.0.1:3129/"),
        ("noproxy", "localhost, .internal.test,127.0.0.7:8080"),
    ]);
    assert_eq!(
        s.proxy_for("http://127.0.0.2/x"),
        Some("http://127.0.0.1:3128/")
    );
    assert_eq!(
        s.proxy_for("https://127.0.0.2/x"),
        Some("http://127.0.0.1:3129/")
    );
    assert_eq!(s.proxy_for("http://localhost/x"), None);
    assert_eq!(s.proxy_for("http://a.internal.test/x"), None);
    assert_eq!(s.proxy_for("http://internal.test/x"), None);
    assert_eq!(
        s.proxy_for("http://notinternal.test/x"),
        Some("http://127.0.0.1:3128/")
    );
    assert_eq!(s.proxy_for("http://127.0.0.7:8080/x"), None);
    assert_eq!(
        s.proxy_for("http://127.0.0.7:8081/x"),
        Some("http://127.0.0.1:3128/")
    );
    assert_eq!(
        s.noproxy(),
        ["localhost", ".internal.test", "127.0.0.7:8080"]
    );

    // https falls back to `proxy`; `false` turns a proxy off even if the environment sets one.
    let env =
        Environment::from_pairs([("HTTPS_PROXY", "http://127.0.0.1:9999/"), ("no_proxy", "*")]);
    let fallback = RegistryFallback::Fixed("http://127.0.0.1:1".into());
    let s = settings_with(
        &[("proxy", "http://127.0.0.1:3128/")],
        &Environment::default(),
        &fallback,
    )
    .unwrap();
    assert_eq!(
        s.proxy_for("https://127.0.0.2/"),
        Some("http://127.0.0.1:3128/")
    );
    let s = settings_with(&[("https-proxy", "false")], &env, &fallback).unwrap();
    assert_eq!(s.https_proxy(), None);
    let s = settings_with(&[], &env, &fallback).unwrap();
    assert_eq!(s.https_proxy(), Some("http://127.0.0.1:9999/"));
    assert_eq!(
        s.proxy_for("https://127.0.0.2/"),
        None,
        "NO_PROXY=* bypasses everything"
    );

    let err = settings_with(
        &[("proxy", "127.0.0.1:3128")],
        &Environment::default(),
        &fallback,
    )
    .unwrap_err();
    assert_eq!(
        err,
        "proxy: invalid value \"127.0.0.1:3128\" from /home/u/.npmrc: a proxy URL like http://host:port"
    );
}

#[test]
fn tls_settings() {
    let s = settings(&[]);
    assert!(s.strict_ssl());
    assert_eq!(s.cafile(), None);
    let s = settings(&[("strict-ssl", "false"), ("cafile", "~/certs/corp.pem")]);
    assert!(!s.strict_ssl());
    assert_eq!(s.cafile(), Some(Path::new("/home/u/certs/corp.pem")));
    let s = settings(&[("cafile", "certs/ca.pem")]);
    assert_eq!(s.cafile(), Some(Path::new("/work/certs/ca.pem")));
    let err = settings_with(
        &[("strict-ssl", "maybe")],
        &Environment::default(),
        &RegistryFallback::Fixed("http://127.0.0.1:1".into()),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "strict-ssl: invalid value \"maybe\" from /home/u/.npmrc: true or false"
    );
}

/// A fake `npm` running `script`.
#[cfg(unix)]
fn fake_npm(dir: &Path, name: &str, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(unix)]
fn ask(program: PathBuf, timeout: Duration) -> Result<Settings, String> {
    let env = Environment::from_pairs([("PATH", "/usr/bin:/bin")]);
    settings_with(&[], &env, &RegistryFallback::AskNpm { program, timeout })
}

#[test]
#[cfg(unix)]
fn asks_npm_when_nothing_sets_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let npm = fake_npm(
        dir.path(),
        "npm-ok",
        "[ \"$1 $2 $3\" = \"config get registry\" ] || exit 3\necho http://127.0.0.1:4999",
    );
    let s = ask(npm.clone(), Duration::from_secs(10)).unwrap();
    assert_eq!(s.registry(), "http://127.0.0.1:4999/");
    assert_eq!(s.registry_source(), &ConfigSource::NpmDefault);

    // Asked once per process: a changed answer is not seen.
    fake_npm(dir.path(), "npm-ok", "echo http://127.0.0.1:5000/");
    assert_eq!(
        ask(npm, Duration::from_secs(10)).unwrap().registry(),
        "http://127.0.0.1:4999/"
    );
}

#[test]
#[cfg(unix)]
fn asking_npm_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let npm = fake_npm(
        dir.path(),
        "npm-slow",
        "sleep 30\necho http://127.0.0.1:4999/",
    );
    let started = Instant::now();
    let err = ask(npm.clone(), Duration::from_millis(300)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        err,
        format!(
            "no registry is configured and `npm config get registry` failed: {} did not answer within 300ms",
            npm.display()
        )
    );
}

#[test]
#[cfg(unix)]
fn asking_npm_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let err = ask(
        fake_npm(dir.path(), "npm-bad", "echo undefined"),
        Duration::from_secs(10),
    )
    .unwrap_err();
    assert!(
        err.ends_with("npm printed \"undefined\", which is not a registry URL"),
        "{err}"
    );
    let err = ask(
        fake_npm(dir.path(), "npm-fail", "exit 7"),
        Duration::from_secs(10),
    )
    .unwrap_err();
    assert!(err.contains("exited with exit status: 7"), "{err}");
    let err = ask(dir.path().join("missing-npm"), Duration::from_secs(10)).unwrap_err();
    assert!(err.contains("cannot run"), "{err}");
}

#[test]
fn real_npm_answers_with_a_url() {
    if std::env::var("SANDBOXPM_SKIP_NODE_TESTS").is_ok_and(|v| v == "1") {
        return;
    }
    let env = Environment::from_process();
    let s = settings_with(&[], &env, &RegistryFallback::default())
        .unwrap_or_else(|e| panic!("{e}\nhint: install npm, or set SANDBOXPM_SKIP_NODE_TESTS=1"));
    assert!(s.registry().starts_with("http"), "{}", s.registry());
    assert!(s.registry().ends_with('/'));
}
