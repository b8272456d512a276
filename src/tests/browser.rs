//! The HTML report, opened in headless Chromium: the page renders (the screenshot is not
//! blank) and the table is in its DOM. Chromium must be installed (`scripts/test-setup.sh`,
//! part of README's test command, installs Debian's `chromium`); without it this test fails
//! and says so: a machine that cannot have Chromium leaves it out visibly, with
//! `cargo test --release -- --skip browser`.

use std::fs;
use std::process::Command;

use crate::reports::png_stats;
use crate::trained::trained;

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success()))
        .map(String::from)
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        panic!(
            "chromium is not on PATH: run scripts/test-setup.sh (installs Debian's chromium), \
             or leave this test out with `cargo test --release -- --skip browser`"
        );
    };
    let t = trained();
    let run =
        t.runner(&["report", "e.toml", "f.toml", "--format", "html", "--out", "html/report.html"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let page = t.path().join("html/report.html");
    let html = fs::read_to_string(&page).unwrap();
    // Self-contained: figures inline, nothing fetched.
    assert!(
        html.contains("<svg") && !html.contains("src=\"http") && !html.contains("<script"),
        "not self-contained"
    );
    let url = format!("file://{}", page.display());
    let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];
    let shot = t.path().join("html/shot.png");
    let out = Command::new(&browser)
        .args(flags)
        .arg("--window-size=1280,900")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success() && shot.is_file(),
        "screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h, colours, inked) = png_stats(&fs::read(&shot).unwrap());
    assert!(w >= 1000 && h >= 600, "{w}×{h}");
    assert!(
        colours > 50 && inked > 0.02,
        "the page looks blank: {colours} colours, {inked:.3} of pixels inked"
    );
    let dom = Command::new(&browser)
        .args(flags)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let names: Vec<String> = [&t.full, &t.partial]
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for needle in [
        "<table",
        "Abnormal recall (CV)",
        "model.temporal.dwconv_kernel",
        "1/3 (incomplete)",
        "Phase 3",
        &names[0],
        &names[1],
        "<details",
    ] {
        assert!(dom.contains(needle), "{needle:?} is not in the rendered DOM");
    }
    // Each row's resolved config is folded under it.
    assert!(
        dom.contains("dwconv_kernel = 5") && dom.contains("dwconv_kernel = 3"),
        "resolved configs missing"
    );
}
