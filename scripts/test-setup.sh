#!/bin/sh
# What `cargo test --release` needs beyond a Rust toolchain and Python 3, installed when
# missing:
# - CMake >= 3.26, from PyPI: HDF5 is built from source and linked statically (Debian 12's
#   CMake is 3.25);
# - Chromium, from Debian's packages: the HTML report's test renders the page in headless
#   Chromium (src/tests/browser.rs). It needs root (or password-less sudo) and apt-get; where
#   neither is at hand this says so, and that one test fails naming what is missing.
set -eu

python3 -m pip install --quiet 'cmake>=3.26'

has() { command -v "$1" >/dev/null 2>&1; }
if has chromium || has chromium-browser || has google-chrome; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && has apt-get; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
elif has sudo && has apt-get && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    echo "test-setup: Chromium is not installed and cannot be installed here (needs root or" \
        "sudo, and apt-get); install it yourself, or set ECHO_RUNNER_SKIP_BROWSER=1 to skip" \
        "the browser test" >&2
fi
