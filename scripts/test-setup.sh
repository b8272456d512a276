#!/bin/sh
# What `cargo test --release` needs beyond a Rust toolchain and Python 3, installed when
# missing:
# - CMake >= 3.26, from PyPI: HDF5 is built from source and linked statically (Debian 12's
#   CMake is 3.25);
# - Taplo, the checker behind TOML editors' schema support, from npm into
#   src/tests/editor/node_modules at the version its package-lock.json pins (Node.js and npm
#   from Debian's packages where they are missing): src/tests/editor_schema.rs runs
#   `taplo check` on the experiment files;
# - Chromium, from Debian's packages: the HTML report's test renders the page in headless
#   Chromium (src/tests/browser.rs);
# - fiu-utils (libfiu's fiu-run and fiu-ctrl), from Debian's packages: the fault-injection
#   tests fail writes, fsyncs, renames and opens of a run (src/tests/faults.rs);
# - TensorBoard and MLflow, from PyPI: the tracking tests read the event files back with
#   TensorBoard's readers and run a real MLflow server (src/tests/tracking.rs);
# - h5py, from PyPI: the clip cache's test reads it as h5py users do (src/tests/data_stage.rs).
# Debian's packages need root (or password-less sudo) and apt-get; where neither is at hand
# this says so, and the test that needs the package fails naming what is missing.
set -eu

python3 -m pip install --quiet 'cmake>=3.26'
python3 -m pip install --quiet 'tensorboard==2.21.0' 'mlflow==3.17.2' 'h5py==3.16.0'

has() { command -v "$1" >/dev/null 2>&1; }

updated=no
apt_install() {
    if [ "$(id -u)" = 0 ] && has apt-get; then
        sudo=
    elif has sudo && has apt-get && sudo -n true 2>/dev/null; then
        sudo="sudo"
    else
        return 1
    fi
    if [ "$updated" = no ]; then
        $sudo apt-get update -qq
        updated=yes
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Taplo as pinned, unless that version is installed already.
editor=src/tests/editor
taplo_pinned() {
    (cd "$editor" && node -e "const lock = require('./package-lock.json');
        const got = require('./node_modules/@taplo/cli/package.json').version;
        process.exit(got === lock.packages['node_modules/@taplo/cli'].version ? 0 : 1)") \
        2>/dev/null
}
if ! has npm && ! apt_install nodejs npm; then
    echo "test-setup: npm is not installed and cannot be installed here (needs root or sudo," \
        "and apt-get); install Node.js and npm yourself, then run this again, for the" \
        "editor-schema test (Taplo)" >&2
elif ! taplo_pinned; then
    (cd "$editor" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

if ! has chromium && ! has chromium-browser && ! has google-chrome \
    && ! apt_install chromium; then
    echo "test-setup: Chromium is not installed and cannot be installed here (needs root or" \
        "sudo, and apt-get); install it yourself, or leave the browser test out with" \
        "'cargo test --release -- --skip browser'" >&2
fi

if ! has fiu-run && ! apt_install fiu-utils; then
    echo "test-setup: fiu-run is not installed and cannot be installed here (needs root or" \
        "sudo, and apt-get); install Debian's fiu-utils yourself, or leave the fault-injection" \
        "tests out with 'cargo test --release -- --skip faults'" >&2
fi
