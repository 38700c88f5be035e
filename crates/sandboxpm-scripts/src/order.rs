//! The order scripts run in: levels, dependencies first.
//!
//! A package's scripts may use what its dependencies' scripts built (`sharp` needs its prebuilt
//! `libvips` dependency; a native addon needs `node-addon-api` in place), so a package runs after
//! every package with scripts it depends on, **transitively**: `a -> b -> c` with scripts in `a`
//! and `c` only still puts `c` before `a`, even though `b` runs nothing. Packages that do not
//! depend on each other share a level and may run in parallel.
//!
//! Dependency cycles are legal in npm. Packages in one cycle cannot each run after the other;
//! they share a level (after everything the cycle depends on), which is what npm's own ordering
//! amounts to.
//!
//! The computation works on the strongly connected components of the whole graph (Tarjan's
//! algorithm, iterative so a deep graph cannot overflow the stack): a component's level is one
//! more than the highest level among the scripted components it reaches, where unscripted
//! components pass their requirement through.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Groups `scripted` (keys of packages that will run scripts) into levels. `edges` maps each key
/// of the whole graph to its dependency keys; keys absent from it have no dependencies, and
/// edges to unknown keys are ignored. Each level is sorted.
pub fn script_levels(
    scripted: &BTreeSet<String>,
    edges: &BTreeMap<String, Vec<String>>,
) -> Vec<Vec<String>> {
    // Number every node of the graph, including dependency-only and scripted-only keys.
    let mut names: Vec<&str> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for key in edges
        .keys()
        .map(String::as_str)
        .chain(scripted.iter().map(String::as_str))
    {
        if !index.contains_key(key) {
            index.insert(key, names.len());
            names.push(key);
        }
    }
    let adjacency: Vec<Vec<usize>> = names
        .iter()
        .map(|key| {
            edges
                .get(*key)
                .into_iter()
                .flatten()
                .filter_map(|dep| index.get(dep.as_str()).copied())
                .collect()
        })
        .collect();

    let components = sandboxpm_npm::strongly_connected_components(&adjacency);
    let mut component_of = vec![0usize; names.len()];
    for (c, members) in components.iter().enumerate() {
        for &node in members {
            component_of[node] = c;
        }
    }
    // Tarjan emits a component only after every component it reaches, so one pass in emission
    // order sees dependencies first.
    let mut level = vec![0usize; components.len()];
    // What a dependent of the component must wait for: its level + 1 if it holds a scripted
    // package, else what it itself had to wait for.
    let mut after = vec![0usize; components.len()];
    for (c, members) in components.iter().enumerate() {
        let mut need = 0;
        for &node in members {
            for &dep in &adjacency[node] {
                let d = component_of[dep];
                if d != c {
                    need = need.max(after[d]);
                }
            }
        }
        level[c] = need;
        let has_scripts = members.iter().any(|&n| scripted.contains(names[n]));
        after[c] = if has_scripts { need + 1 } else { need };
    }

    let mut levels: Vec<Vec<String>> = Vec::new();
    for key in scripted {
        let l = level[component_of[index[key.as_str()]]];
        if levels.len() <= l {
            levels.resize_with(l + 1, Vec::new);
        }
        levels[l].push(key.clone());
    }
    // Levels only count scripted components, so none is empty; sort for determinism anyway.
    levels.retain(|l| !l.is_empty());
    for l in &mut levels {
        l.sort();
    }
    levels
}
