//! Decoy credentials: how a blocked theft becomes visible.
//!
//! The sandbox gives a script an empty, private `HOME`, so a script that goes for `~/.ssh/id_rsa`
//! simply finds nothing, and nobody learns that it tried. Planting fake credentials in that fake
//! home turns the attempt into evidence: each file carries a marker string that exists nowhere
//! else, and a marker in the script's output (or later, on the proxy's refused connections) says
//! which file the script read. The files hold nothing of value; their format is real enough for
//! a stealer to take them.
//!
//! Merely opening the SSH key or the AWS credentials is evidence too: no build opens them, and
//! on Linux every open of a [`decoy_tripwires`] file is reported, whatever the backend (the
//! sandbox's helper watches them, see `sandboxpm_sandbox::tripwire`). `~/.npmrc` is not one:
//! npm reads it whenever a script runs `npm`, so only its marker in the output counts.

use std::path::PathBuf;

/// The marker in the fake SSH key.
pub const SSH_MARKER: &str = "SANDBOXPM-DECOY-SSH-KEY-5c1e7d0a9b";
/// The marker in the fake npm token.
pub const NPM_MARKER: &str = "DECOY-SANDBOXPM-NPM-TOKEN-8e2f4a61c3";
/// The marker in the fake AWS secret.
pub const AWS_MARKER: &str = "SANDBOXPMDECOYAWSSECRET3d9b7f20e4";

/// The decoys: (the path relative to the fake home, its marker).
const DECOYS: &[(&str, &str)] = &[
    (".ssh/id_rsa", SSH_MARKER),
    (".npmrc", NPM_MARKER),
    (".aws/credentials", AWS_MARKER),
];

/// The decoys whose opening alone is reported (paths relative to the fake home).
pub fn decoy_tripwires() -> Vec<PathBuf> {
    DECOYS
        .iter()
        .map(|(path, _)| PathBuf::from(path))
        .filter(|path| path != std::path::Path::new(".npmrc"))
        .collect()
}

/// The files to plant in a script's fake home: (path relative to the home, content).
pub fn decoy_home_files() -> Vec<(PathBuf, String)> {
    DECOYS
        .iter()
        .map(|(path, marker)| (PathBuf::from(path), content(path, marker)))
        .collect()
}

fn content(path: &str, marker: &str) -> String {
    match path {
        ".ssh/id_rsa" => format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{marker}\n-----END OPENSSH PRIVATE KEY-----\n"
        ),
        ".npmrc" => format!("//registry.invalid/:_authToken={marker}\n"),
        _ => format!(
            "[default]\naws_access_key_id = AKIASANDBOXPMDECOY00\naws_secret_access_key = {marker}\n"
        ),
    }
}

/// The decoy files (as `~/…`) whose marker appears in `output`.
pub fn detect_decoy_use(output: &str) -> Vec<String> {
    DECOYS
        .iter()
        .filter(|(_, marker)| output.contains(marker))
        .map(|(path, _)| format!("~/{path}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decoy_is_detected_by_its_own_marker_only() {
        let files = decoy_home_files();
        assert_eq!(files.len(), 3);
        for (path, content) in &files {
            let found = detect_decoy_use(&format!("stolen: {content}"));
            assert_eq!(found, vec![format!("~/{}", path.display())]);
        }
        assert!(detect_decoy_use("nothing here").is_empty());
        let npmrc = &files[1].1;
        assert!(
            npmrc.starts_with("//registry.invalid/:_authToken=DECOY-"),
            "{npmrc}"
        );
    }
}
