"""The mean and population standard deviation, with numpy, of every pixel (scaled to [0, 1])
of the named videos in a runner clip cache, read with h5py: what a fold measures for
`data.normalize.from_videos`. Prints {"mean": m, "std": s} as JSON.

    python3 normalize_with_numpy.py CACHE.h5 VIDEO [VIDEO ...]
"""

import json
import sys

import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    pixels = np.concatenate([f["videos"][name][()].ravel() for name in sys.argv[2:]])
scaled = pixels.astype(np.float64) / 255.0
print(json.dumps({"mean": float(scaled.mean()), "std": float(scaled.std())}))
