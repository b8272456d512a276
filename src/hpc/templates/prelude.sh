set -uo pipefail

RUNNER=@@RUNNER@@
CONFIG=@@CONFIG@@
SETS=(@@SETS@@)
RESULT_DIR=@@RESULT_DIR@@
EXPECTED_HASH=@@DIGEST@@

# The experiment's ECHO_RUNNER__* variables as they were when this script was written (the
# environment is one of an experiment's layers), and no others.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^ECHO_RUNNER__')
@@ENV@@

say() { echo "[$(date -u +%FT%TZ)] $*"; }

# Whether the experiment is still the one this script was written for: its config file, a
# base file or the --set values could have changed since.
same_experiment() {
  local hash
  hash=$("$RUNNER" validate "$CONFIG" "${SETS[@]}" --print-hash) || return
  hash=${hash%% *}
  if [ "$hash" != "$EXPECTED_HASH" ]; then
    say "the experiment's hash is now $hash, not $EXPECTED_HASH as when this script was written:" \
      "$CONFIG (or a file it is based on) changed; write the scripts again with runner slurm"
    return 2
  fi
}
