//! The files that come from the code stay what the code generates, and the code keeps
//! its shape: `template.yaml`'s functions and the `cargo lambda watch` router come from
//! `shared::routes`, the migration list names exactly `migrations/*.sql`, and no module
//! of `shared` imports from a module that imports it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `file` as checked in, and `file` with its generated region rewritten from the code by
/// the same function `connector generate` uses.
fn checked_in_and_regenerated(file: &str, generated: &str) -> (String, String) {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let regenerated =
        shared::deploy::replace_region(&text, generated).unwrap_or_else(|| panic!("{file} has no generated region"));
    (text, regenerated)
}

#[test]
fn template_yaml_functions_are_what_the_code_generates() {
    let (checked_in, regenerated) = checked_in_and_regenerated("template.yaml", &shared::deploy::template_functions());
    assert_eq!(
        checked_in, regenerated,
        "template.yaml's functions are stale: run `cargo run -p connector -- generate` and commit it"
    );
}

#[test]
fn the_cargo_lambda_watch_router_is_what_the_code_generates() {
    let (checked_in, regenerated) = checked_in_and_regenerated("Cargo.toml", &shared::deploy::watch_router());
    assert_eq!(
        checked_in, regenerated,
        "Cargo.toml's watch router is stale: run `cargo run -p connector -- generate` and commit it"
    );
}

#[test]
fn every_action_is_a_function_with_its_route_in_the_template() {
    let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    for action in shared::actions::ACTIONS {
        let function = shared::routes::function(&action.function_name());
        assert_eq!(function.routes(), [(action.method.clone(), action.path())], "{}", action.name);
        assert!(template.contains(&format!("Binary: {}\n", action.function_name())), "{}", action.name);
        assert!(template.contains(&format!("Path: {}\n", action.path())), "{}", action.name);
    }
}

#[test]
fn the_migration_list_names_exactly_the_sql_files() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".sql"))
        .map(|name| name.trim_end_matches(".sql").to_owned())
        .collect();
    files.sort();
    let listed: Vec<String> = shared::store::migrate::MIGRATIONS.iter().map(|m| m.name.to_owned()).collect();
    assert_eq!(listed, files, "shared::store::migrate::MIGRATIONS and migrations/*.sql differ");
    for migration in shared::store::migrate::MIGRATIONS {
        let on_disk =
            std::fs::read_to_string(root().join("migrations").join(format!("{}.sql", migration.name))).unwrap();
        assert_eq!(migration.sql, on_disk, "{} is not the file compiled in", migration.name);
    }
}

/// `shared`'s top-level modules and, for each, the top-level modules it names as
/// `crate::<module>` (doc comments and tests left out).
fn module_imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("shared/src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            let module = relative.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
            if module == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let imports = graph.entry(module.clone()).or_default();
            for line in code.lines().map(str::trim_start).filter(|l| !l.starts_with("//")) {
                let mut rest = line;
                while let Some(at) = rest.find("crate::") {
                    rest = &rest[at + "crate::".len()..];
                    let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() && name != module {
                        imports.insert(name.clone());
                    }
                    // `use crate::{a, b};`
                    if name.is_empty() && rest.starts_with('{') {
                        let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
                        for item in group.split(',') {
                            let item = item.trim().split("::").next().unwrap_or("").trim();
                            if !item.is_empty() && item != module {
                                imports.insert(item.to_owned());
                            }
                        }
                    }
                }
            }
        }
    }
    graph
}

#[test]
fn no_module_of_shared_imports_from_one_that_imports_it_back() {
    let graph = module_imports();
    assert!(graph.len() > 20, "the scan found too few modules: {graph:?}");
    // Depth-first search for a cycle; report the first found as a path.
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
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("shared has a module cycle: {}", cycle.join(" -> "));
        }
    }
    // http is plumbing: it imports no route module.
    let http = &graph["http"];
    for route_module in ["actions", "oauth", "dexter", "operator", "routes", "discovery", "openapi"] {
        assert!(!http.contains(route_module), "http imports {route_module}");
    }
}
