//! graph_builder: builds a directed or undirected graph from an edge list (petgraph) and
//! answers questions about it or renders it as Graphviz DOT or Mermaid.

use std::collections::{HashMap, VecDeque};

use petgraph::EdgeType;
use petgraph::dot::{Config, Dot};
use petgraph::graph::{Graph, NodeIndex};
use petgraph::unionfind::UnionFind;
use petgraph::visit::EdgeRef;
use serde_json::{Map, Value, json};

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

const MAX_EDGES: usize = 100_000;
const MAX_NODES: usize = 100_000;
/// summary lists the degrees of at most this many nodes.
const MAX_DEGREES_LISTED: usize = 1000;

pub(super) fn tool() -> ToolDef {
    let node = json!({"type": ["string", "integer"]});
    ToolDef {
        name: "graph_builder",
        category: "data",
        description: "Builds a directed or undirected graph from edges [from, to, weight?] and \
                      answers: summary (counts, degrees), topological_sort, shortest_path \
                      (Dijkstra), connected_components, has_cycle, or renders it as to_dot \
                      (Graphviz) or to_mermaid.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["summary", "topological_sort", "shortest_path",
                             "connected_components", "has_cycle", "to_dot", "to_mermaid"],
                    "description": "What to do (default summary)"
                },
                "edges": {
                    "type": "array",
                    "maxItems": MAX_EDGES,
                    "description": "The edges: [from, to] or [from, to, weight] arrays, or \
                                    {from, to, weight} objects; nodes are named by strings or \
                                    integers; weight defaults to 1",
                    "items": {
                        "anyOf": [
                            {
                                "type": "array",
                                "minItems": 2,
                                "maxItems": 3,
                                "prefixItems": [node, node, {"type": "number"}]
                            },
                            {
                                "type": "object",
                                "properties": {
                                    "from": node, "to": node, "weight": {"type": "number"}
                                },
                                "required": ["from", "to"],
                                "additionalProperties": false
                            }
                        ]
                    }
                },
                "nodes": {
                    "type": "array",
                    "maxItems": MAX_NODES,
                    "items": node,
                    "description": "Extra nodes (isolated ones, or to fix the order nodes are \
                                    listed in)"
                },
                "directed": {
                    "type": "boolean",
                    "description": "Edges go from -> to (default true); false makes them two-way"
                },
                "from": {"type": ["string", "integer"], "description": "shortest_path: start"},
                "to": {"type": ["string", "integer"], "description": "shortest_path: goal"},
                "strong": {
                    "type": "boolean",
                    "description": "connected_components on a directed graph: strongly \
                                    connected components instead of weakly connected ones \
                                    (default false)"
                },
                "direction": {
                    "type": "string",
                    "enum": ["LR", "TD"],
                    "description": "to_mermaid and to_dot: left-to-right or top-down layout \
                                    (default LR)"
                }
            },
            "required": ["edges"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "shortest weighted path",
                json!({
                    "operation": "shortest_path",
                    "edges": [["a", "b", 4], ["a", "c", 1], ["c", "b", 2], ["b", "d", 1]],
                    "from": "a",
                    "to": "d"
                }),
                json!({"found": true, "distance": 4, "path": ["a", "c", "b", "d"]}),
            ),
            Example::new(
                "build order of tasks",
                json!({
                    "operation": "topological_sort",
                    "edges": [["fetch", "build"], ["build", "test"], ["fetch", "lint"]]
                }),
                json!({"order": ["fetch", "build", "test", "lint"]}),
            ),
            Example::new(
                "components of an undirected graph",
                json!({
                    "operation": "connected_components",
                    "directed": false,
                    "edges": [[1, 2], [2, 3], [4, 5]],
                    "nodes": [6]
                }),
                json!({"count": 3, "components": [["1", "2", "3"], ["4", "5"], ["6"]]}),
            ),
            Example::new(
                "Mermaid flowchart",
                json!({"operation": "to_mermaid", "edges": [["a", "b"]]}),
                json!({"mermaid": "flowchart LR\n    n0[\"a\"]\n    n1[\"b\"]\n    n0 --> n1\n"}),
            ),
            Example::fails(
                "a cycle has no topological order",
                json!({"operation": "topological_sort", "edges": [["a", "b"], ["b", "a"]]}),
                ErrorType::Execution,
            ),
        ],
        run,
    }
}

/// A node name from a JSON string or integer.
fn node_name(param: &str, v: &Value) -> Result<String, ToolError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => Err(ToolError::validation(format!(
            "parameter {param:?}: a node is a string or an integer, not {other}"
        ))),
    }
}

struct EdgeSpec {
    from: String,
    to: String,
    weight: Option<f64>,
}

fn edge_specs(p: &Params) -> Result<Vec<EdgeSpec>, ToolError> {
    let items = p.opt_array("edges")?.map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("edges[{i}]");
            let (from, to, weight) = match item {
                Value::Array(a) if a.len() == 2 || a.len() == 3 => (&a[0], &a[1], a.get(2)),
                Value::Object(o) => match (o.get("from"), o.get("to")) {
                    (Some(f), Some(t)) => (f, t, o.get("weight")),
                    _ => return Err(ToolError::validation(format!("{at} needs from and to"))),
                },
                _ => {
                    return Err(ToolError::validation(format!(
                        "{at} must be [from, to] or [from, to, weight]"
                    )));
                }
            };
            let weight = match weight {
                None | Some(Value::Null) => None,
                Some(w) => match w.as_f64() {
                    Some(w) if w.is_finite() => Some(w),
                    _ => {
                        return Err(ToolError::validation(format!(
                            "{at}: the weight must be a number, not {w}"
                        )));
                    }
                },
            };
            Ok(EdgeSpec { from: node_name(&at, from)?, to: node_name(&at, to)?, weight })
        })
        .collect()
}

struct Built<Ty: EdgeType> {
    g: Graph<String, f64, Ty>,
    weighted: bool,
}

fn build<Ty: EdgeType>(
    p: &Params,
    edges: &[EdgeSpec],
    cx: &Context,
) -> Result<(Built<Ty>, HashMap<String, NodeIndex>), ToolError> {
    let mut g: Graph<String, f64, Ty> = Graph::default();
    let mut index: HashMap<String, NodeIndex> = HashMap::new();
    // At most MAX_NODES + 2 * MAX_EDGES nodes: the schema caps both lists.
    let mut add = |g: &mut Graph<String, f64, Ty>, name: &str| -> Result<NodeIndex, ToolError> {
        if let Some(i) = index.get(name) {
            return Ok(*i);
        }
        let i = g.add_node(name.to_owned());
        index.insert(name.to_owned(), i);
        Ok(i)
    };
    if let Some(nodes) = p.opt_array("nodes")? {
        for (i, n) in nodes.iter().enumerate() {
            add(&mut g, &node_name(&format!("nodes[{i}]"), n)?)?;
        }
    }
    let mut weighted = false;
    for (i, e) in edges.iter().enumerate() {
        if i.is_multiple_of(1024) {
            cx.check()?;
        }
        let a = add(&mut g, &e.from)?;
        let b = add(&mut g, &e.to)?;
        weighted |= e.weight.is_some();
        g.add_edge(a, b, e.weight.unwrap_or(1.0));
    }
    Ok((Built { g, weighted }, index))
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let edges = edge_specs(p)?;
    if p.bool_or("directed", true)? {
        let (built, index) = build::<petgraph::Directed>(p, &edges, cx)?;
        operate(p, cx, &built, &index, true)
    } else {
        let (built, index) = build::<petgraph::Undirected>(p, &edges, cx)?;
        operate(p, cx, &built, &index, false)
    }
}

fn operate<Ty: EdgeType>(
    p: &Params,
    cx: &Context,
    b: &Built<Ty>,
    index: &HashMap<String, NodeIndex>,
    directed: bool,
) -> Result<Value, ToolError> {
    let g = &b.g;
    let names = |ids: &[NodeIndex]| -> Vec<String> { ids.iter().map(|i| g[*i].clone()).collect() };
    match p.str_or("operation", "summary")? {
        "topological_sort" => {
            if !directed {
                return Err(ToolError::validation(
                    "topological_sort needs a directed graph (directed: true)",
                ));
            }
            let order = topological_order(g, cx)?;
            Ok(json!({"order": names(&order)}))
        }
        "has_cycle" => {
            let cycle = if directed { directed_cycle(g, cx)? } else { undirected_cycle(g, cx)? };
            Ok(json!({"has_cycle": cycle.is_some(), "cycle": cycle.map(|c| names(&c))}))
        }
        "shortest_path" => shortest_path(p, b, index),
        "connected_components" => {
            let strong = p.bool_or("strong", false)?;
            let mut components: Vec<Vec<NodeIndex>> =
                if strong && directed { petgraph::algo::tarjan_scc(g) } else { weak_components(g) };
            for c in &mut components {
                c.sort();
            }
            components.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
            let out: Vec<Vec<String>> = components.iter().map(|c| names(c)).collect();
            Ok(json!({"count": out.len(), "components": out}))
        }
        "to_dot" => Ok(json!({"dot": to_dot(b, p.str_or("direction", "LR")?)})),
        "to_mermaid" => {
            Ok(json!({"mermaid": to_mermaid(b, directed, p.str_or("direction", "LR")?)}))
        }
        _ => Ok(summary(b, directed)),
    }
}

fn summary<Ty: EdgeType>(b: &Built<Ty>, directed: bool) -> Value {
    let g = &b.g;
    let n = g.node_count();
    let mut ins = vec![0u64; n];
    let mut outs = vec![0u64; n];
    let mut self_loops = 0;
    for e in g.edge_references() {
        outs[e.source().index()] += 1;
        ins[e.target().index()] += 1;
        if e.source() == e.target() {
            self_loops += 1;
        }
    }
    let mut degrees = Map::new();
    for i in g.node_indices().take(MAX_DEGREES_LISTED) {
        let (din, dout) = (ins[i.index()], outs[i.index()]);
        let d = if directed { json!({"in": din, "out": dout}) } else { json!(din + dout) };
        degrees.insert(g[i].clone(), d);
    }
    let isolated: Vec<&String> = g
        .node_indices()
        .filter(|i| ins[i.index()] + outs[i.index()] == 0)
        .take(MAX_DEGREES_LISTED)
        .map(|i| &g[i])
        .collect();
    let max_degree = g
        .node_indices()
        .max_by(|a, c| {
            (ins[a.index()] + outs[a.index()])
                .cmp(&(ins[c.index()] + outs[c.index()]))
                .then(c.cmp(a))
        })
        .map(|i| json!({"node": g[i], "degree": ins[i.index()] + outs[i.index()]}));
    let m = g.edge_count() as f64;
    let pairs = (n as f64) * (n as f64 - 1.0);
    let density = if n < 2 {
        0.0
    } else if directed {
        m / pairs
    } else {
        2.0 * m / pairs
    };
    json!({
        "nodes": n,
        "edges": g.edge_count(),
        "directed": directed,
        "weighted": b.weighted,
        "self_loops": self_loops,
        "density": (density * 1e6).round() / 1e6,
        "degrees": degrees,
        "degrees_truncated": n > MAX_DEGREES_LISTED,
        "max_degree": max_degree,
        "isolated": isolated,
    })
}

/// Kahn's order, taking ready nodes in the order they were first named; a cycle is an
/// execution error naming one.
fn topological_order<Ty: EdgeType>(
    g: &Graph<String, f64, Ty>,
    cx: &Context,
) -> Result<Vec<NodeIndex>, ToolError> {
    match petgraph::algo::toposort(g, None) {
        Ok(_) => {}
        Err(cycle) => {
            let path = cycle_through(g, cycle.node_id(), cx)?;
            let names: Vec<&str> = path.iter().map(|i| g[*i].as_str()).collect();
            return Err(ToolError::execution(format!(
                "the graph has a cycle, so no topological order: {}",
                names.join(" -> ")
            )));
        }
    }
    // petgraph's order is valid but DFS-shaped; Kahn's with a min-heap of first-seen order
    // is stable and easier to read.
    let mut indegree: Vec<usize> = vec![0; g.node_count()];
    for e in g.edge_references() {
        indegree[e.target().index()] += 1;
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<NodeIndex>> =
        g.node_indices().filter(|i| indegree[i.index()] == 0).map(std::cmp::Reverse).collect();
    let mut order = Vec::with_capacity(g.node_count());
    while let Some(std::cmp::Reverse(n)) = ready.pop() {
        if order.len().is_multiple_of(1024) {
            cx.check()?;
        }
        order.push(n);
        for m in g.neighbors_directed(n, petgraph::Direction::Outgoing) {
            indegree[m.index()] -= 1;
            if indegree[m.index()] == 0 {
                ready.push(std::cmp::Reverse(m));
            }
        }
    }
    Ok(order)
}

/// A path start -> ... -> start along directed edges (start lies on a cycle).
fn cycle_through<Ty: EdgeType>(
    g: &Graph<String, f64, Ty>,
    start: NodeIndex,
    cx: &Context,
) -> Result<Vec<NodeIndex>, ToolError> {
    let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::new();
    for m in g.neighbors_directed(start, petgraph::Direction::Outgoing) {
        if m == start {
            return Ok(vec![start, start]);
        }
        if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(m) {
            e.insert(start);
            queue.push_back(m);
        }
    }
    while let Some(n) = queue.pop_front() {
        cx.check()?;
        for m in g.neighbors_directed(n, petgraph::Direction::Outgoing) {
            if m == start {
                // Back from n to the first step, then around.
                let mut back = vec![n];
                let mut at = n;
                while let Some(&prev) = parent.get(&at) {
                    if prev == start {
                        break;
                    }
                    back.push(prev);
                    at = prev;
                }
                back.reverse();
                let mut ring = vec![start];
                ring.extend(back);
                // Start the cycle at its earliest-named node, so it reads predictably.
                let first = (0..ring.len()).min_by_key(|&i| ring[i]).unwrap_or(0);
                ring.rotate_left(first);
                ring.push(ring[0]);
                return Ok(ring);
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(m) {
                e.insert(n);
                queue.push_back(m);
            }
        }
    }
    Err(ToolError::execution(format!("no cycle found through {}", g[start])))
}

fn directed_cycle<Ty: EdgeType>(
    g: &Graph<String, f64, Ty>,
    cx: &Context,
) -> Result<Option<Vec<NodeIndex>>, ToolError> {
    match petgraph::algo::toposort(g, None) {
        Ok(_) => Ok(None),
        Err(cycle) => Ok(Some(cycle_through(g, cycle.node_id(), cx)?)),
    }
}

/// The first edge that closes a loop, with the tree path between its ends.
fn undirected_cycle<Ty: EdgeType>(
    g: &Graph<String, f64, Ty>,
    cx: &Context,
) -> Result<Option<Vec<NodeIndex>>, ToolError> {
    let mut sets: UnionFind<usize> = UnionFind::new(g.node_count());
    let mut tree: Vec<Vec<NodeIndex>> = vec![Vec::new(); g.node_count()];
    for (i, e) in g.edge_references().enumerate() {
        if i.is_multiple_of(1024) {
            cx.check()?;
        }
        let (a, b) = (e.source(), e.target());
        if a == b {
            return Ok(Some(vec![a, a]));
        }
        if !sets.union(a.index(), b.index()) {
            // a and b are already joined: the tree path b ... a, then the edge back to b.
            let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
            let mut queue = VecDeque::from([a]);
            parent.insert(a, a);
            while let Some(n) = queue.pop_front() {
                if n == b {
                    break;
                }
                for &m in &tree[n.index()] {
                    if let std::collections::hash_map::Entry::Vacant(v) = parent.entry(m) {
                        v.insert(n);
                        queue.push_back(m);
                    }
                }
            }
            let mut path = vec![b];
            let mut at = b;
            while at != a {
                at = parent[&at];
                path.push(at);
            }
            path.push(b);
            return Ok(Some(path));
        }
        tree[a.index()].push(b);
        tree[b.index()].push(a);
    }
    Ok(None)
}

fn weak_components<Ty: EdgeType>(g: &Graph<String, f64, Ty>) -> Vec<Vec<NodeIndex>> {
    let mut sets: UnionFind<usize> = UnionFind::new(g.node_count());
    for e in g.edge_references() {
        sets.union(e.source().index(), e.target().index());
    }
    let mut groups: HashMap<usize, Vec<NodeIndex>> = HashMap::new();
    for i in g.node_indices() {
        groups.entry(sets.find_mut(i.index())).or_default().push(i);
    }
    groups.into_values().collect()
}

fn shortest_path<Ty: EdgeType>(
    p: &Params,
    b: &Built<Ty>,
    index: &HashMap<String, NodeIndex>,
) -> Result<Value, ToolError> {
    let g = &b.g;
    let endpoint = |key: &str| -> Result<NodeIndex, ToolError> {
        let v = p.get(key).ok_or_else(|| {
            ToolError::validation(format!("operation shortest_path needs the parameter {key:?}"))
        })?;
        let name = node_name(key, v)?;
        index.get(&name).copied().ok_or_else(|| {
            ToolError::not_found(format!("parameter {key:?}: no node {name:?} in the graph"))
        })
    };
    let (from, to) = (endpoint("from")?, endpoint("to")?);
    if let Some(e) = g.edge_references().find(|e| *e.weight() < 0.0) {
        return Err(ToolError::validation(format!(
            "shortest_path needs non-negative weights; the edge {} -> {} weighs {}",
            g[e.source()],
            g[e.target()],
            e.weight()
        )));
    }
    let found = petgraph::algo::astar(g, from, |n| n == to, |e| *e.weight(), |_| 0.0);
    Ok(match found {
        Some((distance, path)) => json!({
            "found": true,
            "distance": distance,
            "hops": path.len() - 1,
            "path": path.iter().map(|i| g[*i].clone()).collect::<Vec<_>>(),
        }),
        None => json!({"found": false, "distance": null, "hops": null, "path": []}),
    })
}

fn weight_text(w: f64) -> String {
    if w.fract() == 0.0 && w.abs() < 1e15 { format!("{}", w as i64) } else { format!("{w}") }
}

fn to_dot<Ty: EdgeType>(b: &Built<Ty>, direction: &str) -> String {
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let weighted = b.weighted;
    let rankdir =
        if direction == "TD" { petgraph::dot::RankDir::TB } else { petgraph::dot::RankDir::LR };
    let config = [Config::NodeNoLabel, Config::EdgeNoLabel, Config::RankDir(rankdir)];
    let edge_attr = |_, e: petgraph::graph::EdgeReference<'_, f64>| {
        if weighted { format!("label = \"{}\"", weight_text(*e.weight())) } else { String::new() }
    };
    let node_attr = |_, (_, name): (NodeIndex, &String)| format!("label = \"{}\"", quote(name));
    format!("{:?}", Dot::with_attr_getters(&b.g, &config, &edge_attr, &node_attr))
}

fn to_mermaid<Ty: EdgeType>(b: &Built<Ty>, directed: bool, direction: &str) -> String {
    let g = &b.g;
    let label = |s: &str| s.replace('"', "#quot;");
    let mut out = format!("flowchart {direction}\n");
    for i in g.node_indices() {
        out.push_str(&format!("    n{}[\"{}\"]\n", i.index(), label(&g[i])));
    }
    let arrow = if directed { "-->" } else { "---" };
    for e in g.edge_references() {
        let w = if b.weighted { format!("|{}|", weight_text(*e.weight())) } else { String::new() };
        out.push_str(&format!("    n{} {arrow}{w} n{}\n", e.source().index(), e.target().index()));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    use super::super::test_util::{assert_err, temp_registry};
    use crate::error::ErrorType;
    use crate::registry::Registry;

    fn call(r: &Registry, params: Value) -> Value {
        r.invoke("graph_builder", params, None).unwrap()
    }

    #[test]
    fn summary_counts_and_degrees() {
        let (_d, r) = temp_registry();
        let out = call(&r, json!({"edges": [["a", "b"], ["a", "c"], ["c", "c"]], "nodes": ["z"]}));
        assert_eq!(out["nodes"], 4);
        assert_eq!(out["edges"], 3);
        assert_eq!(out["self_loops"], 1);
        assert_eq!(out["weighted"], false);
        assert_eq!(out["degrees"]["a"], json!({"in": 0, "out": 2}));
        assert_eq!(out["degrees"]["c"], json!({"in": 2, "out": 1}));
        assert_eq!(out["isolated"], json!(["z"]));
        assert_eq!(out["max_degree"], json!({"node": "c", "degree": 3}));
        assert_eq!(out["density"], 0.25);
        let out = call(
            &r,
            json!({"edges": [{"from": 1, "to": 2, "weight": 0.5}, [2, 3]], "directed": false}),
        );
        assert_eq!(out["degrees"], json!({"1": 1, "2": 2, "3": 1}));
        assert_eq!(out["weighted"], true);
        assert_eq!(out["directed"], false);
        let out = call(&r, json!({"edges": []}));
        assert_eq!(out["nodes"], 0);
        assert_eq!(out["max_degree"], Value::Null);
    }

    #[test]
    fn topological_sort_orders_or_names_a_cycle() {
        let (_d, r) = temp_registry();
        let out = call(
            &r,
            json!({"operation": "topological_sort", "nodes": ["x"],
                   "edges": [["shirt", "tie"], ["tie", "jacket"], ["pants", "shoes"],
                             ["pants", "belt"], ["belt", "jacket"], ["shirt", "belt"]]}),
        );
        assert_eq!(out["order"], json!(["x", "shirt", "tie", "pants", "shoes", "belt", "jacket"]));
        let e = r.invoke(
            "graph_builder",
            json!({"operation": "topological_sort",
                   "edges": [["a", "b"], ["b", "c"], ["c", "d"], ["d", "b"]]}),
            None,
        );
        assert_err(e, ErrorType::Execution, &["cycle", "b -> c -> d -> b"]);
        let e = r.invoke(
            "graph_builder",
            json!({"operation": "topological_sort", "edges": [["a", "a"]]}),
            None,
        );
        assert_err(e, ErrorType::Execution, &["a -> a"]);
        let e = r.invoke(
            "graph_builder",
            json!({"operation": "topological_sort", "edges": [["a", "b"]], "directed": false}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["directed"]);
    }

    #[test]
    fn has_cycle_directed_and_undirected() {
        let (_d, r) = temp_registry();
        let out = call(
            &r,
            json!({"operation": "has_cycle", "edges": [["a", "b"], ["a", "c"], ["b", "c"]]}),
        );
        assert_eq!(out, json!({"has_cycle": false, "cycle": null}));
        let out = call(
            &r,
            json!({"operation": "has_cycle", "edges": [["a", "b"], ["b", "c"], ["c", "a"]]}),
        );
        assert_eq!(out["has_cycle"], true);
        let cycle = out["cycle"].as_array().unwrap();
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.first(), cycle.last());
        // The same triangle without directions is a cycle; a tree is not.
        let out = call(
            &r,
            json!({"operation": "has_cycle", "directed": false,
                   "edges": [["a", "b"], ["a", "c"], ["b", "c"]]}),
        );
        assert_eq!(out["cycle"], json!(["c", "a", "b", "c"]));
        let out = call(
            &r,
            json!({"operation": "has_cycle", "directed": false, "edges": [[1, 2], [1, 3], [3, 4]]}),
        );
        assert_eq!(out["has_cycle"], false);
        let out = call(
            &r,
            json!({"operation": "has_cycle", "directed": false, "edges": [[1, 2], [2, 1]]}),
        );
        assert_eq!(out["cycle"], json!(["1", "2", "1"]));
        let out = call(&r, json!({"operation": "has_cycle", "directed": false, "edges": [[5, 5]]}));
        assert_eq!(out["cycle"], json!(["5", "5"]));
    }

    #[test]
    fn shortest_paths_with_weights() {
        let (_d, r) = temp_registry();
        let edges = json!([
            ["a", "b", 7],
            ["a", "c", 9],
            ["a", "f", 14],
            ["b", "c", 10],
            ["b", "d", 15],
            ["c", "d", 11],
            ["c", "f", 2],
            ["d", "e", 6],
            ["e", "f", 9]
        ]);
        let out =
            call(&r, json!({"operation": "shortest_path", "edges": edges, "from": "a", "to": "e"}));
        assert_eq!(
            out,
            json!({"found": true, "distance": 26.0, "hops": 3,
                               "path": ["a", "c", "d", "e"]})
        );
        let out = call(
            &r,
            json!({"operation": "shortest_path", "edges": edges, "from": "a", "to": "e",
                   "directed": false}),
        );
        assert_eq!(out["distance"], 20.0);
        assert_eq!(out["path"], json!(["a", "c", "f", "e"]));
        let out =
            call(&r, json!({"operation": "shortest_path", "edges": edges, "from": "e", "to": "a"}));
        assert_eq!(out, json!({"found": false, "distance": null, "hops": null, "path": []}));
        let out = call(
            &r,
            json!({"operation": "shortest_path", "edges": [[1, 2], [2, 3]], "from": 1, "to": 3}),
        );
        assert_eq!(out["path"], json!(["1", "2", "3"]));
        let out =
            call(&r, json!({"operation": "shortest_path", "edges": [[1, 2]], "from": 1, "to": 1}));
        assert_eq!(out["distance"], 0.0);
        let e = r.invoke(
            "graph_builder",
            json!({"operation": "shortest_path", "edges": edges, "from": "a", "to": "zz"}),
            None,
        );
        assert_err(e, ErrorType::NotFound, &["\"to\"", "zz"]);
        let e = r.invoke(
            "graph_builder",
            json!({"operation": "shortest_path", "edges": edges, "from": "a"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["\"to\""]);
        let e = r.invoke(
            "graph_builder",
            json!({"operation": "shortest_path", "edges": [["a", "b", -1]], "from": "a",
                   "to": "b"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["non-negative", "a -> b"]);
    }

    #[test]
    fn components_weak_and_strong() {
        let (_d, r) = temp_registry();
        let edges = json!([["a", "b"], ["b", "a"], ["b", "c"], ["x", "y"]]);
        let out = call(&r, json!({"operation": "connected_components", "edges": edges}));
        assert_eq!(out, json!({"count": 2, "components": [["a", "b", "c"], ["x", "y"]]}));
        let out =
            call(&r, json!({"operation": "connected_components", "edges": edges, "strong": true}));
        assert_eq!(out["count"], 4);
        assert_eq!(out["components"][0], json!(["a", "b"]));
    }

    #[test]
    fn dot_and_mermaid() {
        let (_d, r) = temp_registry();
        let out = call(
            &r,
            json!({"operation": "to_dot", "edges": [["a \"q\"", "b", 2.5], ["b", "c", 1]]}),
        );
        let dot = out["dot"].as_str().unwrap();
        assert!(dot.starts_with("digraph {\n"), "{dot}");
        assert!(dot.contains("rankdir=\"LR\""), "{dot}");
        assert!(dot.contains("0 [ label = \"a \\\"q\\\"\"]"), "{dot}");
        assert!(dot.contains("0 -> 1 [ label = \"2.5\"]"), "{dot}");
        assert!(dot.contains("1 -> 2 [ label = \"1\"]"), "{dot}");
        let out = call(&r, json!({"operation": "to_dot", "edges": [[1, 2]], "directed": false}));
        let dot = out["dot"].as_str().unwrap();
        assert!(dot.starts_with("graph {\n") && dot.contains("0 -- 1"), "{dot}");
        assert!(!dot.contains("0 -- 1 [ label"), "{dot}");
        let out = call(
            &r,
            json!({"operation": "to_mermaid", "edges": [["a", "b", 3], ["b", "say \"hi\""]],
                   "directed": false, "direction": "TD"}),
        );
        assert_eq!(
            out["mermaid"],
            "flowchart TD\n    n0[\"a\"]\n    n1[\"b\"]\n    n2[\"say #quot;hi#quot;\"]\n    \
             n0 ---|3| n1\n    n1 ---|1| n2\n"
        );
    }

    #[test]
    fn bad_edges_are_validation_errors() {
        let (_d, r) = temp_registry();
        for edges in [
            json!([["a"]]),
            json!([["a", "b", 1, 2]]),
            json!([["a", 1.5]]),
            json!([{"from": "a"}]),
            json!([["a", "b", "heavy"]]),
            json!("a-b"),
        ] {
            let e = r.invoke("graph_builder", json!({"edges": edges}), None);
            assert_err(e, ErrorType::Validation, &["edges"]);
        }
        let e = r.invoke("graph_builder", json!({}), None);
        assert_err(e, ErrorType::Validation, &["edges", "required"]);
        let e = r.invoke("graph_builder", json!({"edges": [], "operation": "pagerank"}), None);
        assert_err(e, ErrorType::Validation, &["/operation", "enum"]);
    }

    #[test]
    fn size_is_capped_and_large_graphs_are_quick() {
        let (_d, r) = temp_registry();
        let too_many: Vec<Value> = (0..super::MAX_EDGES + 1).map(|i| json!([i, i + 1])).collect();
        let e = r.invoke("graph_builder", json!({"edges": too_many}), None);
        assert_err(e, ErrorType::Validation, &["edges", "maxItems"]);
        let chain: Vec<Value> = (0..super::MAX_EDGES).map(|i| json!([i, i + 1])).collect();
        let started = Instant::now();
        let out = call(&r, json!({"operation": "topological_sort", "edges": chain}));
        assert_eq!(out["order"].as_array().unwrap().len(), super::MAX_EDGES + 1);
        assert_eq!(out["order"][0], "0");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
