//! Turning a tar member's name into a safe path inside the package, or refusing it.
//!
//! Every path that reaches the index comes through [`normalize_entry_path`], and every path read
//! back from an index is re-checked with [`is_normal_relative`] before it is joined to a directory,
//! so an index edited on disk cannot steer a link outside the package either.
//!
//! Rules, and why:
//! - `\` is a separator as well as `/`: on Windows it is one, and an index must mean the same thing
//!   on every platform (`package\..\..\x` is a traversal there).
//! - Absolute paths (`/x`, `\x`, `C:x`) and any `..` component are refused outright. npm's
//!   extractor strips a leading `/` and carries on; refusing is stricter and no legitimate package
//!   needs either.
//! - NUL bytes and non-UTF-8 names are refused: C APIs would truncate at NUL, and the index is JSON.
//! - The first component is stripped whatever its name (`package/` in npm tarballs, but some
//!   publishers use others), exactly like npm; entries with nothing left are the package root.

use crate::index::WarningReason;

/// Longest normalised path we accept, in bytes. Far above what a filesystem would take in one
/// component chain under `node_modules`, and a cheap bound on a pathological `a/a/a/…` name.
const MAX_PATH_BYTES: usize = 4096;
/// Longest single component (the common filesystem limit).
const MAX_COMPONENT_BYTES: usize = 255;

/// Normalises a raw tar member name. `Ok(None)` means the member is the package root itself (or a
/// top-level member with nothing below the stripped component).
pub(crate) fn normalize_entry_path(raw: &[u8]) -> Result<Option<String>, WarningReason> {
    if raw.contains(&0) {
        return Err(WarningReason::NulByte);
    }
    let text = std::str::from_utf8(raw).map_err(|_| WarningReason::NonUtf8)?;
    if is_absolute(text) {
        return Err(WarningReason::AbsolutePath);
    }
    let mut components = Vec::new();
    for component in text.split(['/', '\\']) {
        match component {
            "" | "." => {}
            ".." => return Err(WarningReason::ParentComponent),
            _ if component.len() > MAX_COMPONENT_BYTES => return Err(WarningReason::PathTooLong),
            _ => components.push(component),
        }
    }
    // Strip the package directory, like npm's `strip: 1`.
    if components.len() <= 1 {
        return Ok(None);
    }
    let joined = components[1..].join("/");
    if joined.len() > MAX_PATH_BYTES {
        return Err(WarningReason::PathTooLong);
    }
    Ok(Some(joined))
}

/// Whether `path` is already in the form [`normalize_entry_path`] produces: relative, `/`-separated,
/// no empty, `.` or `..` components, no `\`, no NUL, no drive prefix.
pub(crate) fn is_normal_relative(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= MAX_PATH_BYTES
        && !path.contains(['\\', '\0'])
        && !is_absolute(path)
        && path.split('/').all(|component| {
            !matches!(component, "" | "." | "..") && component.len() <= MAX_COMPONENT_BYTES
        })
}

fn is_absolute(text: &str) -> bool {
    let bytes = text.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    text.starts_with(['/', '\\']) || drive
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Result<Option<String>, WarningReason> {
        normalize_entry_path(raw.as_bytes())
    }

    #[test]
    fn strips_first_component_whatever_its_name() {
        assert_eq!(norm("package/index.js"), Ok(Some("index.js".into())));
        assert_eq!(norm("node-v1/lib/a.js"), Ok(Some("lib/a.js".into())));
        assert_eq!(norm("package/"), Ok(None));
        assert_eq!(norm("package"), Ok(None));
    }

    #[test]
    fn removes_dot_and_empty_components() {
        assert_eq!(norm("./package//lib/./a.js"), Ok(Some("lib/a.js".into())));
    }

    #[test]
    fn refuses_traversal_absolute_and_tricks() {
        assert_eq!(norm("package/../x"), Err(WarningReason::ParentComponent));
        assert_eq!(norm("../x"), Err(WarningReason::ParentComponent));
        assert_eq!(
            norm("package/a/../../x"),
            Err(WarningReason::ParentComponent)
        );
        assert_eq!(
            norm("package\\..\\..\\x"),
            Err(WarningReason::ParentComponent)
        );
        assert_eq!(norm("/etc/passwd"), Err(WarningReason::AbsolutePath));
        assert_eq!(norm("\\etc\\passwd"), Err(WarningReason::AbsolutePath));
        assert_eq!(norm("C:/x"), Err(WarningReason::AbsolutePath));
        assert_eq!(
            normalize_entry_path(b"package/a\0b"),
            Err(WarningReason::NulByte)
        );
        assert_eq!(
            normalize_entry_path(b"package/\xff"),
            Err(WarningReason::NonUtf8)
        );
        let long = format!("package/{}", "a".repeat(300));
        assert_eq!(norm(&long), Err(WarningReason::PathTooLong));
        let deep = format!("package/{}", "a/".repeat(3000));
        assert_eq!(norm(&deep), Err(WarningReason::PathTooLong));
    }

    #[test]
    fn backslash_is_a_separator() {
        assert_eq!(norm("package\\lib\\a.js"), Ok(Some("lib/a.js".into())));
    }

    #[test]
    fn normal_relative_check_agrees_with_normaliser() {
        assert!(is_normal_relative("lib/a.js"));
        assert!(is_normal_relative("a"));
        for bad in [
            "", "/a", "a//b", "a/./b", "a/../b", "..", "a\\b", "C:/a", "a/", "a\0",
        ] {
            assert!(!is_normal_relative(bad), "{bad:?} accepted");
        }
    }
}
