"""Prints, as JSON, what an MLflow server holds of one experiment, read with MLflow's own
client: each run's name, status, tags, params, the full history of every metric (as
[step, value], in the order the server lists them) and its artifacts' paths.

Usage: python3 mlflow_runs.py TRACKING_URI EXPERIMENT_NAME
"""

import json
import sys

from mlflow.tracking import MlflowClient


def artifacts(client, run_id, path=None):
    out = []
    for f in client.list_artifacts(run_id, path):
        out.extend(artifacts(client, run_id, f.path) if f.is_dir else [f.path])
    return out


def main(uri, name):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        print(json.dumps({"runs": []}))
        return
    runs = []
    for run in client.search_runs([experiment.experiment_id]):
        history = {
            key: [[m.step, m.value] for m in client.get_metric_history(run.info.run_id, key)]
            for key in run.data.metrics
        }
        runs.append(
            {
                "name": run.info.run_name,
                "status": run.info.status,
                "tags": run.data.tags,
                "params": run.data.params,
                "metrics": history,
                "artifacts": sorted(artifacts(client, run.info.run_id)),
            }
        )
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
