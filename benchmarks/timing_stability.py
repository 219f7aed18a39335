"""How steady are per-exit timings on this device? Blocks of forced-exit calls over time.

Times the profile's own calls (the runtime forced to each exit, `prefix_calls`) in blocks of
`--rounds` rounds for `--seconds` seconds, from a fresh process, then again (for half as
long) after `--idle` seconds of idleness, then takes `--profiles` full profiles
(`profile_model`) one after the other, all on `--threads` torch CPU threads (default 1, the
profile's). Prints each block's time since start and per-exit medians in ms per sample, as
the profiles' costs: the spread shows how far a profile taken at one moment can be from real
early exit at another. Prints figures; asserts nothing.

Usage (repository root, after `dvc repro`):
    python benchmarks/timing_stability.py [--model artifacts/model] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from eenet.batching import to_device
from eenet.checks import THREADS_MAX, check_integer, check_number
from eenet.cli import script_cli
from eenet.devices import num_threads, resolve_device
from eenet.models.artifact import load_trained
from eenet.models.base import check_example_batch, example_batch
from eenet.profiling import prefix_calls, profile_model, time_prefixes


def blocks(calls: list, device: torch.device, seconds: float, rounds: int,
           batch_size: int = 1) -> list[tuple]:
    """(seconds since start, per-exit median ms per sample) of each block of `rounds` rounds
    of `calls`, each call a batch of `batch_size` samples (per sample, as a profile's costs)."""
    start, out = time.perf_counter(), []
    while time.perf_counter() - start < seconds:
        medians = np.median(time_prefixes(calls, device, rounds), axis=0) / batch_size
        out.append((round(time.perf_counter() - start, 2), np.round(medians, 4).tolist()))
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
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for the blocks and the profiles (default 1, "
                             "the profile's; 0 keeps torch's)")
    args = parser.parse_args()
    check_integer("--batch-size", args.batch_size, 1)
    check_integer("--rounds", args.rounds, 1)
    check_number("--seconds", args.seconds, 0, low_ok=False)  # no block timed: nothing to print
    check_number("--idle", args.idle, 0)
    check_integer("--profiles", args.profiles, 0)
    check_integer("--threads", args.threads, 0, THREADS_MAX)
    device = resolve_device(args.device, "--device")
    model = load_trained(args.model).eval().to(device)
    check_example_batch(model, args.batch_size, "--batch-size")
    # the example inputs in the weights' precision, as the profiles make them (a double or
    # half model refuses float32 inputs)
    calls = prefix_calls(model, to_device(example_batch(model, args.batch_size), device), device)
    # the blocks on the profiles' thread count: torch's default (every core) contends with
    # any other load, and its blocks compared with 1-thread profiles read 15x slower
    with num_threads(args.threads, "--threads"):
        with torch.inference_mode():
            fresh = blocks(calls, device, args.seconds, args.rounds, args.batch_size)
            time.sleep(args.idle)
            after_idle = blocks(calls, device, args.seconds / 2, args.rounds, args.batch_size)
        print_blocks(args, fresh, after_idle)
        for i in range(args.profiles):
            table = profile_model(model, device=str(device), batch_size=args.batch_size,
                                  threads=args.threads)
            print(f"profile {i}: cumulative ms/sample "
                  f"{np.round(table['cumulative_ms'], 4).tolist()} "
                  f"(warm-up rounds {table['warmup_rounds']})")


def print_blocks(args: argparse.Namespace, fresh: list[tuple], after_idle: list[tuple]) -> None:
    """Each series of blocks: its exit-0 spread, then its first five and last two blocks."""
    threads = args.threads or torch.get_num_threads()
    print(f"batch {args.batch_size}, {threads} thread{'s' if threads != 1 else ''}; "
          "per-exit medians in ms/sample")
    for label, rows in ((f"fresh process, blocks of {args.rounds} rounds", fresh),
                        (f"after {args.idle:g} s idle", after_idle)):
        firsts = np.array([r[1][0] for r in rows])
        print(f"{label}: exit-0 median ms/sample min {firsts.min():.4f} / median "
              f"{np.median(firsts):.4f} / max {firsts.max():.4f} over {len(rows)} blocks")
        for row in rows[:5] + [("...",)] + rows[-2:] if len(rows) > 7 else rows:
            print("  ", *row)


if __name__ == "__main__":
    script_cli(main)  # a device that is not there, a missing model: one line
