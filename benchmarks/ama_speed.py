"""Seconds per epoch of AMA on the MNIST miniature (CPU, one thread).

One digit's training split of ``ama_mnist.py`` (about 600 images of 28x28,
padded to 32x32 inside the networks), batch 64.  Reports wall-clock and
process CPU seconds per epoch (the machine is shared, so CPU time is the
steadier number) for the miniature's networks (1/16 of the authors' widths)
with n_critic = 2 (the miniature) and 5 (the paper's).  The authors' full
widths were not timed on this CPU.  No GPU was available.

    OMP_NUM_THREADS=1 SKDEEPAD_DATA=../shared/data python benchmarks/ama_speed.py

Writes ``benchmarks/results/ama_speed.{md,json}``.
"""

import json
import time

import torch

from ama_mnist import AMA_MINI, RESULTS, load_data, one_vs_rest_split
from skdeepad import AMA
from skdeepad._benchmark import environment, write_report


def main():
    torch.set_num_threads(1)
    X, digits = load_data()
    X = X * 2 - 1
    train, _, _ = one_vs_rest_split(digits, 0, 0)
    rows = []
    for width, n_critic in [(1 / 16, 2), (1 / 16, 5)]:
        params = {**AMA_MINI, "width": width, "n_critic": n_critic, "epochs": 1,
                  "neg_start_epoch": 0}
        wall, cpu = time.perf_counter(), time.process_time()
        AMA(random_state=0, **params).fit(X[train])
        rows.append({"width": width, "n_critic": n_critic, "n_images": len(train),
                     "wall_s_per_epoch": time.perf_counter() - wall,
                     "cpu_s_per_epoch": time.process_time() - cpu})
        print(rows[-1], flush=True)
    print(write(rows))


def write(rows):
    lines = ["| widths (x authors') | n_critic | images | CPU s / epoch | wall s / epoch |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| 1/{round(1 / r['width'])} | {r['n_critic']} | {r['n_images']} | "
                     f"{r['cpu_s_per_epoch']:.1f} | {r['wall_s_per_epoch']:.1f} |")
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
        environment(),
    ])
    write_report(RESULTS / "ama_speed.md", md + "\n")
    (RESULTS / "ama_speed.json").write_text(json.dumps(
        {"environment": environment(), "rows": rows}, indent=1))
    return md


if __name__ == "__main__":
    main()
