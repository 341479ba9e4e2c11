"""Seconds per epoch of AMA on the MNIST miniature (CPU, one thread).

One digit's training split of ``ama_mnist.py`` (about 600 images of 28x28,
padded to 32x32 inside the networks), batch 64.  Reports wall-clock and
process CPU seconds per epoch (the machine is shared, so CPU time is the
steadier number) for the miniature's networks (1/16 of the authors' widths)
with n_critic = 2 (the miniature) and 5 (the paper's).  The authors' full
widths were not timed on this CPU.  No GPU was available.

    OMP_NUM_THREADS=1 SKDEEPAD_DATA=../shared/data python benchmarks/ama_speed.py
    python benchmarks/ama_speed.py --write-only   # the md again from the JSON

Writes ``benchmarks/results/ama_speed.{md,json}`` (through ``_harness``).
"""

import argparse
import time

import torch

from skdeepad import AMA

if __package__:  # python -m benchmarks.ama_speed
    from ._harness import (Record, environment_line, markdown_table, read_json,
                           records_from_json, records_to_json, write_json, write_markdown)
    from .ama_mnist import AMA_MINI, load_data, one_vs_rest_split
else:  # python benchmarks/ama_speed.py: Python puts benchmarks/ on the import path
    from _harness import (Record, environment_line, markdown_table, read_json,
                          records_from_json, records_to_json, write_json, write_markdown)
    from ama_mnist import AMA_MINI, load_data, one_vs_rest_split


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-only", action="store_true",
                        help="only rewrite ama_speed.md from ama_speed.json (keeps the JSON "
                             "and the environment line of the run that measured it)")
    args = parser.parse_args()
    if args.write_only:
        stored = read_json("ama_speed")
        print(write(records_to_rows(records_from_json(stored["records"])),
                    stored["environment"]))
        return
    torch.set_num_threads(1)
    X, digits = load_data()
    X = X * 2 - 1
    train, _, _ = one_vs_rest_split(digits, 0, 0)
    rows = []
    for width, n_critic in [(1 / 16, 2), (1 / 16, 5)]:
        params = {**AMA_MINI, "network__width": width, "n_critic": n_critic, "epochs": 1,
                  "neg_start_epoch": 0}
        wall, cpu = time.perf_counter(), time.process_time()
        AMA(random_state=0, **params).fit(X[train])
        rows.append({"width": width, "n_critic": n_critic, "n_images": len(train),
                     "wall_s_per_epoch": time.perf_counter() - wall,
                     "cpu_s_per_epoch": time.process_time() - cpu})
        print(rows[-1], flush=True)
    print(write(rows))


PROTOCOL = "one AMA epoch on one digit's MNIST miniature training images"


def rows_to_records(rows):
    """One record per configuration: CPU s per epoch (wall s and images in ``extra``)."""
    return [Record("MNIST digit 0", f"AMA, width 1/{round(1 / r['width'])}, "
                   f"n_critic {r['n_critic']}", 0, PROTOCOL, "CPU s / epoch",
                   float(r["cpu_s_per_epoch"]), r["wall_s_per_epoch"],
                   {"width": r["width"], "n_critic": r["n_critic"], "n_images": r["n_images"]})
            for r in rows]


def records_to_rows(records):
    """The rows the table reads, back from the records."""
    return [{"width": r.extra["width"], "n_critic": r.extra["n_critic"],
             "n_images": r.extra["n_images"], "wall_s_per_epoch": r.fit_seconds,
             "cpu_s_per_epoch": r.value} for r in records]


def write(rows, stored_env=None):
    """Write the md (and, for a new run, the JSON); ``stored_env``: rewrite from the JSON."""
    env = environment_line(stored_env)
    lines = markdown_table(
        ["widths (x authors')", "n_critic", "images", "CPU s / epoch", "wall s / epoch"],
        [[f"1/{round(1 / r['width'])}", r["n_critic"], r["n_images"],
          f"{r['cpu_s_per_epoch']:.1f}", f"{r['wall_s_per_epoch']:.1f}"] for r in rows])
    md = "\n".join([
        "# AMA speed on the MNIST miniature (CPU, 1 thread)",
        "",
        "One epoch (fit including network construction and the Gaussian fit on the "
        "training R) on one digit's ~600 training images, batch 64, negatives on. "
        "**Miniature** networks; the machine was shared with other jobs, so wall time "
        "is inflated, CPU time is the steadier figure. No GPU was available to this run.",
        "",
        *lines,
        "",
        env,
    ])
    write_markdown("ama_speed", md + "\n")
    if stored_env is None:
        write_json("ama_speed", {"environment": env,
                                 "records": records_to_json(rows_to_records(rows))})
    return md


if __name__ == "__main__":
    main()
