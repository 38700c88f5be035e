//! Configuration files come from repositories we have not read: parsing garbage must not panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use sandboxpm_config::{Environment, FileTrust, SandboxpmrcFile, expand_env, parse_npmrc};

const ALPHABET: &[&str] = &[
    "=",
    "[",
    "]",
    "[]",
    ";",
    "#",
    "\\",
    "$",
    "{",
    "}",
    "${",
    "?",
    "\"",
    "'",
    "\n",
    "\r\n",
    " ",
    "a",
    "//",
    ":",
    "_authToken",
    "é",
    "X",
    "@",
    "registry",
    "0",
];

#[test]
fn npmrc_and_expansion_never_panic_on_garbage() {
    let env = Environment::from_pairs([("X", "value"), ("a", "")]);
    let mut state: u64 = 0x5eed;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for _ in 0..20_000 {
        let len = next() % 16;
        let text: String = (0..len)
            .map(|_| ALPHABET[next() % ALPHABET.len()])
            .collect();
        let _ = expand_env(&text, &env);
        let _ = parse_npmrc(&text, "f", FileTrust::Trusted, &env);
        let _ = parse_npmrc(&text, "f", FileTrust::Project, &env);
        let _ = SandboxpmrcFile::parse(&text, Path::new("f"), None);
        let json = format!(
            r#"{{"whitelist": ["{0}"], "sandbox": {{"packages": {{"x": {{"network": ["{0}"]}}}}}}}}"#,
            text.replace(['"', '\\', '\n', '\r'], "")
        );
        let _ = SandboxpmrcFile::parse(&json, Path::new("f"), None);
    }
}
