//! The layering rules of the guide, checked on berth's source: modules depend downward (cmd →
//! the feature modules → sandbox/store; among the features, container and build may use image
//! and network, network uses none of them), and no `unsafe` appears outside `src/sandbox`. Comments and string literals do not count; code does, wherever it is (test
//! modules included). Each finding is reported as file:line.

use std::path::{Path, PathBuf};

/// Each module with the modules above it, which it must not use.
const LAYERS: &[(&str, &[&str])] = &[
    ("src/store", &["cmd", "api", "compose", "container", "build", "network", "image", "sandbox"]),
    // The event journal sits beside the store: every feature module records into it.
    ("src/events", &["cmd", "api", "compose", "container", "build", "network", "image", "sandbox"]),
    ("src/sandbox", &["cmd", "api", "compose", "container", "build", "network", "image"]),
    ("src/image", &["cmd", "api", "compose", "container", "build", "network"]),
    ("src/network", &["cmd", "api", "compose", "container", "build", "image"]),
    ("src/build", &["cmd", "api", "compose"]),
    ("src/container", &["cmd", "api", "compose", "build"]),
    // compose sits over container, image, network and build, under cmd.
    ("src/compose", &["cmd", "api"]),
    // The API server likewise: it runs the library code the CLI runs.
    ("src/api", &["cmd", "compose"]),
];

/// The one place `unsafe` may appear.
const UNSAFE_HOME: &str = "src/sandbox";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// A module above it, used by a lower module.
    UpwardUse,
    /// `unsafe` outside `src/sandbox`.
    Unsafe,
}

/// One finding: file (relative to the crate), line (1-based), the line's text.
#[derive(Debug)]
struct Finding {
    file: String,
    line: usize,
    text: String,
    rule: Rule,
}

#[test]
fn lower_layers_do_not_use_upper_ones_and_unsafe_stays_in_the_sandbox() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut findings = Vec::new();
    for file in rust_files(&root.join("src")) {
        let relative = file.strip_prefix(root).expect("under the crate").to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{relative}: {e}"));
        let code = code_only(&source);
        let original: Vec<&str> = source.lines().collect();
        let mut found = |line: usize, rule: Rule| {
            let text = original.get(line - 1).map_or("", |l| l.trim()).to_owned();
            findings.push(Finding { file: relative.clone(), line, text, rule });
        };
        if let Some((_, above)) = LAYERS.iter().find(|(dir, _)| relative.starts_with(&format!("{dir}/"))) {
            for line in upward_uses(&code, module_depth(&relative), above) {
                found(line, Rule::UpwardUse);
            }
        }
        if !relative.starts_with(&format!("{UNSAFE_HOME}/")) {
            for line in unsafe_uses(&code) {
                found(line, Rule::Unsafe);
            }
        }
    }
    let problems: Vec<String> = findings
        .iter()
        .map(|f| {
            let what = match f.rule {
                Rule::UpwardUse => "a module uses one above it",
                Rule::Unsafe => "unsafe outside src/sandbox",
            };
            format!("{}:{}: {what}: {}", f.file, f.line, f.text)
        })
        .collect();
    assert!(problems.is_empty(), "layering rules broken:\n{}", problems.join("\n"));
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// How many modules deep a file is below the crate root: src/main.rs 0, src/image/mod.rs 1,
/// src/image/pull.rs 2, src/sandbox/cgroup/v1.rs 3.
fn module_depth(relative: &str) -> usize {
    let parts: Vec<&str> = relative.trim_start_matches("src/").split('/').collect();
    let last = parts.last().copied().unwrap_or("");
    parts.len() - usize::from(last == "mod.rs" || last == "main.rs")
}

/// `source` with comments, string literals and character literals blanked out (newlines kept,
/// so line numbers stay), leaving only code.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied().unwrap_or('\0');
        let word_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '/' && next == '/' {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if !word_before && raw_string_start(&chars, i).is_some() {
            let (prefix, hashes) = raw_string_start(&chars, i).expect("checked");
            let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let mut j = i + prefix;
            while j < chars.len() && !chars[j..].starts_with(&close) {
                j += 1;
            }
            let end = (j + close.len()).min(chars.len());
            out.extend(chars[i..end].iter().map(|&c| blank(c)));
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == '\\' || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\''); a lifetime ('a) has no closing quote.
            let mut j = i + 1;
            if next == '\\' {
                j += 2;
            }
            while j < chars.len() && chars[j] != '\'' {
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            out.extend(chars[i..end].iter().map(|&c| blank(c)));
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// At `i`, a raw string's opening (`r"`, `r#"`, `br##"`, …): its length and number of '#'.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    (chars.get(j) == Some(&'"')).then_some((j + 1 - i, hashes))
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first path segment of `text` (after whitespace): "container" of " container::x".
fn first_segment(text: &str) -> &str {
    let text = text.trim_start();
    &text[..text.find(|c: char| !is_ident(c)).unwrap_or(text.len())]
}

/// Lines (1-based) of `code` that name an upper layer through the crate root: `crate::cmd…`,
/// `crate::{container, …}`, or enough `super::`s to reach the root from a file `depth` modules
/// deep (or deeper, from an inline module such as `mod tests`).
fn upward_uses(code: &str, depth: usize, above: &[&str]) -> Vec<usize> {
    let mut lines = Vec::new();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let bytes = code.as_bytes();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let starts_word = at == 0 || !is_ident(bytes[at - 1] as char);
        let root_path = if !starts_word {
            None
        } else if let Some(tail) = rest.strip_prefix("crate") {
            Some((5, tail))
        } else if rest.starts_with("super") {
            let mut supers = 0;
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("super").and_then(|t| t.trim_start().strip_prefix("::")) {
                supers += 1;
                tail = t.trim_start();
            }
            (supers > 0 && supers >= depth).then_some((rest.len() - tail.len(), tail))
        } else {
            None
        };
        let Some((skip, tail)) = root_path else {
            at += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let tail = tail.trim_start().strip_prefix("::").unwrap_or(tail).trim_start();
        let named: Vec<&str> = match tail.strip_prefix('{') {
            Some(group) => top_level_items(group).into_iter().map(first_segment).collect(),
            None => vec![first_segment(tail)],
        };
        if named.iter().any(|n| above.contains(n)) {
            lines.push(line_of(at));
        }
        at += skip.max(1);
    }
    lines.dedup();
    lines
}

/// The comma-separated items of a `{…}` group whose opening brace was just consumed, up to its
/// closing brace: "a::b, c::{d, e}, f}" → ["a::b", " c::{d, e}", " f"].
fn top_level_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// Lines (1-based) of `code` with the keyword `unsafe` (blocks, functions, impls, traits).
fn unsafe_uses(code: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let found = line.match_indices("unsafe").any(|(i, _)| {
            let before = line[..i].chars().next_back().is_some_and(is_ident);
            let after = line[i + "unsafe".len()..].chars().next().is_some_and(is_ident);
            !before && !after
        });
        if found {
            lines.push(n + 1);
        }
    }
    lines
}

/// The checker itself: what counts, what does not, and where a finding is.
#[test]
fn the_layering_check_sees_uses_and_ignores_comments_and_strings() {
    let source = r##"use crate::store::Store;
use crate::{container::record::Ulimit, store};
// crate::container in a comment, and unsafe too
/* a block comment: crate::cmd /* nested */ unsafe */
let s = "crate::cmd::x and unsafe in a string";
let r = r#"unsafe "quoted" crate::container"#;
let c = '"'; let lifetime: &'static str = "";
fn f() { unsafe { g() } }
let x = crate::cmd::run();
let y = super::super::container::copy::copy_up;
let z = super::layer::unpack;
#![allow(unsafe_code)]
"##;
    let code = code_only(source);
    assert_eq!(code.lines().count(), source.lines().count(), "line numbers are kept");
    assert_eq!(upward_uses(&code, 2, &["container", "cmd"]), vec![2, 9, 10]);
    assert_eq!(upward_uses(&code, 3, &["container", "cmd"]), vec![2, 9], "three modules deep, two supers stay inside");
    assert_eq!(unsafe_uses(&code), vec![8]);
    assert_eq!(module_depth("src/sandbox/cgroup/v1.rs"), 3);
    assert_eq!(module_depth("src/image/mod.rs"), 1);
}
