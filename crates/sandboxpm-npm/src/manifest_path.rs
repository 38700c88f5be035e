//! Paths that come from a manifest (`bin` targets, `directories.bin`) made safe to join onto a
//! package directory.
//!
//! A manifest is attacker-controlled. npm clamps `../../x` to `x`; we reject it instead, because a
//! manifest that tries to point outside its own package is not one we want to half-install. The
//! result is a clean, relative, `/`-separated path with no `.` or `..` segments, so joining it onto
//! the package root can never leave that root (symlinks inside the package are the linker's
//! concern: extraction drops them).

use std::fmt;
use std::path::PathBuf;

/// A manifest path that is relative, normalised and stays inside the package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ManifestPath(String);

impl ManifestPath {
    /// The path with `/` separators; empty for the package root itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the path names the package root (`.` or `a/..`).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as a relative [`PathBuf`], to join onto the package directory.
    pub fn to_path_buf(&self) -> PathBuf {
        self.0.split('/').filter(|s| !s.is_empty()).collect()
    }
}

impl fmt::Display for ManifestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(".")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// A manifest path that would leave the package or is not a path at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestPathError {
    /// `/etc/passwd`, `C:\x`, `\\server\share`.
    #[error("{}path {path:?} is absolute", field_prefix(field))]
    Absolute {
        /// The manifest field, like `bin.tsc` (empty when unknown).
        field: String,
        /// The path as written.
        path: String,
    },
    /// `../x`, `a/../../x`.
    #[error("{}path {path:?} escapes the package directory", field_prefix(field))]
    Escapes {
        /// The manifest field.
        field: String,
        /// The path as written.
        path: String,
    },
    /// Empty, or containing a NUL byte.
    #[error("{}path {path:?} is not a valid path", field_prefix(field))]
    Invalid {
        /// The manifest field.
        field: String,
        /// The path as written.
        path: String,
    },
    /// A path that must name a file names the package root.
    #[error(
        "{}path {path:?} names the package directory, not a file",
        field_prefix(field)
    )]
    NotAFile {
        /// The manifest field.
        field: String,
        /// The path as written.
        path: String,
    },
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

impl ManifestPathError {
    /// The same error, attributed to a manifest field.
    pub fn in_field(self, name: String) -> Self {
        match self {
            Self::Absolute { path, .. } => Self::Absolute { field: name, path },
            Self::Escapes { path, .. } => Self::Escapes { field: name, path },
            Self::Invalid { path, .. } => Self::Invalid { field: name, path },
            Self::NotAFile { path, .. } => Self::NotAFile { field: name, path },
        }
    }
}

/// Normalises a path from a manifest: `\` is read as `/` (as npm does), `.` and empty segments
/// vanish, `..` pops a segment; absolute paths and paths that climb above the root are errors.
pub fn normalize_manifest_path(raw: &str) -> Result<ManifestPath, ManifestPathError> {
    let invalid = || ManifestPathError::Invalid {
        field: String::new(),
        path: raw.to_owned(),
    };
    if raw.trim().is_empty() || raw.contains('\0') {
        return Err(invalid());
    }
    let text = raw.replace('\\', "/");
    let bytes = text.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if text.starts_with('/') || drive {
        return Err(ManifestPathError::Absolute {
            field: String::new(),
            path: raw.to_owned(),
        });
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(ManifestPathError::Escapes {
                        field: String::new(),
                        path: raw.to_owned(),
                    });
                }
            }
            other => segments.push(other),
        }
    }
    Ok(ManifestPath(segments.join("/")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn cleans_relative_paths() {
        assert_eq!(
            normalize_manifest_path("./bin/cli.js").unwrap().as_str(),
            "bin/cli.js"
        );
        assert_eq!(
            normalize_manifest_path("bin\\win.js").unwrap().as_str(),
            "bin/win.js"
        );
        assert_eq!(
            normalize_manifest_path("a/./b//../c").unwrap().as_str(),
            "a/c"
        );
        assert!(normalize_manifest_path(".").unwrap().is_root());
        assert_eq!(
            normalize_manifest_path("a/b").unwrap().to_path_buf(),
            PathBuf::from("a").join("b")
        );
    }

    #[test]
    fn rejects_absolute_paths() {
        for raw in ["/etc/passwd", "\\\\server\\share", "C:\\Windows", "c:/x"] {
            assert!(
                matches!(
                    normalize_manifest_path(raw),
                    Err(ManifestPathError::Absolute { .. })
                ),
                "{raw}"
            );
        }
    }

    #[test]
    fn rejects_escapes() {
        for raw in ["..", "../x", "a/../../x", "./a/b/../../../x", "..\\..\\x"] {
            assert!(
                matches!(
                    normalize_manifest_path(raw),
                    Err(ManifestPathError::Escapes { .. })
                ),
                "{raw}"
            );
        }
    }

    #[test]
    fn rejects_empty_and_nul() {
        assert!(matches!(
            normalize_manifest_path(""),
            Err(ManifestPathError::Invalid { .. })
        ));
        assert!(matches!(
            normalize_manifest_path("a\0b"),
            Err(ManifestPathError::Invalid { .. })
        ));
    }

    #[test]
    fn error_text_names_field() {
        let err = normalize_manifest_path("/x")
            .unwrap_err()
            .in_field("bin.tool".into());
        assert_eq!(err.to_string(), "bin.tool: path \"/x\" is absolute");
    }
}
