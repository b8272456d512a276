//! The layering rule, kept by a test: no import cycles, neither between the crate's top-level
//! modules nor between the files of one of them, and no Burn in `src/kernels`.
//!
//! The library's files are found from `src/lib.rs` by following its `mod` declarations, so the
//! binary's side (`main.rs`, `cli`) and the integration tests (`src/tests`) are not part of
//! the graph, and a new top-level module takes part as soon as `lib.rs` declares it.
//!
//! A reference is a path that names the crate's own items: `crate::…`, `super::…`, `self::…`,
//! a child module's name, or a name a `use` brought in, in a `use` item or anywhere in code
//! (comments and string literals are skipped). Each one is an edge of two graphs:
//! - between top-level modules: the first segment of the absolute path, when it is not the
//!   file's own top-level module; a re-export counts, it ties a module to what it re-exports;
//! - between the files of one top-level module: to the file that defines the named item. A
//!   name that a module only re-exports (`pub use child::Item`, or a glob) is followed to the
//!   file that defines it, so `super::Item` names the file it comes from, not `mod.rs`.
//!
//! A folder's `mod.rs` is the module itself, not a peer of the files under it: they may use
//! what it defines, and it declares, re-exports and uses them. So references between a file
//! and the files of its own ancestors or descendants are no edges; a cycle is a loop between
//! files neither of which contains the other (siblings, cousins), including a loop that runs
//! through a parent's re-exports.
//!
//! Code under `#[cfg(test)]` (an item, or a whole file declared so) makes no edges: a test may
//! build its fixtures from any part of the crate (a scan test generating a synthetic dataset)
//! without tying the library's modules together. The rule on Burn reads test code too.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// The tokens of `src` with their 1-based lines; comments, string, char and number literals
/// and lifetimes are left out.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&chars, i) {
            line += chars[i..end].iter().filter(|&&c| c == '\n').count();
            i = end;
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            i += if c == 'b' { 2 } else { 1 };
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
        } else if c == '\'' || (c == 'b' && at(i + 1) == '\'') {
            // A char literal ('x', '\n', b'x') or a lifetime ('a).
            let start = if c == 'b' { i + 1 } else { i };
            if at(start + 1) == '\\' {
                i = start + 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(start + 2) == '\'' {
                i = start + 3;
            } else {
                i = start + 1;
                while is_ident_char(at(i)) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() {
            while is_ident_char(at(i)) || (at(i) == '.' && at(i + 1).is_ascii_digit()) {
                i += 1;
            }
        } else if is_ident_char(c) {
            let start = if c == 'r' && at(i + 1) == '#' { i + 2 } else { i };
            i = start;
            while is_ident_char(at(i)) {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), line));
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Where a raw string literal (`r"…"`, `r#"…"#`, `br"…"`) starting at `i` ends.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + usize::from(chars[i] == 'b');
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') || (i > 0 && is_ident_char(chars[i - 1])) {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(chars.len())
}

/// A module path from the crate root, e.g. `["train", "fit"]`.
type ModPath = Vec<String>;

/// One path a file names, as written: its segments (`*` for a glob) and its line.
#[derive(Debug, Clone)]
struct Reference {
    /// The module the path is written in (a file's module or an inline module in it).
    scope: ModPath,
    segments: Vec<String>,
    line: usize,
    /// Written in code that is compiled for tests only.
    test: bool,
}

/// A `use` binding: the name it brings into `scope`, and the path it names.
#[derive(Debug, Clone)]
struct Import {
    name: Option<String>,
    segments: Vec<String>,
}

#[derive(Debug, Default)]
struct Module {
    /// The file that holds it (inline modules are held by their file).
    file: PathBuf,
    children: BTreeSet<String>,
    /// Names of items defined in it (`struct`, `fn`, `const`, …).
    items: BTreeSet<String>,
    imports: Vec<Import>,
}

/// One file of the library (its path relative to the crate's `src`).
#[derive(Debug)]
struct File {
    module: ModPath,
    refs: Vec<Reference>,
    /// Declared under `#[cfg(test)]` (itself or a module above it).
    test: bool,
}

/// The library as a module tree with every reference its files make.
#[derive(Debug, Default)]
struct Crate {
    modules: BTreeMap<ModPath, Module>,
    files: BTreeMap<PathBuf, File>,
    /// Lines of `burn…::` paths per file, test code included, for the rule on `kernels`.
    burn: BTreeMap<PathBuf, Vec<usize>>,
}

const ITEM_KEYWORDS: &[&str] =
    &["struct", "enum", "fn", "const", "static", "type", "trait", "union"];

impl Crate {
    /// Reads the library rooted at `lib.rs`, taking each file's text from `read` (paths
    /// relative to `src`).
    fn load(read: &dyn Fn(&Path) -> Option<String>) -> Crate {
        let mut krate = Crate::default();
        let mut pending = vec![(PathBuf::from("lib.rs"), ModPath::new(), false)];
        while let Some((file, module, test)) = pending.pop() {
            let text = read(&file).unwrap_or_else(|| panic!("src/{} is missing", file.display()));
            for (child_file, child, child_test) in krate.scan(&file, &module, test, &text) {
                let found = [child_file.with_extension("rs"), child_file.join("mod.rs")]
                    .into_iter()
                    .find(|p| read(p).is_some())
                    .unwrap_or_else(|| {
                        panic!("src/{}: no file for `mod {}`", file.display(), child.join("::"))
                    });
                pending.push((found, child, test || child_test));
            }
        }
        krate
    }

    /// Records what `file` (module `module`, compiled for tests only if `test`) declares and
    /// references; returns its child modules that live in files of their own: where (without
    /// extension), their module paths, and whether they are declared under `#[cfg(test)]`.
    fn scan(
        &mut self,
        file: &Path,
        module: &ModPath,
        test: bool,
        text: &str,
    ) -> Vec<(PathBuf, ModPath, bool)> {
        let toks = tokenize(text);
        let ident = |i: usize| match toks.get(i) {
            Some((Tok::Ident(s), _)) => Some(s.as_str()),
            _ => None,
        };
        let is = |i: usize, t: Tok| toks.get(i).map(|(k, _)| k) == Some(&t);
        // Children of `lib.rs`, `mod.rs` and `main.rs` live in its folder, those of `x.rs`
        // in `x/`.
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        let dir = if ["lib", "mod", "main"].contains(&stem) { dir } else { dir.join(stem) };

        self.modules.entry(module.clone()).or_default().file = file.to_path_buf();
        let mut refs = Vec::new();
        let mut children = Vec::new();
        let mut burn = Vec::new();
        // The inline modules open around the current token: (name, brace depth at `{`).
        let mut inline: Vec<(String, usize)> = Vec::new();
        let mut depth = 0;
        // The last token of the `#[cfg(test)]` item the current token is in.
        let mut test_until = None;
        let mut i = 0;
        while i < toks.len() {
            let scope: ModPath =
                module.iter().cloned().chain(inline.iter().map(|(n, _)| n.clone())).collect();
            let line = toks[i].1;
            if test_until.is_none_or(|end| i > end) && is_cfg_test(&toks, i) {
                test_until = Some(item_end(&toks, i + 7));
            }
            let test = test || test_until.is_some_and(|end| i <= end);
            match &toks[i].0 {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth -= 1;
                    if inline.last().is_some_and(|(_, d)| *d == depth) {
                        inline.pop();
                    }
                }
                Tok::Ident(kw) if kw == "mod" => {
                    if let Some(name) = ident(i + 1) {
                        let child: ModPath =
                            scope.iter().cloned().chain([name.to_owned()]).collect();
                        self.modules.entry(scope.clone()).or_default().children.insert(name.into());
                        if is(i + 2, Tok::Punct('{')) {
                            self.modules.entry(child).or_default().file = file.to_path_buf();
                            inline.push((name.into(), depth));
                            depth += 1;
                            i += 3;
                            continue;
                        }
                        let at = inline.iter().fold(dir.clone(), |d, (n, _)| d.join(n));
                        children.push((at.join(name), child, test));
                        i += 2;
                        continue;
                    }
                }
                Tok::Ident(kw) if kw == "use" && !is(i + 1, Tok::Punct('<')) => {
                    let end =
                        (i..toks.len()).find(|&j| is(j, Tok::Punct(';'))).unwrap_or(toks.len());
                    for (segments, name) in use_tree(&toks[i + 1..end]) {
                        self.modules
                            .entry(scope.clone())
                            .or_default()
                            .imports
                            .push(Import { name, segments: segments.clone() });
                        refs.push(Reference { scope: scope.clone(), segments, line, test });
                    }
                    i = end;
                    continue;
                }
                Tok::Ident(kw) if ITEM_KEYWORDS.contains(&kw.as_str()) => {
                    if let Some(name) = ident(i + 1) {
                        self.modules.entry(scope.clone()).or_default().items.insert(name.into());
                    }
                }
                Tok::Ident(first) if is(i + 1, Tok::Path) && !(i > 0 && is(i - 1, Tok::Path)) => {
                    if first == "burn" || first.starts_with("burn_") {
                        burn.push(line);
                    }
                    let mut segments = vec![first.clone()];
                    let mut j = i + 1;
                    while is(j, Tok::Path)
                        && let Some(s) = ident(j + 1)
                    {
                        segments.push(s.to_owned());
                        j += 2;
                    }
                    refs.push(Reference { scope, segments, line, test });
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        // A `use` of `burn…` is caught in its tree as well.
        for r in &refs {
            if r.segments[0] == "burn" || r.segments[0].starts_with("burn_") {
                burn.push(r.line);
            }
        }
        burn.sort_unstable();
        burn.dedup();
        if !burn.is_empty() {
            self.burn.insert(file.to_path_buf(), burn);
        }
        self.files.insert(file.to_path_buf(), File { module: module.clone(), refs, test });
        children
    }

    /// The absolute module path `segments` (written in `scope`) names, or `None` when it
    /// names something outside the crate.
    fn absolute(&self, scope: &ModPath, segments: &[String], hops: usize) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        let mut base = scope.clone();
        let mut rest = rest;
        match first.as_str() {
            "crate" => base.clear(),
            "self" => {}
            "super" => {
                base.pop();
                while let Some((s, r)) = rest.split_first()
                    && s == "super"
                {
                    base.pop();
                    rest = r;
                }
            }
            name => {
                let module = self.modules.get(scope)?;
                if module.children.contains(name) {
                    rest = segments;
                } else if hops > 0
                    && let Some(import) =
                        module.imports.iter().find(|im| im.name.as_deref() == Some(name))
                {
                    // A name brought in by a `use` of the same module: the path it stands for.
                    let mut via = import.segments.clone();
                    via.extend(rest.iter().cloned());
                    return self.absolute(scope, &via, hops - 1);
                } else {
                    return None;
                }
            }
        }
        Some(base.into_iter().chain(rest.iter().cloned()).collect())
    }

    /// The module whose file defines what the absolute path `path` names: through child
    /// modules, then through the imports (named or glob) of the module reached.
    fn defining_module(&self, path: &[String], hops: usize) -> ModPath {
        let mut at = ModPath::new();
        for (k, segment) in path.iter().enumerate() {
            let Some(module) = self.modules.get(&at) else { break };
            if segment == "*" {
                break;
            }
            if module.children.contains(segment) {
                at.push(segment.clone());
                continue;
            }
            if module.items.contains(segment) || hops == 0 {
                break;
            }
            let follow = |via: &[String]| {
                let abs = self.absolute(&at, via, 4)?;
                Some(self.defining_module(&[&abs[..], &path[k + 1..]].concat(), hops - 1))
            };
            if let Some(import) = module.imports.iter().find(|im| im.name.as_ref() == Some(segment))
                && let Some(found) = follow(&import.segments)
            {
                return found;
            }
            for glob in module.imports.iter().filter(|im| im.name.is_none()) {
                let mut via = glob.segments.clone();
                via.pop();
                via.push(segment.clone());
                if let Some(found) = follow(&via)
                    && found != at
                    && self.modules.get(&found).is_some_and(|m| {
                        m.items.contains(segment)
                            || m.children.contains(segment)
                            || m.imports.iter().any(|im| im.name.as_ref() == Some(segment))
                    })
                {
                    return found;
                }
            }
            break;
        }
        at
    }

    fn file_of(&self, module: &ModPath) -> &Path {
        &self.modules[module].file
    }

    /// Both graphs: between top-level modules, and between the files of each one.
    fn graphs(&self) -> (Graph, BTreeMap<String, Graph>) {
        let mut top = Graph::default();
        let mut within: BTreeMap<String, Graph> = BTreeMap::new();
        for (file, File { module, refs, .. }) in &self.files {
            let Some(stage) = module.first() else { continue };
            for r in refs.iter().filter(|r| !r.test) {
                let Some(abs) = self.absolute(&r.scope, &r.segments, 4) else { continue };
                let Some(target_stage) = abs.first() else { continue };
                let shown =
                    format!("src/{}:{} ({})", file.display(), r.line, r.segments.join("::"));
                if target_stage != stage {
                    top.add(stage.clone(), target_stage.clone(), shown);
                    continue;
                }
                let target_file = self.file_of(&self.defining_module(&abs, 8));
                let target = &self.files[target_file].module;
                if target.starts_with(module) || module.starts_with(target) {
                    continue;
                }
                within.entry(stage.clone()).or_default().add(
                    format!("src/{}", file.display()),
                    format!("src/{}", target_file.display()),
                    format!("line {} ({})", r.line, r.segments.join("::")),
                );
            }
        }
        (top, within)
    }
}

/// Whether the tokens at `i` are `#[cfg(test)]`.
fn is_cfg_test(toks: &[(Tok, usize)], i: usize) -> bool {
    let want = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    toks.len() >= i + want.len() && toks[i..i + want.len()].iter().map(|(t, _)| t).eq(&want)
}

/// The last token of the item that starts at `i` (after its attributes): its `;`, or the `}`
/// that closes its body.
fn item_end(toks: &[(Tok, usize)], i: usize) -> usize {
    let mut nesting = 0usize;
    let mut in_body = false;
    for (k, (t, _)) in toks.iter().enumerate().skip(i) {
        match t {
            Tok::Punct('(' | '[') => nesting += 1,
            Tok::Punct('{') => {
                in_body |= nesting == 0;
                nesting += 1;
            }
            Tok::Punct(')' | ']') => nesting = nesting.saturating_sub(1),
            Tok::Punct('}') => {
                nesting = nesting.saturating_sub(1);
                if nesting == 0 && in_body {
                    return k;
                }
            }
            Tok::Punct(';') if nesting == 0 => return k,
            _ => {}
        }
    }
    toks.len()
}

/// The paths of a `use` tree (tokens between `use` and `;`), each with the name it binds
/// (`None` for a glob).
fn use_tree(toks: &[(Tok, usize)]) -> Vec<(Vec<String>, Option<String>)> {
    fn walk(
        toks: &[(Tok, usize)],
        i: &mut usize,
        prefix: &[String],
        out: &mut Vec<(Vec<String>, Option<String>)>,
    ) {
        let mut path = prefix.to_vec();
        while *i < toks.len() {
            match &toks[*i].0 {
                Tok::Path => *i += 1,
                Tok::Punct('*') => {
                    *i += 1;
                    path.push("*".into());
                    out.push((path, None));
                    return;
                }
                Tok::Punct('{') => {
                    *i += 1;
                    loop {
                        match toks.get(*i).map(|t| &t.0) {
                            None => return,
                            Some(Tok::Punct('}')) => {
                                *i += 1;
                                return;
                            }
                            Some(Tok::Punct(',')) => *i += 1,
                            Some(_) => walk(toks, i, &path, out),
                        }
                    }
                }
                Tok::Ident(s) => {
                    *i += 1;
                    let is_self = s == "self" && !path.is_empty();
                    if !is_self {
                        path.push(s.clone());
                    }
                    if !matches!(toks.get(*i).map(|t| &t.0), Some(Tok::Path)) {
                        let mut name = path.last().cloned();
                        if let (Some((Tok::Ident(kw), _)), Some((Tok::Ident(alias), _))) =
                            (toks.get(*i), toks.get(*i + 1))
                            && kw == "as"
                        {
                            name = (alias != "_").then(|| alias.clone());
                            *i += 2;
                        }
                        out.push((path, name));
                        return;
                    }
                }
                _ => {
                    *i += 1;
                    return;
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        walk(toks, &mut i, &[], &mut out);
    }
    out
}

/// A directed graph whose edges carry where they come from.
#[derive(Debug, Default)]
struct Graph {
    edges: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl Graph {
    fn add(&mut self, from: String, to: String, why: String) {
        self.edges.entry(from).or_default().entry(to).or_default().push(why);
    }

    fn targets(&self, from: &str) -> impl Iterator<Item = &String> {
        self.edges.get(from).into_iter().flat_map(|m| m.keys())
    }

    /// The loops of the graph: every pair of nodes that reach each other directly, and for
    /// every node on a loop the shortest loop through it; each loop once, as its nodes in
    /// order from its least one, which is repeated at the end.
    fn cycles(&self) -> Vec<Vec<String>> {
        let nodes: BTreeSet<&String> =
            self.edges.keys().chain(self.edges.values().flat_map(|m| m.keys())).collect();
        let reach = |from: &String| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from];
            while let Some(n) = stack.pop() {
                for t in self.targets(n) {
                    if seen.insert(t) {
                        stack.push(t);
                    }
                }
            }
            seen
        };
        let mut loops = BTreeSet::new();
        for (a, targets) in &self.edges {
            for b in targets.keys().filter(|&b| a < b && self.targets(b).any(|t| t == a)) {
                loops.insert(vec![a.clone(), b.clone(), a.clone()]);
            }
        }
        for &n in &nodes {
            let from_n = reach(n);
            if !from_n.contains(n) {
                continue;
            }
            let group: BTreeSet<&String> =
                from_n.into_iter().filter(|m| reach(m).contains(n)).collect();
            let mut path = self.shortest_loop(n, &group);
            path.pop();
            let least = (0..path.len()).min_by_key(|&k| &path[k]).unwrap_or(0);
            path.rotate_left(least);
            path.push(path[0].clone());
            loops.insert(path);
        }
        loops.into_iter().collect()
    }

    /// The shortest path from `start` back to itself inside `group` (breadth first).
    fn shortest_loop(&self, start: &String, group: &BTreeSet<&String>) -> Vec<String> {
        let mut parent: BTreeMap<&String, &String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            for t in self.targets(n).filter(|t| group.contains(t)) {
                if t == start {
                    let mut path = vec![start.clone()];
                    let mut at = n;
                    while at != start {
                        path.push(at.clone());
                        at = parent[at];
                    }
                    path.push(start.clone());
                    path.reverse();
                    return path;
                }
                if !parent.contains_key(t) {
                    parent.insert(t, n);
                    queue.push_back(t);
                }
            }
        }
        unreachable!("{start} is in a cycle")
    }

    /// A loop as text: each step with the references that make it (the first few).
    fn describe(&self, path: &[String]) -> String {
        let mut text = path.join(" → ");
        for pair in path.windows(2) {
            let why = &self.edges[&pair[0]][&pair[1]];
            let shown: Vec<&str> = why.iter().take(3).map(String::as_str).collect();
            let more =
                if why.len() > 3 { format!(" and {} more", why.len() - 3) } else { String::new() };
            text += &format!("\n    {} → {}: {}{more}", pair[0], pair[1], shown.join(", "));
        }
        text
    }
}

/// Every import cycle, one paragraph each: between top-level modules, then between the files
/// of each top-level module.
fn cycles(krate: &Crate) -> Vec<String> {
    let (top, within) = krate.graphs();
    let mut out = Vec::new();
    for cycle in top.cycles() {
        out.push(format!("top-level modules import each other: {}", top.describe(&cycle)));
    }
    for (stage, graph) in &within {
        for cycle in graph.cycles() {
            out.push(format!("files of `{stage}` import each other: {}", graph.describe(&cycle)));
        }
    }
    out
}

/// The files of `kernels` that name a `burn…` crate, with the lines.
fn burn_in_kernels(krate: &Crate) -> Vec<String> {
    krate
        .burn
        .iter()
        .filter(|(file, _)| {
            krate.files[*file].module.first().map(String::as_str) == Some("kernels")
        })
        .map(|(file, lines)| format!("src/{} names Burn on lines {lines:?}", file.display()))
        .collect()
}
