"""How steady are per-exit timings on this device? Blocks of forced-exit calls over time.

Times the profile's own calls (the runtime forced to each exit, `prefix_calls`) in blocks of
`--rounds` rounds for `--seconds` seconds, from a fresh process, then again (for half as
long) after `--idle` seconds of idleness, then takes `--profiles` full profiles
(`profile_model`) one after the other. Prints each block's time since start and per-exit
medians (ms): the spread shows how far a profile taken at one moment can be from real early
exit at another. Prints figures; asserts nothing.

Usage (repository root, after `dvc repro`):
    python benchmarks/timing_stability.py [--model artifacts/model] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from eenet.checks import check_integer, check_number
from eenet.cli import script_cli
from eenet.devices import resolve_device
from eenet.models.artifact import load_trained
from eenet.profiling import prefix_calls, profile_model, time_prefixes


def blocks(calls: list, device: torch.device, seconds: float, rounds: int) -> list[tuple]:
    """(seconds since start, per-exit median ms) of each block of `rounds` rounds."""
    start, out = time.perf_counter(), []
    while time.perf_counter() - start < seconds:
        medians = np.median(time_prefixes(calls, device, rounds), axis=0)
        out.append((round(time.perf_counter() - start, 2), np.round(medians, 3).tolist()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="artifacts/model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--profiles", type=int, default=3)
    args = parser.parse_args()
    check_integer("--batch-size", args.batch_size, 1)
    check_integer("--rounds", args.rounds, 1)
    check_number("--seconds", args.seconds, 0, low_ok=False)  # no block timed: nothing to print
    check_number("--idle", args.idle, 0)
    check_integer("--profiles", args.profiles, 0)
    device = resolve_device(args.device)
    model = load_trained(args.model).eval().to(device)
    calls = prefix_calls(model, model.example_inputs(args.batch_size).to(device), device)
    with torch.inference_mode():
        fresh = blocks(calls, device, args.seconds, args.rounds)
        time.sleep(args.idle)
        after_idle = blocks(calls, device, args.seconds / 2, args.rounds)
    for label, rows in ((f"fresh process, blocks of {args.rounds} rounds", fresh),
                        (f"after {args.idle:g} s idle", after_idle)):
        firsts = np.array([r[1][0] for r in rows])
        print(f"{label}: exit-0 median ms min {firsts.min():.3f} / median "
              f"{np.median(firsts):.3f} / max {firsts.max():.3f} over {len(rows)} blocks")
        for row in rows[:5] + [("...",)] + rows[-2:] if len(rows) > 7 else rows:
            print("  ", *row)
    for i in range(args.profiles):
        table = profile_model(model, device=str(device), batch_size=args.batch_size)
        print(f"profile {i}: cumulative ms {np.round(table['cumulative_ms'], 3).tolist()} "
              f"(warm-up rounds {table['warmup_rounds']})")


if __name__ == "__main__":
    script_cli(main)  # a device that is not there, a missing model: one line
