#!/usr/bin/env bash
# The GPU checks of BENCHMARKS.md, as one script for a machine with an NVIDIA GPU and the
# driver (no CUDA toolkit needed: NVRTC and libcuda are loaded at run time). Build the runner
# with CUDA first, where there is a network:
#   cargo build --release --features cuda && cp target/release/runner runner-cuda
# then, on the GPU machine:  bash src/bench/gpu_check.sh ./runner-cuda [OUT_DIR]
# Every line it prints is JSON; OUT_DIR (default gpu-check/) keeps them per check.
set -uo pipefail
runner=${1:?usage: gpu_check.sh RUNNER [OUT_DIR]}
out=${2:-gpu-check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"

step() { echo "## $*" >&2; "$@"; }

# 1. The first steps' losses on CUDA against the CPU's (same weights, same batch): fp32, bf16, f16.
for p in fp32 bf16 f16; do
    step "$runner" bench steps --backend cuda --precision "$p" --img 112 --frames 16 --batch 2 --steps 5 \
        | tee "$out/steps-$p.jsonl"
done
# 2. Throughput at the CPU workload, then the seed's (Swin-B at 224, 60 frames, batch 8; bf16, f16).
step "$runner" bench models --backend cuda --img 224 --frames 16 --batch 2 --reps 5 | tee "$out/models-224-fp32.jsonl"
for p in bf16 f16; do
    step "$runner" bench models --backend cuda --precision "$p" --swin base --models swin_global,swin_hybrid \
        --img 224 --frames 60 --batch 8 --reps 5 | tee "$out/models-seed-$p.jsonl"
done
# 3. Several GPUs of the node, if there are: the same seed workload split over all of them.
n=$(nvidia-smi -L | wc -l)
if [ "$n" -gt 1 ]; then
    devices=$(seq -s, 0 $((n - 1)))
    step "$runner" bench models --backend cuda --devices "$devices" --precision bf16 --swin base \
        --models swin_hybrid --img 224 --frames 60 --batch 8 --reps 5 | tee "$out/models-seed-bf16-${n}gpus.jsonl"
fi
