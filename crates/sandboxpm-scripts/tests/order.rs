#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use sandboxpm_scripts::script_levels;

fn levels(scripted: &[&str], edges: &[(&str, &[&str])]) -> Vec<Vec<String>> {
    let scripted: BTreeSet<String> = scripted.iter().map(|s| (*s).to_owned()).collect();
    let edges: BTreeMap<String, Vec<String>> = edges
        .iter()
        .map(|(k, deps)| {
            (
                (*k).to_owned(),
                deps.iter().map(|d| (*d).to_owned()).collect(),
            )
        })
        .collect();
    script_levels(&scripted, &edges)
}

#[test]
fn independent_packages_share_the_first_level() {
    assert_eq!(
        levels(&["b", "a", "c"], &[("a", &[]), ("b", &["x"]), ("x", &[])]),
        vec![vec!["a", "b", "c"]]
    );
}

#[test]
fn dependencies_run_first_even_through_packages_without_scripts() {
    // app -> a -> (b, no scripts) -> c; a and c have scripts: c before a.
    assert_eq!(
        levels(
            &["a", "c"],
            &[("app", &["a"]), ("a", &["b"]), ("b", &["c"]), ("c", &[])]
        ),
        vec![vec!["c"], vec!["a"]]
    );
}

#[test]
fn diamond_and_chain() {
    // d -> (b, c) -> a; e -> d; f independent.
    assert_eq!(
        levels(
            &["a", "b", "c", "d", "e", "f"],
            &[
                ("b", &["a"]),
                ("c", &["a"]),
                ("d", &["b", "c"]),
                ("e", &["d"]),
            ]
        ),
        vec![vec!["a", "f"], vec!["b", "c"], vec!["d"], vec!["e"]]
    );
}

#[test]
fn level_is_the_longest_scripted_path_not_the_shortest() {
    // top depends on low directly and through mid: it must wait for mid too.
    assert_eq!(
        levels(
            &["top", "mid", "low"],
            &[("top", &["low", "mid"]), ("mid", &["low"])]
        ),
        vec![vec!["low"], vec!["mid"], vec!["top"]]
    );
}

#[test]
fn cycle_members_share_a_level_after_what_the_cycle_needs() {
    // a <-> b (cycle), both depend on base; top depends on a.
    assert_eq!(
        levels(
            &["a", "b", "base", "top"],
            &[("a", &["b", "base"]), ("b", &["a"]), ("top", &["a"]),]
        ),
        vec![vec!["base"], vec!["a", "b"], vec!["top"]]
    );
    // A self-dependency is not a reason to wait.
    assert_eq!(levels(&["s"], &[("s", &["s"])]), vec![vec!["s"]]);
}

#[test]
fn unknown_dependency_keys_are_ignored() {
    assert_eq!(levels(&["a"], &[("a", &["ghost"])]), vec![vec!["a"]]);
    assert!(levels(&[], &[("a", &["b"])]).is_empty());
}

#[test]
fn deep_chains_do_not_overflow_the_stack() {
    let n = 100_000;
    let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let edges: BTreeMap<String, Vec<String>> = (0..n - 1)
        .map(|i| (names[i].clone(), vec![names[i + 1].clone()]))
        .collect();
    let scripted: BTreeSet<String> = [names[0].clone(), names[n - 1].clone()].into();
    assert_eq!(
        script_levels(&scripted, &edges),
        vec![vec![names[n - 1].clone()], vec![names[0].clone()]]
    );
}
