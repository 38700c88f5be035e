//! A project on disk laid out like the linker lays it out, for tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use sandboxpm_config::{SandboxpmSettings, SandboxpmrcFile};
use sandboxpm_npm::PackageJson;
use sandboxpm_scripts::{InstalledPackage, PackageScripts, discover};

pub struct Project {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Project {
    pub fn new() -> Self {
        Self::in_dir(tempfile::tempdir().unwrap())
    }

    fn in_dir(dir: tempfile::TempDir) -> Self {
        let root = std::fs::canonicalize(dir.path()).unwrap().join("project");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("package.json"), "{\"name\":\"app\"}\n").unwrap();
        Project { _dir: dir, root }
    }

    /// The temp dir holding the project (for a fake home next to it).
    pub fn outer(&self) -> &Path {
        self.root.parent().unwrap()
    }

    /// Creates `node_modules/.sandboxpm/<key>/node_modules/<name>` with `files` (a
    /// `package.json` is written from `manifest`), and links to `deps` (key, name).
    pub fn package(
        &self,
        key: &str,
        name: &str,
        manifest: &str,
        files: &[(&str, &str)],
        deps: &[(&str, &str)],
    ) -> PathBuf {
        let dir = sandboxpm_linker::package_path(&self.root, key, name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("package.json"), manifest).unwrap();
        for (path, content) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        }
        let links = sandboxpm_scripts::dependency_links_dir(&self.root, key);
        for (dep_key, dep_name) in deps {
            let link = links.join(dep_name);
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            let up = if dep_name.contains('/') {
                "../../../"
            } else {
                "../../"
            };
            let target = format!(
                "{up}{}/node_modules/{dep_name}",
                sandboxpm_linker::virtual_store_dir_name(dep_key)
            );
            std::os::unix::fs::symlink(target, link).unwrap();
        }
        dir
    }

    pub fn installed(&self, key: &str, name: &str, version: &str) -> InstalledPackage {
        let dir = sandboxpm_linker::package_path(&self.root, key, name);
        InstalledPackage {
            key: key.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            manifest: PackageJson::read(&dir.join("package.json")).unwrap(),
            has_binding_gyp: dir.join("binding.gyp").is_file(),
            dir,
            bundled: false,
            optional: false,
        }
    }

    /// A package with one postinstall script, discovered.
    pub fn scripted(
        &self,
        name: &str,
        version: &str,
        script: &str,
        files: &[(&str, &str)],
    ) -> PackageScripts {
        let key = format!("{name}@{version}");
        let manifest = format!(
            "{{\"name\":\"{name}\",\"version\":\"{version}\",\"scripts\":{{\"postinstall\":{}}}}}",
            json_string(script)
        );
        self.package(&key, name, &manifest, files, &[]);
        discover(&self.installed(&key, name, version))
            .unwrap()
            .unwrap()
    }

    pub fn settings(&self, sandboxpmrc: &str) -> SandboxpmSettings {
        settings(sandboxpmrc, &self.root.join(".sandboxpmrc"))
    }
}

pub fn settings(text: &str, path: &Path) -> SandboxpmSettings {
    let file = SandboxpmrcFile::parse(text, path, None).unwrap();
    SandboxpmSettings::merge(Some(file), None)
}

pub fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
