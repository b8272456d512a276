#!/usr/bin/env python3
"""The PyTorch reference that `runner bench models` is measured against.

The three phases' models written in PyTorch + timm with the runner's dimensions
(`src/bench/models.rs`, `src/model/`):

  cnn_lstm     timm resnet18 per frame -> LSTM(512, 1 layer) -> last step -> head
  swin_global  timm Swin (Tiny by default) per frame -> + temporal position embedding
               -> 2 pre-norm Transformer encoder layers (8 heads, FFN 512, dropout 0.1)
               -> LayerNorm -> mean over frames -> head
  swin_hybrid  the same with the hybrid layer: x + MHSA(LN1(x)) + DWConv(x), then
               x + FFN(LN2(x)); DWConv = depth-wise Conv1d(BatchNorm1d(GELU(x))), kernel 3
  head         Linear(d, 512) -> ReLU -> Dropout(0.4) -> Linear(512, 2)

Every parameter trains. On random clips `[batch, frames, 3, img, img]` it times a training
step (forward, cross-entropy, backward, AdamW at lr 1e-4 with PyTorch's defaults) and an
inference forward (eval mode, no autograd), each after one untimed warm-up call, as the mean
of `--reps` calls. It prints one JSON line per model with the keys `runner bench models`
prints: framework, model, params, img, frames, batch, threads, train_clips_per_s,
infer_clips_per_s, peak_rss_mib (this model's peak resident memory, read from Linux's VmHWM
after resetting it). `src/bench/vs_torch.py` runs it beside the runner.

Set-up (a few GB):  python3 -m venv ~/torchref && ~/torchref/bin/pip install torch timm
Run:                ~/torchref/bin/python src/bench/torch_reference.py --img 112 --threads 2
"""
import argparse
import json
import statistics
import time

import timm
import torch
import torch.nn as nn

# The runner's Swin presets: timm's model and the runner's stochastic-depth rate.
SWIN = {
    "tiny": ("swin_tiny_patch4_window7_224", 0.2),
    "small": ("swin_small_patch4_window7_224", 0.3),
    "base": ("swin_base_patch4_window7_224", 0.5),
}
HIDDEN, LAYERS, HEADS, FFN, DROPOUT = 512, 2, 8, 512, 0.1


class Head(nn.Sequential):
    def __init__(self, d):
        super().__init__(nn.Linear(d, HIDDEN), nn.ReLU(), nn.Dropout(0.4), nn.Linear(HIDDEN, 2))


class DepthwiseTemporalConv(nn.Module):
    """Conv1d_depthwise(BatchNorm1d(GELU(x))) over time, 'same' padding; [B, T, d] -> same."""

    def __init__(self, d, kernel=3):
        super().__init__()
        self.bn = nn.BatchNorm1d(d)
        self.conv = nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d)

    def forward(self, x):
        return self.conv(self.bn(nn.functional.gelu(x).transpose(1, 2))).transpose(1, 2)


class HybridLayer(nn.Module):
    """x + MHSA(LN1(x)) + DWConv(x), then x + FFN(LN2(x)), FFN = Linear GELU Drop Linear Drop."""

    def __init__(self, d):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, HEADS, dropout=DROPOUT, batch_first=True)
        self.dw = DepthwiseTemporalConv(d)
        self.ffn = nn.Sequential(nn.Linear(d, FFN), nn.GELU(), nn.Dropout(DROPOUT),
                                 nn.Linear(FFN, d), nn.Dropout(DROPOUT))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0] + self.dw(x)
        return x + self.ffn(self.norm2(x))


class SwinTemporal(nn.Module):
    """Phases 2 and 3: Swin per frame, a temporal encoder, mean over frames, the head."""

    def __init__(self, swin, img, frames, hybrid):
        super().__init__()
        name, drop_path = SWIN[swin]
        self.backbone = timm.create_model(name, pretrained=False, num_classes=0, img_size=img,
                                          drop_path_rate=drop_path)
        d = self.backbone.num_features
        self.pos = nn.Parameter(nn.init.trunc_normal_(torch.empty(1, frames, d), std=0.02))
        if hybrid:
            layers = [HybridLayer(d) for _ in range(LAYERS)]
        else:
            layers = [nn.TransformerEncoderLayer(d, HEADS, FFN, DROPOUT, batch_first=True,
                                                 norm_first=True) for _ in range(LAYERS)]
        self.temporal = nn.Sequential(*layers, nn.LayerNorm(d))
        self.head = Head(d)

    def forward(self, clips):
        b, t = clips.shape[:2]
        features = self.backbone(clips.flatten(0, 1)).view(b, t, -1) + self.pos[:, :t]
        return self.head(self.temporal(features).mean(1))


class CnnLstm(nn.Module):
    """Phase 1: ResNet-18 per frame, an LSTM over the frames, the head on its last step."""

    def __init__(self):
        super().__init__()
        self.backbone = timm.create_model("resnet18", pretrained=False, num_classes=0)
        self.lstm = nn.LSTM(self.backbone.num_features, HIDDEN, num_layers=1, batch_first=True)
        self.head = Head(HIDDEN)

    def forward(self, clips):
        b, t = clips.shape[:2]
        out, _ = self.lstm(self.backbone(clips.flatten(0, 1)).view(b, t, -1))
        return self.head(out[:, -1])


def build(model, args):
    if model == "cnn_lstm":
        return CnnLstm()
    if model in ("swin_global", "swin_hybrid"):
        return SwinTemporal(args.swin, args.img, args.frames, hybrid=model == "swin_hybrid")
    raise SystemExit(f"unknown model {model!r}: cnn_lstm, swin_global or swin_hybrid")


def mean_seconds(fn, reps):
    """Mean wall time of `reps` calls (at least one), after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(max(reps, 1)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.fmean(times)


def reset_peak_rss():
    """Resets the process's peak resident memory (Linux), so each model's peak is its own."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mib():
    """Peak resident memory in MiB (Linux VmHWM), or None where it cannot be read."""
    try:
        with open("/proc/self/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None
    return round(kib / 1024, 1)


def measure(model_name, args):
    torch.manual_seed(0)
    reset_peak_rss()
    model = build(model_name, args)
    params = sum(p.numel() for p in model.parameters())
    clips = torch.randn(args.batch, args.frames, 3, args.img, args.img)
    labels = torch.arange(args.batch) % 2  # both classes in every batch of two or more
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss = nn.CrossEntropyLoss()

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss(model(clips), labels).backward()
        optimizer.step()

    model.train()
    train_s = mean_seconds(train_step, args.reps)
    model.eval()
    with torch.inference_mode():
        infer_s = mean_seconds(lambda: model(clips), args.reps)
    return {
        "framework": f"torch {torch.__version__}, cpu, fp32",
        "model": model_name,
        "params": params,
        "img": args.img, "frames": args.frames, "batch": args.batch,
        "threads": torch.get_num_threads(),
        "train_clips_per_s": args.batch / train_s,
        "infer_clips_per_s": args.batch / infer_s,
        "peak_rss_mib": peak_rss_mib(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="cnn_lstm,swin_global,swin_hybrid",
                   help="comma-separated: cnn_lstm, swin_global, swin_hybrid")
    p.add_argument("--swin", default="tiny", choices=sorted(SWIN), help="Swin preset of phases 2-3")
    p.add_argument("--img", type=int, default=224, help="frame size")
    p.add_argument("--frames", type=int, default=16, help="frames per clip")
    p.add_argument("--batch", type=int, default=2, help="clips per step")
    p.add_argument("--reps", type=int, default=3, help="timed calls after one warm-up")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for model in args.models.split(","):
        print(json.dumps(measure(model, args)), flush=True)


if __name__ == "__main__":
    main()
