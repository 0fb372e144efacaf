//! README's Layout stays true: it names every entry directly in `src/` and nothing that is
//! gone, and no import points up the layers it states (flink/ at the bottom, clusters/
//! above it, api/, ui/, controller/ and discovery/ above that, runtime.rs and main.rs on top).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `src/...` names at the start of the lines of the Layout's code block.
fn named_in_layout() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("read README.md");
    let layout = readme
        .split_once("\n## Layout\n")
        .expect("README.md has a \"## Layout\" section")
        .1;
    let block = layout
        .split_once("\n```\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .expect("the Layout section has a code block")
        .0;
    block
        .lines()
        .filter_map(|line| line.strip_prefix("src/"))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The entries directly in `src/`: directories as `name/`, Rust files as `name.rs`.
fn in_src() -> BTreeSet<String> {
    std::fs::read_dir(root().join("src"))
        .expect("read src/")
        .map(|entry| entry.expect("a directory entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_string();
            if path.is_dir() {
                Some(format!("{name}/"))
            } else {
                name.ends_with(".rs").then_some(name)
            }
        })
        .collect()
}

#[test]
fn the_layout_names_every_entry_of_src_and_nothing_else() {
    let named = named_in_layout();
    let present = in_src();
    let missing: Vec<_> = present.difference(&named).collect();
    let gone: Vec<_> = named.difference(&present).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "README.md's Layout and src/ disagree. Not in the Layout (add a line `src/<name>  \
         what it is for`): {missing:?}. In the Layout but not in src/ (remove or rename \
         the line): {gone:?}"
    );
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The modules of the crate a line refers to as `crate::name` or `crate::{name, ...}`.
fn crate_modules(line: &str) -> Vec<String> {
    let mut modules = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        let rest = &line[at + "crate::".len()..];
        let names = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or_default(),
            None => rest,
        };
        for name in names.split(',') {
            let name: String = name
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                modules.push(name);
            }
        }
    }
    modules
}

#[test]
fn no_import_points_up_the_layers() {
    const WIRING: [&str; 2] = ["runtime", "cli"];
    let layers: [(&str, &[&str]); 6] = [
        (
            "flink",
            &["clusters", "api", "ui", "controller", "discovery"],
        ),
        ("clusters", &["api", "ui", "controller", "discovery"]),
        ("api", &[]),
        ("ui", &[]),
        ("controller", &[]),
        ("discovery", &[]),
    ];
    let mut upward = Vec::new();
    for (module, above) in layers {
        let mut files = Vec::new();
        rust_files(&root().join("src").join(module), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for (number, line) in text.lines().enumerate() {
                for used in crate_modules(line) {
                    if above.contains(&used.as_str()) || WIRING.contains(&used.as_str()) {
                        upward.push(format!(
                            "{}:{}: {module}/ uses crate::{used}",
                            file.strip_prefix(root()).unwrap_or(&file).display(),
                            number + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up the layers of README.md's Layout (move the code down, or \
         pass what it needs from runtime.rs):\n{}",
        upward.join("\n")
    );
}

#[test]
fn crate_paths_are_read_in_both_spellings() {
    assert_eq!(crate_modules("use crate::flink::dto;"), ["flink"]);
    assert_eq!(
        crate_modules("use crate::{controller, discovery::mapping};"),
        ["controller", "discovery"]
    );
    assert!(crate_modules("let crate_name = 1;").is_empty());
}
