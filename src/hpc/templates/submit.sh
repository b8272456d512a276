#!/bin/bash
# echo-runner on SLURM: experiment @@NAME@@. Queues the fold array (folds.sbatch), then the
# summary job (summary.sbatch), which starts once every fold task has ended.
# Arguments go to the fold array's sbatch: `--array=2` reruns fold 2 only, `--array=1,3`
# folds 1 and 3 (done folds are skipped anyway). A first argument `--retry-failed` takes up
# again folds that failed (`runner run --retry-failed`), from their last checkpoint.
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
folds=$(sbatch --parsable "$@" "$SLURM_DIR/folds.sbatch" "${retry[@]}")
folds=${folds%%;*}   # --parsable prints <job id>[;<cluster>]
if ! summary=$(sbatch --parsable --dependency=afterany:"$folds" "$SLURM_DIR/summary.sbatch"); then
  echo "error: the fold array is queued as job $folds, but the summary job is not;" \
    "queue it with: sbatch --dependency=afterany:$folds $SLURM_DIR/summary.sbatch" >&2
  exit 1
fi
summary=${summary%%;*}
echo "$(date -u +%FT%TZ) folds $folds summary $summary $*" >>"$SLURM_DIR/submitted.log"
echo "submitted fold array job $folds and summary job $summary (after every fold task)"
