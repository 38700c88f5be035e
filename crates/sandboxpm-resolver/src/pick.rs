//! Which version of a package a request gets, the way npm picks (`npm-pick-manifest`).
//!
//! For a range, the `latest` dist-tag wins when it satisfies the range, is not deprecated and
//! accepts the node version: publishers use `latest` to say "this is the one to use", and a
//! range like `^4` should not jump to a `4.9.0` that was published as a backport under another
//! tag. Otherwise the highest satisfying version wins, preferring non-deprecated versions and
//! then versions whose `engines.node` accepts the node in use. A dist-tag gets exactly the
//! version it points to; an exact version gets itself.

use sandboxpm_npm::{Range, Version, VersionRequest};
use sandboxpm_registry::{PackedManifest, Packument};

/// The version `request` picks from `packument`, with its (packed) manifest.
pub(crate) fn pick<'p>(
    packument: &'p Packument,
    request: &VersionRequest,
    node: Option<&Version>,
) -> Option<(Version, &'p PackedManifest)> {
    // By its text first (a dist-tag names the key as published, an exact version nearly always
    // is one): packuments of busy packages have thousands of versions, and parsing each one to
    // find one was most of the time a pick took.
    let find = |wanted: &Version| {
        if let Some(manifest) = packument.versions.get(&wanted.to_string()) {
            return Some((wanted.clone(), manifest));
        }
        packument.versions.iter().find_map(|(text, manifest)| {
            let version = Version::parse(text).ok()?;
            (version == *wanted).then_some((version, manifest))
        })
    };
    match request {
        VersionRequest::Version(version) => find(version),
        VersionRequest::Tag(tag) => {
            let version = Version::parse(packument.dist_tags.get(tag)?).ok()?;
            find(&version)
        }
        VersionRequest::Range(range) => {
            let latest = packument
                .dist_tags
                .get("latest")
                .and_then(|text| Version::parse(text).ok())
                .and_then(|version| find(&version));
            if let Some((version, manifest)) = latest
                && (range.is_any() || range.satisfies(&version))
                && !manifest.is_deprecated()
                && engine_ok(manifest.node_engine(), node)
            {
                return Some((version, manifest));
            }
            let mut satisfying: Vec<(Version, &PackedManifest)> = packument
                .versions
                .iter()
                .filter_map(|(text, manifest)| {
                    let version = Version::parse(text).ok()?;
                    range.satisfies(&version).then_some((version, manifest))
                })
                .collect();
            // Highest first: the first that is neither deprecated nor refused by the node in
            // use wins, and it is nearly always the first (each rank costs a range parse).
            // Two texts of one version (`1.0.0`, `v1.0.0`) keep the later text first, as the
            // maximum over the map in text order had it.
            satisfying.reverse();
            satisfying.sort_by(|a, b| b.0.cmp(&a.0));
            let rank = |m: &PackedManifest| (!m.is_deprecated(), engine_ok(m.node_engine(), node));
            let mut best: Option<((bool, bool), usize)> = None;
            for (i, (_, manifest)) in satisfying.iter().enumerate() {
                let r = rank(manifest);
                if r == (true, true) {
                    best = Some((r, i));
                    break;
                }
                if best.is_none_or(|(b, _)| r > b) {
                    best = Some((r, i));
                }
            }
            best.map(|(_, i)| satisfying.swap_remove(i))
        }
    }
}

/// Whether an already chosen `version` satisfies `request` (tags never match without the
/// packument).
pub(crate) fn satisfies(request: &VersionRequest, version: &Version) -> bool {
    match request {
        VersionRequest::Version(wanted) => wanted == version,
        VersionRequest::Range(range) => range.satisfies(version),
        VersionRequest::Tag(_) => false,
    }
}

/// Whether `engines.node` (`required`) accepts `node`; an unknown node or an unparsable range
/// accepts.
pub(crate) fn engine_ok(required: Option<&str>, node: Option<&Version>) -> bool {
    match (node, required) {
        (Some(node), Some(range)) => Range::parse(range).is_ok_and(|r| r.satisfies(node)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use sandboxpm_registry::VersionManifest;

    fn packument(latest: &str, versions: &[(&str, Extra)]) -> Packument {
        let mut p = Packument {
            name: "p".into(),
            ..Packument::default()
        };
        p.dist_tags.insert("latest".into(), latest.into());
        p.dist_tags.insert("next".into(), "3.0.0-rc.1".into());
        for (version, extra) in versions {
            let mut manifest = VersionManifest {
                name: "p".into(),
                version: (*version).into(),
                ..VersionManifest::default()
            };
            if extra.deprecated {
                manifest.deprecated = Some("old".into());
            }
            if let Some(node) = extra.node {
                manifest.engines.insert("node".into(), node.into());
            }
            let packed = PackedManifest::pack(&manifest).unwrap();
            p.versions.insert((*version).into(), packed);
        }
        p
    }

    #[derive(Default, Clone, Copy)]
    struct Extra {
        deprecated: bool,
        node: Option<&'static str>,
    }

    fn range(text: &str) -> VersionRequest {
        VersionRequest::Range(Range::parse(text).unwrap())
    }

    fn picked(p: &Packument, request: &VersionRequest, node: Option<&str>) -> Option<String> {
        let node = node.map(|n| Version::parse(n).unwrap());
        pick(p, request, node.as_ref()).map(|(v, _)| v.to_string())
    }

    #[test]
    fn latest_wins_when_it_satisfies() {
        let none = Extra::default();
        let p = packument(
            "1.1.0",
            &[
                ("1.0.0", none),
                ("1.1.0", none),
                ("1.2.0", none),
                ("3.0.0-rc.1", none),
            ],
        );
        assert_eq!(picked(&p, &range("^1"), None).unwrap(), "1.1.0");
        assert_eq!(picked(&p, &range(">=1.2"), None).unwrap(), "1.2.0");
        assert_eq!(picked(&p, &range("~1.0.0"), None).unwrap(), "1.0.0");
        assert_eq!(picked(&p, &range("*"), None).unwrap(), "1.1.0");
        assert_eq!(
            picked(&p, &VersionRequest::Tag("next".into()), None).unwrap(),
            "3.0.0-rc.1"
        );
        assert_eq!(picked(&p, &VersionRequest::Tag("beta".into()), None), None);
        assert_eq!(picked(&p, &range("^2"), None), None);
        let exact = VersionRequest::Version(Version::parse("1.0.0").unwrap());
        assert_eq!(picked(&p, &exact, None).unwrap(), "1.0.0");
    }

    #[test]
    fn deprecated_and_engine_incompatible_versions_are_avoided() {
        let none = Extra::default();
        let deprecated = Extra {
            deprecated: true,
            ..none
        };
        let new_node = Extra {
            node: Some(">=20"),
            ..none
        };
        let p = packument(
            "1.2.0",
            &[("1.0.0", none), ("1.1.0", new_node), ("1.2.0", deprecated)],
        );
        assert_eq!(picked(&p, &range("^1"), None).unwrap(), "1.1.0");
        assert_eq!(picked(&p, &range("^1"), Some("18.0.0")).unwrap(), "1.0.0");
        assert_eq!(picked(&p, &range("^1"), Some("20.1.0")).unwrap(), "1.1.0");
        assert_eq!(
            picked(&p, &range(">=1.2"), None).unwrap(),
            "1.2.0",
            "a deprecated version is still picked when it is the only one"
        );

        // Not deprecated outranks an accepting engine, which outranks the higher version.
        let both = Extra {
            deprecated: true,
            node: Some(">=20"),
        };
        let p = packument(
            "9.0.0",
            &[("1.0.0", deprecated), ("1.1.0", new_node), ("1.2.0", both)],
        );
        assert_eq!(picked(&p, &range("^1"), Some("18.0.0")).unwrap(), "1.1.0");
        let p = packument("9.0.0", &[("1.0.0", deprecated), ("1.2.0", both)]);
        assert_eq!(picked(&p, &range("^1"), Some("18.0.0")).unwrap(), "1.0.0");
    }

    #[test]
    fn two_texts_of_one_version_pick_the_later_text_every_time() {
        let none = Extra::default();
        let p = packument("9.0.0", &[("1.0.0", none), ("v1.0.0", none)]);
        for _ in 0..3 {
            let (_, manifest) = pick(&p, &range("^1"), None).unwrap();
            assert_eq!(manifest.manifest().unwrap().version, "v1.0.0");
        }
    }
}
