"""The pipeline's measuring half on another device (a GPU box), then real early exit there.

For a machine that has the accelerator but perhaps not DVC: takes the trained model and the
prepared data of a `dvc repro` run (`artifacts/model`, `data/<dataset>`), and in a work folder
runs dvc.yaml's own commands for import_latency -> profile -> dump_logits -> profile_scoring
-> profile_eenet_scoring -> fit_headline -> fit_schedulers -> evaluate -> measure, with
`profile.device`, `dump.device` and `measure.device` set to `--device` (every other parameter
as in params.yaml, but `profile.table`, dropped: the profile is measured there). Then
`benchmarks.runtime` on that device against the device's own latency table and schedulers
(batch 1 and 64), and a check of the one thing the runtime's equality with the simulation
rests on there: that exit logits do not depend on the batch size they were computed in (the
dump runs batches of 512, the runtime batches of 1).

Prints figures, asserts nothing; writes stages.log, runtime.txt, summary.json and sweep.csv
under --out.

Usage (repository root, after `dvc repro` here or anywhere):
    python benchmarks/device_run.py [--device cuda] [--out reports/device] [--work DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

STAGES = ["import_latency", "profile", "dump_logits", "profile_scoring", "profile_eenet_scoring",
          "fit_headline", "fit_schedulers", "evaluate", "measure"]
ROOT = Path(__file__).resolve().parent.parent


def device_params(params: dict[str, Any], device: str) -> dict[str, Any]:
    """params.yaml with every measuring stage on `device`, and the profile measured there (not
    imported: `profile.table` is dropped, and latency_tables/ is not linked in)."""
    params = copy.deepcopy(params)
    for name in ("profile", "dump", "measure"):
        params[name]["device"] = device
    params["profile"]["table"] = None
    return params


def stage_command(stage: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """dvc.yaml's `cmd` of a stage with ${data.dataset} filled in, run by this interpreter."""
    words = stage["cmd"].replace("${data.dataset}", params["data"]["dataset"]).split()
    return [sys.executable if words[0] == "python" else words[0], *words[1:]]


def prepare_work(work: Path, params: dict[str, Any]) -> None:
    """A work folder holding the device params and links to the code, model and data."""
    dataset = params["data"]["dataset"]
    (work / "artifacts").mkdir(parents=True, exist_ok=True)
    (work / "data").mkdir(exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for link, target in (("stages", ROOT / "stages"),
                         ("artifacts/model", ROOT / "artifacts/model"),
                         (f"data/{dataset}", ROOT / "data" / dataset)):
        if not (work / link).exists():
            (work / link).symlink_to(target)


def run_stages(work: Path, params: dict[str, Any], log: Path) -> dict[str, float]:
    """Run the STAGES in order; seconds per stage. Stops at the first failing stage."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    seconds = {}
    with log.open("w") as out:
        for name in STAGES:
            start = time.perf_counter()
            out.write(f"$ {name}\n")
            out.flush()
            done = subprocess.run(stage_command(stages[name], params), cwd=work, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, check=False)
            seconds[name] = round(time.perf_counter() - start, 1)
            print(f"stage {name}: {seconds[name]} s (exit {done.returncode})", flush=True)
            if done.returncode:
                raise SystemExit(f"stage {name} failed; see {log}")
    return seconds


def batch_invariance(work: Path, device: torch.device) -> dict[str, Any]:
    """Exit logits of the test split computed in batches of 512 (the dump) vs 1 (the runtime at
    batch 1) on `device`: largest difference, predictions that differ, and decisions of each
    fitted headline policy that differ between the two."""
    from eenet.data.prepared import PreparedDataset
    from eenet.inference import collect_exit_logits
    from eenet.models.artifact import load_trained
    from eenet.schedulers import load_policy

    params = yaml.safe_load((work / "params.yaml").read_text())
    model = load_trained(work / "artifacts/model")
    dataset = PreparedDataset(work / "data" / params["data"]["dataset"], "test")
    big = collect_exit_logits(model, dataset, device, batch_size=512)
    one = collect_exit_logits(model, dataset, device, batch_size=1)
    index = json.loads((work / "artifacts/headline/index.json").read_text())
    flips = {}
    for entry in index["entries"]:
        policy = load_policy(work / "artifacts/headline" / entry["dir"])
        flips[entry["method"]] = int(
            (policy.decide(big.log_probs()) != policy.decide(one.log_probs())).sum())
    return {
        "max_abs_logit_diff": float(np.abs(big.logits - one.logits).max()),
        "prediction_flips_per_exit": (big.predictions() != one.predictions()).sum(1).tolist(),
        "headline_decision_flips": flips,
        "n_samples": int(big.logits.shape[1]),
    }


def environment(device: torch.device) -> dict[str, Any]:
    info = {"torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        info.update(name=torch.cuda.get_device_name(device),
                    cudnn=torch.backends.cudnn.version(),
                    cudnn_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_tf32=torch.backends.cuda.matmul.allow_tf32)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cpu | cuda | cuda:N")
    parser.add_argument("--out", default="reports/device")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--runtime-args", default="",
                        help="extra arguments for benchmarks.runtime, e.g. '--samples-b1 500'")
    args = parser.parse_args()

    from eenet.devices import resolve_device

    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="eenet-device-"))
    params = device_params(yaml.safe_load((ROOT / "params.yaml").read_text()), args.device)
    prepare_work(work, params)
    summary: dict[str, Any] = {"environment": environment(device)}
    print(json.dumps(summary["environment"]), flush=True)
    summary["stage_seconds"] = run_stages(work, params, out / "stages.log")
    for name in ("artifacts/latency.json", "artifacts/scoring.json",
                 "artifacts/scoring_eenet.json", "reports/metrics.json",
                 "reports/latency_real.json"):
        summary[Path(name).stem] = json.loads((work / name).read_text())
    shutil.copy(work / "reports/sweep.csv", out / "sweep.csv")
    summary["batch_invariance"] = batch_invariance(work, device)
    print("batch invariance:", json.dumps(summary["batch_invariance"]), flush=True)
    partial = out / "summary.json.partial"  # whole or not at all: renamed once written
    partial.write_text(json.dumps(summary, indent=2))
    os.replace(partial, out / "summary.json")

    command = [sys.executable, "-m", "benchmarks.runtime", "--device", args.device,
               "--model", str(work / "artifacts/model"),
               "--latency", str(work / "artifacts/latency.json"),
               "--schedulers", str(work / "artifacts/schedulers"),
               "--data", str(work / "data" / params["data"]["dataset"]),
               *args.runtime_args.split()]
    with (out / "runtime.txt").open("w") as log:
        subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1"))
    print((out / "runtime.txt").read_text())
    print(headline(summary))


def headline(summary: dict[str, Any]) -> str:
    """Short table: the device's exit costs, then each method at the headline budget."""
    latency, real = summary["latency"], summary["latency_real"]["measured"]
    lines = [f"exit costs ms/sample ({latency.get('device_name')}, batch "
             f"{latency.get('batch_size')}): {np.round(latency['cumulative_ms'], 4).tolist()}",
             f"headline budget {real.get('budget_ms', 0):.4g} ms; method: test acc, measured "
             f"ms, planned ms, ratio (medians), exits == simulation"]
    for method, row in real.get("methods", {}).items():
        acc = summary["metrics"]["methods"][method]["test_accuracy"]
        lines.append(f"  {method:8} {acc:6.2f} {row['ms_per_sample']:.4f} {row['planned_ms']:.4f}"
                     f" {row['ratio']:.3f} ({row['ratio_robust']:.3f}) "
                     f"{row['exits_match_simulation']}")
    return "\n".join(lines)


if __name__ == "__main__":
    from eenet.cli import script_cli

    script_cli(main)  # a device that is not there, say: one line, as eenet's
