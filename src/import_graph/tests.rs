use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Crate, burn_in_kernels, cycles};

fn this_crate() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    Crate::load(&|p: &Path| std::fs::read_to_string(src.join(p)).ok())
}

fn fixture(files: &[(&str, &str)]) -> Crate {
    let files: BTreeMap<PathBuf, String> =
        files.iter().map(|(p, t)| (PathBuf::from(p), (*t).to_owned())).collect();
    Crate::load(&|p: &Path| files.get(p).cloned())
}

#[test]
fn no_import_cycles_between_or_within_top_level_modules() {
    let found = cycles(&this_crate());
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn kernels_name_no_burn() {
    let found = burn_in_kernels(&this_crate());
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_graph_sees_the_crate_it_checks() {
    let krate = this_crate();
    let (top, within) = krate.graphs();
    // Walked from lib.rs: the library's modules, not the binary's.
    assert!(krate.files.contains_key(Path::new("train/fit.rs")));
    assert!(!krate.files.keys().any(|f| f.starts_with("tests") || f.starts_with("main.rs")));
    assert!(top.targets("run").any(|t| t == "train"), "{:?}", top.edges.get("run"));
    assert!(top.targets("config").any(|t| t == "train"), "{:?}", top.edges.get("config"));
    let train = &within["train"];
    assert!(train.targets("src/train/fold.rs").any(|t| t == "src/train/checkpoint.rs"));
}

#[test]
fn a_back_import_between_top_level_modules_is_a_cycle_naming_both_files() {
    let krate = fixture(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::{b::{self, B}, c};\npub struct A;\n"),
        ("b.rs", "pub struct B;\n\nfn f() -> crate::a::A {\n    crate::a::A\n}\n"),
    ]);
    let found = cycles(&krate);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("top-level modules import each other: a → b → a"), "{found:?}");
    assert!(found[0].contains("a → b: src/a.rs:1 (crate::b)"), "{found:?}");
    assert!(found[0].contains("b → a: src/b.rs:3 (crate::a::A), src/b.rs:4"), "{found:?}");
}

#[test]
fn a_loop_of_three_is_a_cycle() {
    let krate = fixture(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("a.rs", "use crate::b::X;\n"),
        ("b.rs", "use crate::c::Y;\npub struct X;\n"),
        ("c.rs", "pub struct Y;\nfn f() { let _ = crate::a::g(); }\n"),
    ]);
    let found = cycles(&krate);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("top-level modules import each other: a → b → c → a"));
}

#[test]
fn comments_strings_and_inline_tests_make_no_edges() {
    let krate = fixture(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "pub struct A;\nfn f() -> crate::b::B { crate::b::B }\n"),
        (
            "b.rs",
            "//! See [`crate::a::A`].\npub struct B;\n/* crate::a::A */\n\
             const S: &str = \"crate::a::A\";\nconst R: &str = r#\"crate::a::A\"#;\n\
             const C: char = '\"'; fn lt<'a>(x: &'a str) -> &'a str { x }\n\
             #[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
    ]);
    assert!(cycles(&krate).is_empty(), "{:?}", cycles(&krate));
}

/// A stage `s` whose `mod.rs` re-exports `x::X` and `y::Y`.
fn stage(x_rs: &str, y_rs: &str) -> Crate {
    fixture(&[
        ("lib.rs", "pub mod s;\n"),
        ("s/mod.rs", "mod x;\nmod y;\n\npub use x::X;\npub use y::*;\n"),
        ("s/x.rs", x_rs),
        ("s/y.rs", y_rs),
    ])
}

#[test]
fn a_parents_re_exports_are_no_cycle_with_its_children() {
    let krate = stage("use super::Y;\npub struct X;\n", "pub struct Y;\n");
    assert!(cycles(&krate).is_empty(), "{:?}", cycles(&krate));
    let (_, within) = krate.graphs();
    // `super::Y` is followed through the parent's glob to the file that defines it.
    let edges = &within["s"].edges;
    assert_eq!(edges.keys().collect::<Vec<_>>(), ["src/s/x.rs"]);
    assert!(edges["src/s/x.rs"].contains_key("src/s/y.rs"), "{edges:?}");
}

#[test]
fn a_cycle_through_a_parents_re_exports_is_found() {
    let krate = stage(
        "use super::Y;\npub struct X;\n",
        "pub struct Y;\nfn f() -> super::X { crate::s::X }\n",
    );
    let found = cycles(&krate);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .starts_with("files of `s` import each other: src/s/x.rs → src/s/y.rs → src/s/x.rs")
    );
    assert!(found[0].contains("src/s/y.rs → src/s/x.rs: line 2 (super::X), line 2 (crate::s::X)"));
}

#[test]
fn a_folder_leans_on_its_mod_rs_without_a_cycle() {
    let krate = fixture(&[
        ("lib.rs", "pub mod s;\n"),
        ("s/mod.rs", "mod x;\npub struct P;\nfn f() { x::g() }\n"),
        ("s/x.rs", "mod deep;\npub fn g() { let _ = super::P; }\n"),
        ("s/x/deep.rs", "fn h() { crate::s::x::g(); let _ = crate::s::P; }\n"),
    ]);
    assert!(cycles(&krate).is_empty(), "{:?}", cycles(&krate));
}

#[test]
fn cousins_in_nested_folders_are_peers() {
    let krate = fixture(&[
        ("lib.rs", "pub mod s;\n"),
        ("s/mod.rs", "mod x;\nmod y;\n"),
        ("s/x/mod.rs", "mod deep;\npub use deep::D;\n"),
        ("s/x/deep.rs", "pub struct D;\nfn f() { super::super::y::g(); }\n"),
        ("s/y.rs", "pub fn g() {}\nfn h() -> super::x::D { todo!() }\n"),
    ]);
    let found = cycles(&krate);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("src/s/x/deep.rs → src/s/y.rs: line 2 (super::super::y::g)"));
    assert!(found[0].contains("src/s/y.rs → src/s/x/deep.rs: line 2 (super::x::D)"));
}

#[test]
fn test_code_makes_no_edges() {
    let krate = fixture(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "pub struct A;\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\nuse crate::b::B;\n"),
        ("a/tests.rs", "use crate::b::B;\n"),
        (
            "b.rs",
            "pub struct B;\n#[cfg(test)]\n#[allow(dead_code)]\nfn f(_: [u8; 2]) -> crate::a::A {\n    \
             crate::a::A\n}\nfn g() -> crate::a::A { crate::a::A }\n",
        ),
    ]);
    let (top, _) = krate.graphs();
    assert!(krate.files[Path::new("a/tests.rs")].test);
    assert_eq!(top.edges.keys().collect::<Vec<_>>(), ["b"], "{:?}", top.edges);
    assert_eq!(top.edges["b"]["a"].len(), 2, "{:?}", top.edges);
}

#[test]
fn burn_is_found_in_kernels_only_test_code_included() {
    let krate = fixture(&[
        ("lib.rs", "mod kernels;\nmod ops;\n"),
        ("kernels/mod.rs", "mod conv;\n#[cfg(test)]\nmod checks;\n"),
        ("kernels/conv.rs", "use std::fmt;\nfn f() {\n    burn_flex::x();\n}\nuse burn::tensor;\n"),
        ("kernels/checks.rs", "use burn::backend::Flex;\n"),
        ("ops.rs", "use burn::tensor::Tensor;\n"),
    ]);
    assert_eq!(
        burn_in_kernels(&krate),
        [
            "src/kernels/checks.rs names Burn on lines [1]",
            "src/kernels/conv.rs names Burn on lines [3, 5]"
        ]
    );
}
