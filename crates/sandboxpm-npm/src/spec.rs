//! Package names and package specs: what a user types (`react@^18`, `@types/node`,
//! `alias@npm:real@1`) and what a dependency map holds (`"^1.2.3"`, `"latest"`, `"npm:x@2"`,
//! `"github:user/repo"`).
//!
//! Registry specs (exact version, range, dist-tag, `npm:` alias) are parsed fully. Git, URL, file,
//! `link:` and `workspace:` specs are recognised so they can be reported clearly, but marked
//! unsupported: installing them would fetch or run code from places the registry integrity
//! checks do not cover.
//!
//! Names follow npm's rules for existing packages (uppercase and long names are allowed because
//! old packages have them), plus one rule of our own: a scoped name part may not be `.`/`..` or
//! start with `.`, since names become directory names under `node_modules`.

use std::fmt;

use crate::semver::{Range, Version};

/// Longest name npm accepts for new packages.
const MAX_NEW_NAME_LENGTH: usize = 214;

/// A package name or spec that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The package name breaks npm's naming rules.
    #[error("invalid package name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A dist-tag with characters npm does not allow in tags.
    #[error("invalid tag {tag:?} for {name}: tags may only contain letters, digits and -_.!~*'()")]
    InvalidTag {
        /// The package.
        name: String,
        /// The tag as given.
        tag: String,
    },
    /// An `npm:` alias whose target is not a registry package.
    #[error("invalid alias {spec:?} for {name}: {reason}")]
    InvalidAlias {
        /// The alias name.
        name: String,
        /// The spec as given.
        spec: String,
        /// What is wrong.
        reason: String,
    },
}

/// A valid npm package name, scoped (`@scope/name`) or not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageName(String);

impl PackageName {
    /// Validates `name` against npm's rules for existing packages.
    pub fn parse(name: &str) -> Result<Self, SpecError> {
        let invalid = |reason| SpecError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("name is empty"));
        }
        if name.trim() != name {
            return Err(invalid("name has leading or trailing spaces"));
        }
        if name.starts_with('.') {
            return Err(invalid("name starts with a period"));
        }
        if name.starts_with('_') {
            return Err(invalid("name starts with an underscore"));
        }
        if matches!(
            name.to_ascii_lowercase().as_str(),
            "node_modules" | "favicon.ico"
        ) {
            return Err(invalid("name is reserved"));
        }
        if let Some(scoped) = name.strip_prefix('@') {
            let Some((scope, bare)) = scoped.split_once('/') else {
                return Err(invalid("scoped name must look like @scope/name"));
            };
            if scope.is_empty() || bare.is_empty() || bare.contains('/') {
                return Err(invalid("scoped name must look like @scope/name"));
            }
            if !is_url_safe(scope) || !is_url_safe(bare) {
                return Err(invalid("name contains characters that are not URL-safe"));
            }
            if scope.starts_with('.') || bare.starts_with('.') {
                return Err(invalid("a scope or name part starts with a period"));
            }
        } else if !is_url_safe(name) {
            return Err(invalid("name contains characters that are not URL-safe"));
        }
        Ok(PackageName(name.to_owned()))
    }

    /// The full name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `@scope` for a scoped package.
    pub fn scope(&self) -> Option<&str> {
        self.0
            .starts_with('@')
            .then(|| self.0.split_once('/').map(|(scope, _)| scope))
            .flatten()
    }

    /// The name without its scope (`node` for `@types/node`).
    pub fn unscoped(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// Whether npm would also accept this name for a *new* package: lowercase, at most 214
    /// characters, none of `~'!()*`.
    pub fn is_valid_for_new_packages(&self) -> bool {
        self.0.len() <= MAX_NEW_NAME_LENGTH
            && !self.0.chars().any(|c| c.is_uppercase())
            && !self.unscoped().contains(['~', '\'', '!', '(', ')', '*'])
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PackageName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Characters `encodeURIComponent` leaves alone.
fn is_url_safe(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '-' | '_' | '.' | '!' | '~' | '*' | '\'' | '(' | ')')
    })
}

/// What a registry spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRequest {
    /// An exact version: `1.2.3`.
    Version(Version),
    /// A range: `^1.2.3`, `*`, `1.x || 2` (a bare name means `*`, as with npm).
    Range(Range),
    /// A dist-tag: `latest`, `next`.
    Tag(String),
}

impl fmt::Display for VersionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRequest::Version(v) => v.fmt(f),
            VersionRequest::Range(r) => r.fmt(f),
            VersionRequest::Tag(t) => f.write_str(t),
        }
    }
}

/// A kind of spec that sandboxpm recognises but does not install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsupportedKind {
    /// `git+https://…`, `git@host:user/repo.git`, `github:user/repo`, `user/repo`.
    Git,
    /// `https://host/pkg.tgz`.
    Url,
    /// `file:../pkg`, `./pkg`, `../pkg.tgz`, `/abs/path`, `~/pkg`.
    File,
    /// `link:../pkg` (yarn, pnpm).
    Link,
    /// `workspace:*` (yarn, pnpm).
    Workspace,
}

impl fmt::Display for UnsupportedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnsupportedKind::Git => "git",
            UnsupportedKind::Url => "URL",
            UnsupportedKind::File => "file",
            UnsupportedKind::Link => "link",
            UnsupportedKind::Workspace => "workspace",
        })
    }
}

/// Where a dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    /// The registry, under the dependency's own name.
    Registry(VersionRequest),
    /// The registry, under another name: `"my-react": "npm:react@^18"`.
    Alias {
        /// The real package.
        target: PackageName,
        /// What is asked of it.
        request: VersionRequest,
    },
    /// A spec sandboxpm does not install.
    Unsupported {
        /// Which kind.
        kind: UnsupportedKind,
        /// The spec as written.
        raw: String,
    },
}

/// A dependency: the name it is installed under and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    /// The name under `node_modules` (the alias name for aliases).
    pub name: PackageName,
    /// What to fetch.
    pub source: SpecSource,
}

impl PackageSpec {
    /// Parses a command-line argument: `name`, `name@spec`, `@scope/name@spec`,
    /// `alias@npm:real@range`.
    pub fn parse(arg: &str) -> Result<Self, SpecError> {
        let arg = arg.trim();
        // The version separator is the first `@` after the name; a scope's `@` is not one.
        let search_from = usize::from(arg.starts_with('@'));
        let (name, spec) = match arg[search_from..].find('@') {
            Some(at) => {
                let at = at + search_from;
                (&arg[..at], &arg[at + 1..])
            }
            None => (arg, ""),
        };
        Self::from_dependency(name, spec)
    }

    /// Parses a dependency-map entry: `"name": "spec"`.
    pub fn from_dependency(name: &str, spec: &str) -> Result<Self, SpecError> {
        let name = PackageName::parse(name)?;
        let spec = spec.trim();
        let source = if let Some(kind) = unsupported_kind(spec) {
            SpecSource::Unsupported {
                kind,
                raw: spec.to_owned(),
            }
        } else if let Some(target) = spec.strip_prefix("npm:") {
            parse_alias(&name, spec, target)?
        } else {
            SpecSource::Registry(parse_request(&name, spec)?)
        };
        Ok(PackageSpec { name, source })
    }

    /// The package to fetch from the registry (the alias target for an alias).
    pub fn registry_name(&self) -> Option<&PackageName> {
        match &self.source {
            SpecSource::Registry(_) => Some(&self.name),
            SpecSource::Alias { target, .. } => Some(target),
            SpecSource::Unsupported { .. } => None,
        }
    }

    /// What is asked of the registry package.
    pub fn request(&self) -> Option<&VersionRequest> {
        match &self.source {
            SpecSource::Registry(request) | SpecSource::Alias { request, .. } => Some(request),
            SpecSource::Unsupported { .. } => None,
        }
    }
}

impl fmt::Display for PackageSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            SpecSource::Registry(request) => write!(f, "{}@{request}", self.name),
            SpecSource::Alias { target, request } => {
                write!(f, "{}@npm:{target}@{request}", self.name)
            }
            SpecSource::Unsupported { raw, .. } => write!(f, "{}@{raw}", self.name),
        }
    }
}

fn parse_request(name: &PackageName, spec: &str) -> Result<VersionRequest, SpecError> {
    if spec.is_empty() {
        return Ok(VersionRequest::Range(Range::any()));
    }
    if let Ok(version) = Version::parse(spec) {
        return Ok(VersionRequest::Version(version));
    }
    if let Ok(range) = Range::parse(spec) {
        return Ok(VersionRequest::Range(range));
    }
    if is_url_safe(spec) {
        return Ok(VersionRequest::Tag(spec.to_owned()));
    }
    Err(SpecError::InvalidTag {
        name: name.to_string(),
        tag: spec.to_owned(),
    })
}

fn parse_alias(name: &PackageName, spec: &str, target: &str) -> Result<SpecSource, SpecError> {
    let invalid = |reason: String| SpecError::InvalidAlias {
        name: name.to_string(),
        spec: spec.to_owned(),
        reason,
    };
    let inner = PackageSpec::parse(target).map_err(|e| invalid(e.to_string()))?;
    match inner.source {
        SpecSource::Registry(request) => Ok(SpecSource::Alias {
            target: inner.name,
            request,
        }),
        SpecSource::Alias { .. } => {
            Err(invalid("an alias cannot point to another alias".to_owned()))
        }
        SpecSource::Unsupported { kind, .. } => Err(invalid(format!(
            "an alias must point to a registry package, not a {kind} spec"
        ))),
    }
}

/// Recognises the non-registry spec forms npm (and yarn/pnpm) accept.
fn unsupported_kind(spec: &str) -> Option<UnsupportedKind> {
    let lower = spec.to_ascii_lowercase();
    if lower.starts_with("workspace:") {
        return Some(UnsupportedKind::Workspace);
    }
    if lower.starts_with("link:") {
        return Some(UnsupportedKind::Link);
    }
    if lower.starts_with("file:")
        || spec.starts_with("./")
        || spec.starts_with("../")
        || spec.starts_with('/')
        || spec.starts_with("~/")
        || spec == "."
        || spec == ".."
        || is_windows_path(spec)
    {
        return Some(UnsupportedKind::File);
    }
    const GIT_PREFIXES: [&str; 9] = [
        "git:",
        "git+",
        "github:",
        "gitlab:",
        "bitbucket:",
        "gist:",
        "git@",
        "ssh://",
        "sourcehut:",
    ];
    if GIT_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return Some(UnsupportedKind::Git);
    }
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(UnsupportedKind::Url);
    }
    if is_hosted_shorthand(spec) {
        return Some(UnsupportedKind::Git);
    }
    // A tarball or folder path without `./`: npm treats `pkg.tgz` and `dir/x` as files.
    if !spec.contains(':')
        && (lower.ends_with(".tgz") || lower.ends_with(".tar.gz") || lower.ends_with(".tar"))
    {
        return Some(UnsupportedKind::File);
    }
    None
}

fn is_windows_path(spec: &str) -> bool {
    let bytes = spec.as_bytes();
    bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/')
}

/// `user/repo` or `user/repo#ref`: GitHub shorthand.
fn is_hosted_shorthand(spec: &str) -> bool {
    let path = spec.split('#').next().unwrap_or(spec);
    let Some((user, repo)) = path.split_once('/') else {
        return false;
    };
    let part_ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    !user.starts_with('@') && part_ok(user) && part_ok(repo)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn request(arg: &str) -> VersionRequest {
        PackageSpec::parse(arg).unwrap().request().unwrap().clone()
    }

    #[test]
    fn names() {
        for ok in [
            "react",
            "@types/node",
            "JSONStream",
            "lodash.merge",
            "a-b_c",
            "@a/b.c",
        ] {
            assert!(PackageName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "_under",
            " pad",
            "node_modules",
            "a/b",
            "@scope",
            "@/x",
            "@s/",
            "@s/a/b",
            "caf\u{e9}",
            "a b",
            "@s/..",
            "@s/.x",
            "@../x",
        ] {
            assert!(PackageName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            !PackageName::parse("JSONStream")
                .unwrap()
                .is_valid_for_new_packages()
        );
        assert!(
            PackageName::parse("json-stream")
                .unwrap()
                .is_valid_for_new_packages()
        );
        let scoped = PackageName::parse("@types/node").unwrap();
        assert_eq!(
            (scoped.scope(), scoped.unscoped()),
            (Some("@types"), "node")
        );
        assert_eq!(
            PackageName::parse("Caf\u{e9}").unwrap_err().to_string(),
            "invalid package name \"Caf\u{e9}\": name contains characters that are not URL-safe"
        );
    }

    #[test]
    fn registry_specs() {
        assert!(matches!(request("react"), VersionRequest::Range(r) if r.is_any()));
        assert!(
            matches!(request("react@18.2.0"), VersionRequest::Version(v) if v.to_string() == "18.2.0")
        );
        assert!(matches!(request("react@^18"), VersionRequest::Range(r) if r.as_str() == "^18"));
        assert!(matches!(request("react@next"), VersionRequest::Tag(t) if t == "next"));
        let scoped = PackageSpec::parse("@types/node@>=18 <21").unwrap();
        assert_eq!(scoped.name.as_str(), "@types/node");
        assert!(
            matches!(scoped.request(), Some(VersionRequest::Range(r)) if r.as_str() == ">=18 <21")
        );
        assert_eq!(
            PackageSpec::parse("@types/node").unwrap().name.as_str(),
            "@types/node"
        );
    }

    #[test]
    fn aliases() {
        let spec = PackageSpec::parse("my-react@npm:react@^18.2.0").unwrap();
        assert_eq!(spec.name.as_str(), "my-react");
        assert_eq!(spec.registry_name().unwrap().as_str(), "react");
        assert_eq!(spec.to_string(), "my-react@npm:react@^18.2.0");
        let spec = PackageSpec::from_dependency("s", "npm:@scope/real").unwrap();
        assert_eq!(spec.registry_name().unwrap().as_str(), "@scope/real");
        let err = PackageSpec::from_dependency("a", "npm:b@npm:c@1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid alias \"npm:b@npm:c@1\" for a: an alias cannot point to another alias"
        );
        let err = PackageSpec::from_dependency("a", "npm:b@github:x/y").unwrap_err();
        assert!(err.to_string().contains("not a git spec"), "{err}");
    }

    #[test]
    fn unsupported_specs_are_recognised() {
        let cases = [
            ("git+https://example.invalid/r.git", UnsupportedKind::Git),
            ("git@example.invalid:user/repo.git", UnsupportedKind::Git),
            ("github:user/repo", UnsupportedKind::Git),
            ("user/repo#v1.0.0", UnsupportedKind::Git),
            ("https://example.invalid/x.tgz", UnsupportedKind::Url),
            ("file:../x", UnsupportedKind::File),
            ("./local", UnsupportedKind::File),
            ("../x.tgz", UnsupportedKind::File),
            ("x.tgz", UnsupportedKind::File),
            ("~/code/x", UnsupportedKind::File),
            ("C:\\code\\x", UnsupportedKind::File),
            ("link:../x", UnsupportedKind::Link),
            ("workspace:*", UnsupportedKind::Workspace),
        ];
        for (raw, kind) in cases {
            let spec = PackageSpec::from_dependency("dep", raw).unwrap();
            assert_eq!(
                spec.source,
                SpecSource::Unsupported {
                    kind,
                    raw: raw.to_owned()
                },
                "{raw}"
            );
            assert!(spec.registry_name().is_none());
        }
    }

    #[test]
    fn invalid_tag() {
        let err = PackageSpec::parse("react@not a tag!").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tag \"not a tag!\" for react: tags may only contain letters, digits and -_.!~*'()"
        );
    }
}
