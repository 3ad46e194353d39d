//! The module graph of this crate has no cycles: a unit test that reads the sources.
//!
//! Every top-level module (`client`, `keys`, `health`, ...) is a node; an edge `a -> b` is a
//! `crate::b` path (or a root re-export of an item of `b`) in code of `a` that is compiled
//! outside tests. Comments and `#[cfg(test)]` code are left out: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The sources of this crate: `(top-level module, path)`, test-only files left out.
fn sources(src: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut test_only = BTreeSet::new();
    let mut stack = vec![src.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("readable source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    // `#[cfg(test)] mod name;` declares a test-only file next to (or under) its parent.
    for file in &files {
        let text = fs::read_to_string(file).expect("readable source");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if pair[0] == "#[cfg(test)]"
                && let Some(name) = pair[1]
                    .trim_start_matches("pub(crate) ")
                    .strip_prefix("mod ")
                    .and_then(|rest| rest.strip_suffix(';'))
            {
                let stem = file.with_extension("");
                test_only.insert(stem.join(format!("{name}.rs")));
                test_only.insert(file.with_file_name(format!("{name}.rs")));
            }
        }
    }
    for file in files {
        if test_only.contains(&file) {
            continue;
        }
        let relative = file.strip_prefix(src).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a file name");
        let module = first.trim_end_matches(".rs").to_owned();
        out.push((module, file));
    }
    out
}

/// The code of `text` compiled outside tests: up to its first `#[cfg(test)]`, comments out.
fn non_test_code(text: &str) -> String {
    text.lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every `crate::` path in `code`, groups (`crate::{a, b::c}`) included.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').map(|item| ident(item.trim())));
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

/// Root names that stand for an item of a module: `pub use module::{..}` in `lib.rs`, and
/// what the generated module declares (re-exported with a glob).
fn root_names(src: &Path) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let lib = fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    for line in lib.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        let items = items
            .trim_end_matches(';')
            .trim_matches(|c| c == '{' || c == '}');
        for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            names.insert(item.to_owned(), module.to_owned());
        }
    }
    let generated = fs::read_to_string(src.join("generated/mod.rs")).expect("generated");
    for line in generated.lines().map(str::trim) {
        for prefix in ["pub mod ", "pub static ", "pub use "] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let name: String = rest
                    .rsplit("::")
                    .next()
                    .unwrap_or(rest)
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name, "generated".to_owned());
            }
        }
    }
    names
}

/// `module -> modules it uses`, outside tests.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let names = root_names(src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let files = sources(src);
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    for (module, file) in &files {
        if module == "lib" {
            continue;
        }
        let code = non_test_code(&fs::read_to_string(file).expect("readable source"));
        let uses = graph.entry(module.clone()).or_default();
        for name in crate_paths(&code) {
            let target = if modules.contains(&name) {
                Some(name)
            } else {
                names.get(&name).cloned()
            };
            if let Some(target) = target.filter(|t| t != module && t != "lib") {
                uses.insert(target);
            }
        }
    }
    graph
}

/// A cycle of `graph`, if any, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_module_graph_has_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(graph.contains_key("client") && graph["client"].contains("keys"));
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle: {}\nfull graph: {graph:#?}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    assert_eq!(
        crate_paths("use crate::{keys::KeyPool, spec};\nlet x = crate::auth::header;"),
        ["auth", "keys", "spec"].map(str::to_owned).into()
    );
}
