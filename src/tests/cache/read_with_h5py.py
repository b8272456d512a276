"""Reads a runner clip cache with h5py, as a user would, and prints what it holds as JSON:
the root's attributes and, per video, the dataset's dtype and shape, its attributes, and the
pixel statistics that show frames are there (min, max, mean, and whether frames differ)."""

import json
import sys

import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    out = {"attrs": {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f.attrs.items()}}
    videos = {}
    for name, ds in f["videos"].items():
        frames = ds[()]
        videos[name] = {
            "dtype": str(ds.dtype),
            "shape": list(ds.shape),
            "attrs": {k: (v.item() if hasattr(v, "item") else str(v)) for k, v in ds.attrs.items()},
            "min": int(frames.min()),
            "max": int(frames.max()),
            "frames_differ": bool(np.any(frames[0] != frames[len(frames) // 2])),
        }
    out["videos"] = videos
print(json.dumps(out))
