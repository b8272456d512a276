#!/bin/bash
# echo-runner on SLURM: sweep @@NAME@@. Queues the array of member folds (tasks.sbatch), then
# the report job (report.sbatch), which starts once every array task has ended.
# Arguments go to the array's sbatch: `--array=4` reruns task 4 only (done folds are skipped
# anyway). A first argument `--retry-failed` takes up again folds that failed, from their
# last checkpoint.
set -euo pipefail

SLURM_DIR=@@SLURM_DIR@@

if ! command -v sbatch >/dev/null; then
  echo "error: sbatch not found: submit from a machine of the SLURM cluster" >&2
  exit 1
fi
retry=()
if [ "${1:-}" = --retry-failed ]; then
  retry=(--retry-failed)
  shift
fi
tasks=$(sbatch --parsable "$@" "$SLURM_DIR/tasks.sbatch" "${retry[@]}")
tasks=${tasks%%;*}
if ! report=$(sbatch --parsable --dependency=afterany:"$tasks" "$SLURM_DIR/report.sbatch"); then
  echo "error: the array is queued as job $tasks, but the report job is not;" \
    "queue it with: sbatch --dependency=afterany:$tasks $SLURM_DIR/report.sbatch" >&2
  exit 1
fi
report=${report%%;*}
echo "$(date -u +%FT%TZ) tasks $tasks report $report $*" >>"$SLURM_DIR/submitted.log"
echo "submitted array job $tasks and report job $report (after every task)"
