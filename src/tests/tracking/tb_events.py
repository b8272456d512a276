"""Reads the TensorBoard event files under a folder with TensorBoard's own readers and prints
what they hold as JSON: per run (folder of event files, relative to the root) every scalar
event in file order, as [step, value] per tag (a duplicate shows twice: the raw loader does
not drop any), the HParams session start values and whether the session ended, and the runs
and tags TensorBoard's event multiplexer (what `tensorboard --logdir` serves) finds.

Usage: python3 tb_events.py ROOT
"""

import json
import os
import sys

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import plugin_data_pb2


def read_run(folder):
    scalars, hparams, ended, versions = {}, None, None, []
    for name in sorted(os.listdir(folder)):
        if "tfevents" not in name:
            continue
        # Checks each record's masked CRC-32C; stops (with a warning) at a damaged one.
        for event in event_file_loader.RawEventFileLoader(os.path.join(folder, name)).Load():
            e = event_pb2.Event.FromString(event)
            if e.HasField("file_version"):
                versions.append(e.file_version)
            for v in e.summary.value:
                if v.metadata.plugin_data.plugin_name == hparams_metadata.PLUGIN_NAME:
                    data = plugin_data_pb2.HParamsPluginData.FromString(
                        v.metadata.plugin_data.content
                    )
                    if data.HasField("session_start_info"):
                        hparams = {
                            k: getattr(val, val.WhichOneof("kind"))
                            for k, val in data.session_start_info.hparams.items()
                        }
                    if data.HasField("session_end_info"):
                        ended = data.session_end_info.status
                elif v.HasField("simple_value"):
                    scalars.setdefault(v.tag, []).append([e.step, v.simple_value])
    return {"scalars": scalars, "hparams": hparams, "ended": ended, "versions": versions}


def main(root):
    runs = {}
    for folder, _, files in os.walk(root):
        if any("tfevents" in f for f in files):
            runs[os.path.relpath(folder, root)] = read_run(folder)
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(root)
    mux.Reload()
    served = {
        run: {
            "scalars": sorted(tags.get("tensors", []) + tags.get("scalars", [])),
            "hparams": sorted(mux.PluginRunToTagToContent("hparams").get(run, {})),
        }
        for run, tags in mux.Runs().items()
    }
    print(json.dumps({"runs": runs, "served": served}))


if __name__ == "__main__":
    main(sys.argv[1])
