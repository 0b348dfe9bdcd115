//! Every workspace member's README states the crates it must not depend on, on one
//! line `Must not depend on: a, b, c` (package names, `[workspace.dependencies]` aliases
//! such as `careflow-solvers`, or external crates; a trailing `*` matches a prefix).
//! This test reads `cargo metadata` and fails when a member's normal or build
//! dependencies include one of them. An optional line `Must not reach: x, y` forbids
//! crates anywhere below the member's normal and build dependencies. The test kit is
//! dev-only: no member names it outside `[dev-dependencies]`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const DIRECT: &str = "Must not depend on:";
const TRANSITIVE: &str = "Must not reach:";
const TESTKIT: &str = "careflow-testkit";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit sits in the workspace")
        .to_owned()
}

/// `cargo metadata` with `args`, for this workspace.
fn metadata(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .args(args)
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The platform the tests run on, so that the full metadata needs only the packages a
/// build here downloads.
fn host() -> String {
    let rustc = Path::new(env!("CARGO")).with_file_name("rustc");
    let rustc = if rustc.is_file() {
        rustc
    } else {
        PathBuf::from("rustc")
    };
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host")
}

/// Crate names compare as Cargo does on crates.io: `-` and `_` alike.
fn norm(name: &str) -> String {
    name.replace('_', "-")
}

/// package name -> its `[workspace.dependencies]` aliases (`types` -> `careflow-types`).
fn aliases() -> HashMap<String, Vec<String>> {
    let text = std::fs::read_to_string(workspace_root().join("Cargo.toml")).expect("Cargo.toml");
    let manifest: toml::Table = text.parse().expect("Cargo.toml parses");
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let deps = manifest["workspace"]["dependencies"]
        .as_table()
        .expect("[workspace.dependencies]");
    for (alias, spec) in deps {
        let package = spec
            .get("package")
            .and_then(|p| p.as_str())
            .unwrap_or(alias);
        out.entry(norm(package)).or_default().push(norm(alias));
    }
    out
}

/// A crate's names: its package name, the name it is renamed to, and its aliases.
fn names(
    package: &str,
    rename: Option<&str>,
    aliases: &HashMap<String, Vec<String>>,
) -> Vec<String> {
    let mut n = vec![norm(package)];
    n.extend(rename.map(norm));
    n.extend(aliases.get(&norm(package)).into_iter().flatten().cloned());
    n
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// A rule line of a README: the line itself and the crate patterns it names.
struct Rule {
    line: String,
    patterns: Vec<String>,
}

/// The line of `readme` starting with `prefix`, if any, or what is wrong with it: an
/// entry that is not a crate name (prose such as "the CLI" cannot be checked).
fn rule(readme: &Path, text: &str, prefix: &str) -> Result<Option<Rule>, String> {
    let Some(line) = text.lines().find(|l| l.trim_start().starts_with(prefix)) else {
        return Ok(None);
    };
    let rest = line.trim_start()[prefix.len()..]
        .trim()
        .trim_end_matches('.');
    let mut patterns = Vec::new();
    for p in rest.split(',').map(|p| p.trim().trim_matches('`').trim()) {
        let base = p.strip_suffix('*').unwrap_or(p);
        if base.is_empty()
            || !base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "{}: `{p}` in `{line}` is not a crate name (write package names, aliases such \
                 as careflow-store, or prefixes such as temporalio-*)",
                readme.display()
            ));
        }
        patterns.push(norm(p));
    }
    Ok(Some(Rule {
        line: line.trim().to_owned(),
        patterns,
    }))
}

/// Normal and build dependencies count; dev-dependencies do not.
fn shipped(kind: &Value) -> bool {
    kind.is_null() || kind == "build"
}

#[test]
fn crates_depend_only_on_what_their_readme_allows() {
    let meta = metadata(&["--no-deps"]);
    let full = metadata(&["--filter-platform", &host()]);
    let aliases = aliases();
    let members: HashSet<&str> = meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .filter_map(Value::as_str)
        .collect();

    // Every name a rule may use, to catch a misspelt one that would never match.
    let mut known: BTreeSet<String> = aliases.values().flatten().cloned().collect();
    let mut name_of: HashMap<&str, &str> = HashMap::new();
    for p in full["packages"].as_array().expect("packages") {
        let (id, name) = (p["id"].as_str().unwrap(), p["name"].as_str().unwrap());
        known.insert(norm(name));
        name_of.insert(id, name);
    }
    // package id -> ids of its normal and build dependencies, for `Must not reach`.
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for node in full["resolve"]["nodes"].as_array().expect("resolve graph") {
        let deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| shipped(&k["kind"])))
            })
            .map(|d| d["pkg"].as_str().unwrap())
            .collect();
        edges.insert(node["id"].as_str().unwrap(), deps);
    }

    let mut broken = Vec::new();
    let mut checked = 0;
    for package in meta["packages"].as_array().expect("packages") {
        let id = package["id"].as_str().unwrap();
        if !members.contains(id) {
            continue;
        }
        checked += 1;
        let name = package["name"].as_str().unwrap();
        let dir = Path::new(package["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap();
        let readme = dir.join("README.md");
        let text = match std::fs::read_to_string(&readme) {
            Ok(text) => text,
            Err(e) => {
                broken.push(format!(
                    "{name}: no README at {} ({e}): it must say the crate's job and \
                     `{DIRECT} a, b, c`",
                    readme.display()
                ));
                continue;
            }
        };
        let (direct, reach) = match (
            rule(&readme, &text, DIRECT),
            rule(&readme, &text, TRANSITIVE),
        ) {
            (Ok(Some(direct)), Ok(reach)) => (direct, reach),
            (Ok(None), _) => {
                broken.push(format!(
                    "{name}: {} has no line `{DIRECT} a, b, c`",
                    readme.display()
                ));
                continue;
            }
            (Err(e), _) | (_, Err(e)) => {
                broken.push(e);
                continue;
            }
        };
        for r in std::iter::once(&direct).chain(reach.iter()) {
            for p in &r.patterns {
                let named = match p.strip_suffix('*') {
                    Some(prefix) => known.iter().any(|k| k.starts_with(prefix)),
                    None => known.contains(p),
                };
                if !named {
                    broken.push(format!(
                        "{}: `{p}` in `{}` names no crate in this workspace's dependency graph",
                        readme.display(),
                        r.line
                    ));
                }
            }
        }

        let is_testkit = names(name, None, &aliases).iter().any(|n| n == TESTKIT);
        for dep in package["dependencies"].as_array().expect("dependencies") {
            if !shipped(&dep["kind"]) {
                continue;
            }
            let dep_names = names(
                dep["name"].as_str().unwrap(),
                dep["rename"].as_str(),
                &aliases,
            );
            let shown = dep["rename"]
                .as_str()
                .or(dep["name"].as_str())
                .unwrap_or_default();
            for p in &direct.patterns {
                if dep_names.iter().any(|n| matches(p, n)) {
                    broken.push(format!(
                        "{name} depends on {shown}, which {} forbids: `{}`",
                        readme.display(),
                        direct.line
                    ));
                }
            }
            if !is_testkit && dep_names.iter().any(|n| n == TESTKIT) {
                broken.push(format!(
                    "{name} depends on {TESTKIT} outside [dev-dependencies]: the test kit is dev-only"
                ));
            }
        }

        if let Some(reach) = &reach {
            // Breadth-first through normal and build dependencies, remembering the path.
            let mut via: HashMap<&str, &str> = HashMap::new();
            let mut queue = vec![id];
            while let Some(at) = queue.pop() {
                for &next in edges.get(at).into_iter().flatten() {
                    if next == id || via.contains_key(next) {
                        continue;
                    }
                    via.insert(next, at);
                    queue.insert(0, next);
                    let next_names = names(name_of[next], None, &aliases);
                    if let Some(p) = reach
                        .patterns
                        .iter()
                        .find(|p| next_names.iter().any(|n| matches(p, n)))
                    {
                        let mut path = vec![name_of[next]];
                        let mut step = next;
                        while let Some(&up) = via.get(step) {
                            path.push(name_of[up]);
                            step = up;
                        }
                        path.reverse();
                        broken.push(format!(
                            "{name} reaches {p} through {}, which {} forbids: `{}`",
                            path.join(" -> "),
                            readme.display(),
                            reach.line
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(checked, members.len(), "every workspace member checked");
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
