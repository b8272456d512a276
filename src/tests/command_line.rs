//! What every command shares: closed sets of words checked by the parser, and output into a
//! pipe that closes early.

use crate::support::{Scratch, VALID};
use crate::trained::trained;

#[test]
fn a_closed_standard_output_ends_the_command_quietly_with_status_0() {
    let t = trained();
    t.scratch.write("pipe.toml", VALID);
    let full = t.full.to_str().expect("a UTF-8 path");
    for args in [
        &["schema"][..],
        &["validate", "pipe.toml", "--print-resolved"],
        &["report", full, "--format", "html"],
        &["report", full],
        &["status", full],
        &["--help"],
    ] {
        let run = t.scratch.runner_into_closed_pipe(args);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{args:?}");
    }
}

#[test]
fn a_word_outside_a_closed_set_is_refused_naming_the_set() {
    let s = Scratch::new();
    for (args, listed) in [
        (&["bench", "models", "--precision", "fp64"][..], "[possible values: fp32, bf16, f16]"),
        (&["bench", "steps", "--backend", "tpu"], "[possible values: cpu, cuda, wgpu]"),
        (&["bench", "models", "--swin", "huge"], "[possible values: micro, tiny, small, base]"),
        (&["report", "x", "--format", "pdf"], "[possible values: md, csv, latex, json, html]"),
        (&["report", "x", "--test", "worst"], "[possible values: best-fold, ensemble]"),
    ] {
        let run = s.runner(args, &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let word = args.last().expect("a word");
        assert!(run.stderr.contains(&format!("invalid value '{word}'")), "{}", run.stderr);
        assert!(run.stderr.contains(listed), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    // `--help` lists them too, with what each means where that is not obvious.
    let help = s.runner(&["bench", "models", "--help"], &[]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    for needle in [
        "- fp32",
        "- bf16",
        "- f16",
        "GradScaler",
        "- cuda",
        "- micro",
        "src/bench/torch_reference.py",
    ] {
        assert!(help.stdout.contains(needle), "{needle:?} missing:\n{}", help.stdout);
    }
}
