#!/usr/bin/env python3
"""`runner bench models` beside the PyTorch reference (src/bench/torch_reference.py), on the
same workload, in one run: for each model, PyTorch then the runner, each in its own process so
that its peak resident memory (GNU time's %M) is that model's alone. Prints the JSON lines of
both and a Markdown table of the ratios (runner / PyTorch) for BENCHMARKS.md.

On a noisy machine, `--rounds N` alternates the two N times per model and takes each ratio
within its round (PyTorch, then the runner right after it): the table gives the median ratio
and the range over the rounds, so that one slow or fast moment of the machine moves one round
rather than the verdict.

  python3 src/bench/vs_torch.py --python ~/torchref/bin/python \\
      --img 112 --frames 16 --batch 2 --reps 3 --devices 0,1 --rounds 3

Needs GNU time (/usr/bin/time; Debian's `time` package), a release build of the runner and a
Python with torch and timm (`--python`).
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_reference.py")


def timed_json(cmd):
    """Runs `cmd` under GNU time; returns its JSON lines and its peak RSS in MiB."""
    with tempfile.NamedTemporaryFile("r") as t:
        out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name, *cmd],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        peak_kib = float(t.read().strip().splitlines()[-1])
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    return lines, peak_kib / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runner", default="target/release/runner")
    p.add_argument("--python", default=sys.executable, help="a Python with torch and timm")
    p.add_argument("--reference", default=REFERENCE,
                   help="the PyTorch side: a script printing the same JSON lines")
    p.add_argument("--models", default="cnn_lstm,swin_global,swin_hybrid")
    p.add_argument("--img", type=int, default=224)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--devices", default="0", help="the runner's devices (on the CPU: 0,1 = two threads)")
    p.add_argument("--rounds", type=int, default=1, help="PyTorch-then-runner rounds per model")
    a = p.parse_args()
    work = ["--img", str(a.img), "--frames", str(a.frames), "--batch", str(a.batch), "--reps", str(a.reps)]
    rows, rounds = [], {}
    for model in a.models.split(","):
        for _ in range(a.rounds):
            torch, torch_peak = timed_json([a.python, a.reference, "--models", model, *work])
            ours, our_peak = timed_json([a.runner, "bench", "models", "--models", model, "--devices", a.devices, *work])
            t, r = torch[0], ours[0]
            t["process_peak_rss_mib"], r["process_peak_rss_mib"] = round(torch_peak, 1), round(our_peak, 1)
            print(json.dumps(t), flush=True)
            print(json.dumps(r), flush=True)
            rounds.setdefault(model, []).append((t, r))
        rows.append((model, t, r))
    print()
    print(f"Workload: batch {a.batch} × {a.frames} frames at {a.img}×{a.img}, fp32, "
          f"{rows[0][2]['threads']} threads, runner devices {a.devices}; median (runner) / mean (PyTorch) of {a.reps} steps after a warm-up.")
    print()
    if a.rounds > 1:
        print_rounds(rounds)
        return
    print("| model | params (runner / torch) | train clips/s runner | torch | ratio | infer clips/s runner | torch | ratio | peak RSS MiB runner | torch | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model, t, r in rows:
        tr, inf = r["train_clips_per_s"] / t["train_clips_per_s"], r["infer_clips_per_s"] / t["infer_clips_per_s"]
        mem = r["process_peak_rss_mib"] / t["process_peak_rss_mib"]
        print(f"| {model} | {r['params']/1e6:.2f} M / {t['params']/1e6:.2f} M "
              f"| {r['train_clips_per_s']:.3f} | {t['train_clips_per_s']:.3f} | {tr:.2f}× "
              f"| {r['infer_clips_per_s']:.3f} | {t['infer_clips_per_s']:.3f} | {inf:.2f}× "
              f"| {r['process_peak_rss_mib']:.0f} | {t['process_peak_rss_mib']:.0f} | {mem:.2f}× |")



def print_rounds(rounds):
    """The ratios of each round, their median and range, per model."""
    def ratios(pairs, key):
        return sorted(r[key] / t[key] for t, r in pairs)

    def cell(values):
        return f"{statistics.median(values):.2f}× ({values[0]:.2f}–{values[-1]:.2f})"

    n = len(next(iter(rounds.values())))
    print(f"Ratios runner / PyTorch over {n} rounds, each PyTorch then the runner: median (lowest–highest).")
    print()
    print("| model | train | infer | peak RSS |")
    print("|---|---|---|---|")
    for model, pairs in rounds.items():
        print(f"| {model} | {cell(ratios(pairs, 'train_clips_per_s'))} | {cell(ratios(pairs, 'infer_clips_per_s'))} "
              f"| {cell(sorted(r['process_peak_rss_mib'] / t['process_peak_rss_mib'] for t, r in pairs))} |")


if __name__ == "__main__":
    main()
