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

    let components = tarjan(&adjacency);
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

/// Strongly connected components, each emitted after all components reachable from it.
fn tarjan(adjacency: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = adjacency.len();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut components = Vec::new();
    let mut next = 0usize;
    for root in 0..n {
        if order[root] != UNSEEN {
            continue;
        }
        // (node, index of the next edge to look at)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        order[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut edge)) = work.last_mut() {
            if let Some(&dep) = adjacency[node].get(*edge) {
                *edge += 1;
                if order[dep] == UNSEEN {
                    order[dep] = next;
                    low[dep] = next;
                    next += 1;
                    stack.push(dep);
                    on_stack[dep] = true;
                    work.push((dep, 0));
                } else if on_stack[dep] {
                    low[node] = low[node].min(order[dep]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == order[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}
