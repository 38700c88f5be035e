//! Package names as they appear in a registry URL.
//!
//! The name is spliced into a URL path, so it is checked before use: a name such as `../x`,
//! `a?b` or `@scope/../../x` would otherwise address something other than a packument. The
//! check accepts every name the registry has ever published (including legacy names with
//! capital letters) and escapes the scope separator the way npm does (`@scope%2fname`).

use crate::error::Error;

/// The path segment for `name` in a registry URL: `name` itself, or `@scope%2fname` for a
/// scoped package.
///
/// # Errors
///
/// [`Error::InvalidPackageName`] when `name` cannot be a registry package name.
pub fn escape_package_name(name: &str) -> Result<String, Error> {
    let invalid = |reason: &'static str| Error::InvalidPackageName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if name.len() > 214 {
        return Err(invalid("the name is longer than 214 characters"));
    }
    let (scope, bare) = match name.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((scope, bare)) => (Some(scope), bare),
            None => return Err(invalid("a scoped name needs the form @scope/name")),
        },
        None => (None, name),
    };
    for part in scope.iter().copied().chain([bare]) {
        if part.is_empty() {
            return Err(invalid("a name or scope part is empty"));
        }
        if part.starts_with('.') || part.starts_with('_') {
            return Err(invalid("a name or scope cannot start with '.' or '_'"));
        }
        if !part.bytes().all(is_url_safe) {
            return Err(invalid(
                "a name may contain only letters, digits and - . _ ~ ! * ' ( )",
            ));
        }
    }
    Ok(match scope {
        Some(scope) => format!("@{scope}%2f{bare}"),
        None => bare.to_owned(),
    })
}

/// The characters `encodeURIComponent` leaves alone, which is npm's own test for a valid name.
fn is_url_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'_' | b'~' | b'!' | b'*' | b'\'' | b'(' | b')'
        )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn escapes_scope_separator() {
        assert_eq!(escape_package_name("@types/node").unwrap(), "@types%2fnode");
        assert_eq!(escape_package_name("is-number").unwrap(), "is-number");
        assert_eq!(escape_package_name("JSONStream").unwrap(), "JSONStream");
    }

    #[test]
    fn rejects_names_that_would_change_the_url() {
        for bad in [
            "",
            "..",
            "../x",
            "a/b",
            "@scope",
            "@scope/",
            "@/x",
            "a?b",
            "a#b",
            "a b",
            "a%2fb",
            "@s/../../x",
            "_private",
            ".hidden",
            "@scope/a/b",
        ] {
            let err = escape_package_name(bad).unwrap_err();
            assert!(
                err.to_string().contains("invalid package name"),
                "{bad}: {err}"
            );
        }
    }
}
