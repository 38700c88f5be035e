//! Dependency-graph algorithms shared by whoever orders or names packages by their dependencies.

/// Strongly connected components of a graph given as adjacency lists (Tarjan's algorithm, without
/// recursion, so a long dependency chain cannot overflow the stack), each component listed after
/// every component it has an edge to: dependencies first.
pub fn strongly_connected_components(adjacency: &[Vec<usize>]) -> Vec<Vec<usize>> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn components_come_after_what_they_reach() {
        // 0 -> 1 -> 2 -> 1, 2 -> 3
        let out = strongly_connected_components(&[vec![1], vec![2], vec![1, 3], vec![]]);
        let position = |n: usize| out.iter().position(|c| c.contains(&n)).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(position(1), position(2));
        assert!(position(3) < position(1));
        assert!(position(1) < position(0));
    }
}
