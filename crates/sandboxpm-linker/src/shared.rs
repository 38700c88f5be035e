//! Shared package directories: which packages can live in the store's `links` directory, and
//! what each one's directory is called there.
//!
//! A package's directory holds its files and its dependency links, and what those links point to
//! is itself a package directory with links: so a directory can be shared between projects only
//! if everything reachable from it is the same, and it is named by a hash of exactly that
//! (its closure). Two projects with the same `react-dom@18.2.0` and the same dependencies below
//! it get the same name, and the second one's install is a symlink.
//!
//! A package whose install scripts will run is never shared (its build writes into its
//! directory, in one project), and neither is anything that depends on it, directly or not: its
//! links must point at that project's copy. Everything else is shared.
//!
//! Dependency graphs have cycles, so the hash is taken over strongly connected components in
//! dependency order: a component's hash covers each member's identity (key, name, tarball, bins)
//! and edges, with the hash of the component an edge leads to when it leaves the component. The
//! components of a closure do not depend on anything outside it, so the name is the same in every
//! project where the closure is the same, whatever else the projects hold.

use std::collections::{BTreeMap, BTreeSet};

use sandboxpm_npm::strongly_connected_components;
use sandboxpm_store::Sha512Digest;

/// Tells hashes of this scheme apart from any other; change it when the directory's contents
/// change for the same inputs.
const SCHEME: &[u8] = b"sandboxpm shared package directory v1";

/// How many hex digits of the hash a directory name carries (128 bits).
pub(crate) const HASH_HEX_LEN: usize = 32;

/// What identifies one package's directory, apart from its edges.
pub(crate) struct Identity<'a> {
    pub(crate) key: &'a str,
    pub(crate) dir: &'a str,
    pub(crate) name: &'a str,
    pub(crate) tarball: Sha512Digest,
    pub(crate) bins: &'a BTreeMap<String, String>,
    /// Its install scripts will run: never shared.
    pub(crate) private: bool,
    /// Edge → key of each dependency link it has.
    pub(crate) edges: &'a BTreeMap<String, String>,
}

/// The shared directory name (`<dir>-<hash>`) of every package that can be shared, by key.
pub(crate) fn entry_names(packages: &BTreeMap<&str, Identity<'_>>) -> BTreeMap<String, String> {
    let local = local_packages(packages);
    let keys: Vec<&str> = packages
        .keys()
        .copied()
        .filter(|k| !local.contains(k))
        .collect();
    let position: BTreeMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let adjacency: Vec<Vec<usize>> = keys
        .iter()
        .map(|k| {
            packages[k]
                .edges
                .values()
                .filter_map(|target| position.get(target.as_str()).copied())
                .collect()
        })
        .collect();

    let mut component_of = vec![usize::MAX; keys.len()];
    let mut node_hash: Vec<[u8; 32]> = vec![[0; 32]; keys.len()];
    for (c, mut members) in strongly_connected_components(&adjacency)
        .into_iter()
        .enumerate()
    {
        for &m in &members {
            component_of[m] = c;
        }
        members.sort_by_key(|&m| keys[m]);
        let mut hasher = blake3::Hasher::new();
        put(&mut hasher, SCHEME);
        for &m in &members {
            let identity = &packages[keys[m]];
            put(&mut hasher, identity.key.as_bytes());
            put(&mut hasher, identity.name.as_bytes());
            put(&mut hasher, &identity.tarball.0);
            put_map(&mut hasher, identity.bins);
            for (edge, target) in identity.edges {
                put(&mut hasher, edge.as_bytes());
                put(&mut hasher, target.as_bytes());
                // Every target of a shared package is shared (see `local_packages`).
                if let Some(&t) = position.get(target.as_str())
                    && component_of[t] != c
                {
                    hasher.update(&node_hash[t]);
                }
            }
        }
        let component = *hasher.finalize().as_bytes();
        for &m in &members {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&component);
            put(&mut hasher, keys[m].as_bytes());
            node_hash[m] = *hasher.finalize().as_bytes();
        }
    }

    keys.iter()
        .zip(&node_hash)
        .map(|(key, hash)| {
            let hex = blake3::Hash::from(*hash).to_hex();
            let name = format!("{}-{}", packages[key].dir, &hex[..HASH_HEX_LEN]);
            ((*key).to_owned(), name)
        })
        .collect()
}

/// Whether `name` is a shared directory name for the package directory `dir`.
pub(crate) fn is_entry_name(dir: &str, name: &str) -> bool {
    name.strip_prefix(dir)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hash| {
            hash.len() == HASH_HEX_LEN
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// The packages that stay in the project: those whose scripts run, and everything that reaches
/// one of them through its edges.
fn local_packages<'a>(packages: &BTreeMap<&'a str, Identity<'a>>) -> BTreeSet<&'a str> {
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (key, identity) in packages {
        for target in identity.edges.values() {
            dependents.entry(target.as_str()).or_default().push(key);
        }
    }
    let mut local: BTreeSet<&str> = BTreeSet::new();
    let mut queue: Vec<&str> = packages
        .iter()
        .filter(|(_, i)| i.private)
        .map(|(k, _)| *k)
        .collect();
    while let Some(key) = queue.pop() {
        if local.insert(key) {
            queue.extend(dependents.get(key).into_iter().flatten().copied());
        }
    }
    local
}

/// Length-prefixed, so no two different sequences of fields hash the same.
fn put(hasher: &mut blake3::Hasher, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

fn put_map(hasher: &mut blake3::Hasher, map: &BTreeMap<String, String>) {
    hasher.update(&(map.len() as u64).to_le_bytes());
    for (k, v) in map {
        put(hasher, k.as_bytes());
        put(hasher, v.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    struct Graph {
        edges: BTreeMap<String, BTreeMap<String, String>>,
        private: BTreeSet<String>,
        bins: BTreeMap<String, String>,
    }

    impl Graph {
        fn new(edges: &[(&str, &[&str])]) -> Self {
            Self {
                edges: edges
                    .iter()
                    .map(|(k, deps)| {
                        let deps = deps
                            .iter()
                            .map(|d| (d.split('@').next().unwrap().to_owned(), (*d).to_owned()))
                            .collect();
                        ((*k).to_owned(), deps)
                    })
                    .collect(),
                private: BTreeSet::new(),
                bins: BTreeMap::new(),
            }
        }

        fn names(&self) -> BTreeMap<String, String> {
            let identities: BTreeMap<&str, Identity<'_>> = self
                .edges
                .iter()
                .map(|(key, edges)| {
                    (
                        key.as_str(),
                        Identity {
                            key,
                            dir: key,
                            name: key.split('@').next().unwrap(),
                            tarball: Sha512Digest::of(key.as_bytes()),
                            bins: &self.bins,
                            private: self.private.contains(key),
                            edges,
                        },
                    )
                })
                .collect();
            entry_names(&identities)
        }
    }

    #[test]
    fn names_depend_on_the_closure_only() {
        let small = Graph::new(&[("a@1", &["b@1"]), ("b@1", &["c@1"]), ("c@1", &[])]).names();
        let big = Graph::new(&[
            ("a@1", &["b@1"]),
            ("b@1", &["c@1"]),
            ("c@1", &[]),
            ("x@1", &["a@1", "c@2"]),
            ("c@2", &[]),
        ])
        .names();
        for key in ["a@1", "b@1", "c@1"] {
            assert_eq!(small[key], big[key], "{key}");
            assert!(is_entry_name(key, &small[key]), "{}", small[key]);
        }
        // Another c below b changes b and a, not c@1's own name.
        let other = Graph::new(&[("a@1", &["b@1"]), ("b@1", &["c@2"]), ("c@2", &[])]).names();
        assert_ne!(small["a@1"], other["a@1"]);
        assert_ne!(small["b@1"], other["b@1"]);
    }

    #[test]
    fn cycles_get_stable_distinct_names() {
        let one = Graph::new(&[("a@1", &["b@1"]), ("b@1", &["a@1", "c@1"]), ("c@1", &[])]);
        let names = one.names();
        assert_ne!(names["a@1"], names["b@1"]);
        // Listing the same graph with an unrelated package first changes nothing.
        let two = Graph::new(&[
            ("0@1", &["b@1"]),
            ("a@1", &["b@1"]),
            ("b@1", &["a@1", "c@1"]),
            ("c@1", &[]),
        ])
        .names();
        assert_eq!(names["a@1"], two["a@1"]);
        assert_eq!(names["b@1"], two["b@1"]);
        // A cycle member whose own dependency changes renames the whole cycle.
        let three =
            Graph::new(&[("a@1", &["b@1"]), ("b@1", &["a@1", "c@2"]), ("c@2", &[])]).names();
        assert_ne!(names["a@1"], three["a@1"]);
    }

    #[test]
    fn scripted_packages_and_their_dependents_stay_local() {
        let mut graph = Graph::new(&[
            ("app@1", &["mid@1", "leaf@1"]),
            ("mid@1", &["native@1"]),
            ("native@1", &["leaf@1"]),
            ("leaf@1", &[]),
            ("other@1", &["leaf@1"]),
        ]);
        graph.private.insert("native@1".into());
        let names = graph.names();
        let shared: BTreeSet<&str> = names.keys().map(String::as_str).collect();
        assert_eq!(shared, BTreeSet::from(["leaf@1", "other@1"]));
    }

    #[test]
    fn entry_names_must_carry_a_full_lowercase_hash() {
        let hash = "0123456789abcdef0123456789abcdef";
        assert!(is_entry_name("a@1", &format!("a@1-{hash}")));
        assert!(!is_entry_name("a@1", &format!("b@1-{hash}")));
        assert!(!is_entry_name(
            "a@1",
            &format!("a@1-{}", hash.to_uppercase())
        ));
        assert!(!is_entry_name("a@1", "a@1-../../x"));
        assert!(!is_entry_name("a@1", &format!("a@1-{hash}0")));
    }
}
