//! Whether a package's `os`, `cpu` and `libc` fields accept a platform, with npm's semantics.
//!
//! Each list accepts a value if it names it, or if every entry is a `!negation` and none negates
//! it; an empty list (or `["any"]`) accepts everything. `libc` is only meaningful on Linux: a
//! package that declares a libc is rejected elsewhere, and on Linux when the libc cannot be told.
//! This decides which optional platform packages (esbuild's, swc's, sharp's) get installed.
//!
//! Detection reads files rather than asking the compiler: how sandboxpm was built (`target_env`)
//! says nothing about the libc of the system whose `node` will load the package's binaries.

use std::fmt;
use std::path::Path;

/// A C library family, as npm names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Libc {
    /// GNU libc.
    Glibc,
    /// musl (Alpine and friends).
    Musl,
}

impl Libc {
    /// npm's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Libc::Glibc => "glibc",
            Libc::Musl => "musl",
        }
    }
}

/// The platform packages are checked against, with node's names (`linux`/`darwin`/`win32`,
/// `x64`/`arm64`/`ia32`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `process.platform`
    pub os: String,
    /// `process.arch`
    pub cpu: String,
    /// The libc family on Linux, when known.
    pub libc: Option<Libc>,
}

/// Which field rejected a package, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformMismatch {
    /// `os`, `cpu` or `libc`.
    pub field: &'static str,
    /// The platform's value (`unknown` for an undetected libc).
    pub current: String,
    /// What the package accepts.
    pub allowed: Vec<String>,
}

impl fmt::Display for PlatformMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} is not in the package's {} list [{}]",
            self.field,
            self.current,
            self.field,
            self.allowed.join(", ")
        )
    }
}

impl Platform {
    /// The platform this process runs on; the libc is detected from the root filesystem.
    pub fn current() -> Self {
        let os = node_os(std::env::consts::OS);
        let libc = if os == "linux" {
            detect_libc(Path::new("/"))
        } else {
            None
        };
        Platform {
            os,
            cpu: node_arch(std::env::consts::ARCH),
            libc,
        }
    }

    /// Checks a package's constraints; the first failing field is reported.
    pub fn check(
        &self,
        os: &[String],
        cpu: &[String],
        libc: &[String],
    ) -> Result<(), PlatformMismatch> {
        let mismatch = |field: &'static str, current: &str, allowed: &[String]| PlatformMismatch {
            field,
            current: current.to_owned(),
            allowed: allowed.to_vec(),
        };
        if !list_accepts(os, &self.os) {
            return Err(mismatch("os", &self.os, os));
        }
        if !list_accepts(cpu, &self.cpu) {
            return Err(mismatch("cpu", &self.cpu, cpu));
        }
        if !libc.is_empty() && (libc.len() != 1 || libc[0] != "any") {
            let current = if self.os == "linux" {
                self.libc.map(Libc::name)
            } else {
                None
            };
            match current {
                Some(name) if list_accepts(libc, name) => {}
                Some(name) => return Err(mismatch("libc", name, libc)),
                None => return Err(mismatch("libc", "unknown", libc)),
            }
        }
        Ok(())
    }

    /// Whether a package with these constraints can be installed here.
    pub fn accepts(&self, os: &[String], cpu: &[String], libc: &[String]) -> bool {
        self.check(os, cpu, libc).is_ok()
    }
}

/// npm's `checkList`: a value passes if named, or if the list only negates and does not negate it.
pub fn list_accepts(list: &[String], value: &str) -> bool {
    if list.is_empty() || (list.len() == 1 && list[0] == "any") {
        return true;
    }
    let mut negations = 0;
    let mut named = false;
    for entry in list {
        match entry.strip_prefix('!') {
            Some(negated) => {
                negations += 1;
                if negated == value {
                    return false;
                }
            }
            None => named |= entry == value,
        }
    }
    named || negations == list.len()
}

/// Node's `process.platform` for a Rust `target_os`.
pub fn node_os(rust_os: &str) -> String {
    match rust_os {
        "macos" => "darwin",
        "windows" => "win32",
        "solaris" | "illumos" => "sunos",
        other => other,
    }
    .to_owned()
}

/// Node's `process.arch` for a Rust `target_arch`.
pub fn node_arch(rust_arch: &str) -> String {
    match rust_arch {
        "x86_64" => "x64",
        "x86" => "ia32",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "loongarch64" => "loong64",
        "mips64" => "mips64el",
        other => other,
    }
    .to_owned()
}

/// Detects the libc family of the Linux system rooted at `root`, the way `detect-libc` does:
/// from the text of `ldd`, then from which dynamic loader exists.
pub fn detect_libc(root: &Path) -> Option<Libc> {
    for ldd in ["usr/bin/ldd", "bin/ldd"] {
        if let Ok(bytes) = std::fs::read(root.join(ldd)) {
            let text = String::from_utf8_lossy(&bytes);
            if text.contains("musl") {
                return Some(Libc::Musl);
            }
            if text.contains("GNU C Library") || text.contains("GLIBC") || text.contains("glibc") {
                return Some(Libc::Glibc);
            }
        }
    }
    let has_loader = |dir: &str, prefix: &str| {
        std::fs::read_dir(root.join(dir)).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    };
    if has_loader("lib", "ld-musl-") {
        return Some(Libc::Musl);
    }
    if has_loader("lib64", "ld-linux") || has_loader("lib", "ld-linux") {
        return Some(Libc::Glibc);
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn linux(libc: Option<Libc>) -> Platform {
        Platform {
            os: "linux".into(),
            cpu: "x64".into(),
            libc,
        }
    }

    #[test]
    fn check_list_semantics() {
        assert!(list_accepts(&[], "linux"));
        assert!(list_accepts(&list(&["any"]), "linux"));
        assert!(list_accepts(&list(&["linux", "darwin"]), "linux"));
        assert!(!list_accepts(&list(&["darwin"]), "linux"));
        assert!(list_accepts(&list(&["!win32"]), "linux"));
        assert!(!list_accepts(&list(&["!linux"]), "linux"));
        assert!(
            !list_accepts(&list(&["!win32", "darwin"]), "linux"),
            "a positive entry must match"
        );
        assert!(
            !list_accepts(&list(&["linux", "!linux"]), "linux"),
            "negation wins"
        );
    }

    #[test]
    fn libc_only_counts_on_linux() {
        let glibc = list(&["glibc"]);
        assert!(linux(Some(Libc::Glibc)).accepts(&[], &[], &glibc));
        let err = linux(Some(Libc::Musl)).check(&[], &[], &glibc).unwrap_err();
        assert_eq!(
            err.to_string(),
            "libc musl is not in the package's libc list [glibc]"
        );
        assert!(
            !linux(None).accepts(&[], &[], &glibc),
            "unknown libc fails a libc constraint"
        );
        assert!(linux(None).accepts(&[], &[], &[]));
        let mac = Platform {
            os: "darwin".into(),
            cpu: "arm64".into(),
            libc: None,
        };
        assert!(!mac.accepts(&[], &[], &glibc));
        assert!(mac.accepts(&list(&["darwin"]), &list(&["arm64"]), &[]));
        let err = mac.check(&list(&["linux"]), &[], &[]).unwrap_err();
        assert_eq!(err.field, "os");
        let err = mac.check(&[], &list(&["x64"]), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cpu arm64 is not in the package's cpu list [x64]"
        );
    }

    #[test]
    fn names_follow_node() {
        assert_eq!(node_os("macos"), "darwin");
        assert_eq!(node_os("windows"), "win32");
        assert_eq!(node_os("linux"), "linux");
        assert_eq!(node_arch("x86_64"), "x64");
        assert_eq!(node_arch("aarch64"), "arm64");
        assert_eq!(node_arch("x86"), "ia32");
    }

    #[test]
    fn libc_detection_from_a_fake_root() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(detect_libc(root.path()), None);
        std::fs::create_dir_all(root.path().join("lib")).unwrap();
        std::fs::write(root.path().join("lib/ld-musl-x86_64.so.1"), "").unwrap();
        assert_eq!(detect_libc(root.path()), Some(Libc::Musl));
        std::fs::create_dir_all(root.path().join("usr/bin")).unwrap();
        std::fs::write(
            root.path().join("usr/bin/ldd"),
            "#!/bin/bash\n# GNU C Library\n",
        )
        .unwrap();
        assert_eq!(detect_libc(root.path()), Some(Libc::Glibc), "ldd text wins");
    }

    #[test]
    fn current_platform_uses_node_names() {
        let current = Platform::current();
        assert!(!current.os.is_empty());
        assert_ne!(current.os, "macos");
        assert_ne!(current.cpu, "x86_64");
    }
}
