//! Every parser here reads text from manifests, registries or users: none may panic on garbage.
//! Inputs come from a fixed pseudo-random generator over an alphabet rich in the characters each
//! grammar cares about, so failures reproduce.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use sandboxpm_npm::{
    Integrity, Lockfile, PackageJson, PackageSpec, Range, Version, normalize_manifest_path,
    split_package_key,
};

const ALPHABET: &[&str] = &[
    "0", "1", "9", "01", ".", "-", "+", "x", "X", "*", "^", "~", ">", "<", "=", "v", " ", "||",
    "@", "/", "\\", ":", "a", "Z", "é", "\u{2028}", "..", "npm:", "git+", "file:", "sha512-",
    "sha1-", "==", "{", "}", "\"",
];

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }

    fn string(&mut self) -> String {
        let len = self.next() % 12;
        (0..len)
            .map(|_| ALPHABET[self.next() % ALPHABET.len()])
            .collect()
    }
}

#[test]
fn parsers_never_panic_on_garbage() {
    let mut rng = Lcg(0x5eed);
    let versions: Vec<Version> = ["0.0.0", "1.2.3", "1.2.3-beta.1", "2.0.0-0"]
        .iter()
        .map(|v| Version::parse(v).unwrap())
        .collect();
    for _ in 0..20_000 {
        let text = rng.string();
        if let Ok(range) = Range::parse(&text) {
            let _ = range.max_satisfying(&versions);
        }
        let _ = Version::parse(&text);
        let _ = PackageSpec::parse(&text);
        let _ = PackageSpec::from_dependency("x", &text);
        let _ = normalize_manifest_path(&text);
        let _ = Integrity::parse(&text);
        let _ = Integrity::from_sha1_hex(&text);
        let _ = split_package_key(&text);
        let _ = Lockfile::from_text(&text, Path::new("l"));
        let json = format!(
            r#"{{"name": "{}", "bin": {{"{}": "{}"}}}}"#,
            text.replace('"', ""),
            text.replace('"', ""),
            text.replace('"', "")
        );
        if let Ok(manifest) = PackageJson::from_slice(json.as_bytes(), Path::new("p")) {
            let _ = manifest.bins();
        }
    }
}
