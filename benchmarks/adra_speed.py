"""Training speed of ADRA against full finetuning (CPU; GPU when one is present).

ADRA keeps the backbone's convolutions frozen, so backpropagation computes
no gradient for their weights: per frozen convolution the backward pass
needs the gradient of its input only, while finetuning also needs the
weight gradient (a second convolution of the same size).  The adapters add a
1x1 convolution (1/9 of a 3x3 one per expert).  This script measures it two
ways on random data of MNIST shape:

1. seconds per epoch from ``history_`` of real fits (256 normal + 256
   corpus images, batches of 64 + 64);
2. forward and backward time of one batch (32 images by default), timed
   separately, arms interleaved and repeated, median reported, up to the
   paper's widths (64, 128, 256).

Run::

    OMP_NUM_THREADS=1 python benchmarks/adra_speed.py
    python benchmarks/adra_speed.py --write-only   # the md again from the JSON

Writes ``benchmarks/results/adra_speed_<device type>.{md,json}``.  The JSON
holds harness records of wall-clock seconds, one per timed number (metric
"s / epoch", or "forward s" and "backward s" of one step; the method names arm
and widths; arm, widths and trained parameters in ``extra``), beside the
device, its note in the md (the GPU's name, or how the CPU was shared), the
step's batch size and repeats.  ``--write-only`` (with ``--device`` naming the
file) rewrites the md from the JSON, timing nothing.
"""

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

from skdeepad import ADRA
from skdeepad._adra import hsc_loss, pseudo_huber
from skdeepad.networks import ResNet26

if __package__:  # python -m benchmarks.adra_speed
    from ._harness import (Record, environment_line, read_json, records_from_json,
                           records_to_json, write_json, write_markdown)
else:  # python benchmarks/adra_speed.py: Python puts benchmarks/ on the import path
    from _harness import (Record, environment_line, read_json, records_from_json,
                          records_to_json, write_json, write_markdown)
ARMS = {"finetune": dict(mode="finetune"), "ADRA K=1": dict(mode="adra", n_adapters=1),
        "ADRA K=2": dict(mode="adra", n_adapters=2)}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def fitted(arm, widths, X, y, device, epochs):
    torch.manual_seed(0)
    backbone = ResNet26(1, widths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ADRA(backbone=backbone, epochs=epochs, device=device, random_state=0,
                    **ARMS[arm]).fit(X, y)


def step_times(det, x, t, reps):
    """Median forward and backward seconds of one training step on (x, t)."""
    net = det.network_
    net.train()
    fwd, bwd = [], []
    for _ in range(reps):
        net.zero_grad(set_to_none=True)
        _sync(x.device)
        tic = time.perf_counter()
        loss = hsc_loss(pseudo_huber(net(x)), t)
        _sync(x.device)
        mid = time.perf_counter()
        loss.backward()
        _sync(x.device)
        fwd.append(mid - tic), bwd.append(time.perf_counter() - mid)
    return statistics.median(fwd), statistics.median(bwd)


def run(args, device):
    """Time the arms; the rows (kind "epoch": seconds; kind "step": forward, backward)."""
    rng = np.random.RandomState(0)
    X = rng.rand(512, 1, 28, 28).astype(np.float32)
    y = np.r_[np.zeros(256), -np.ones(256)]
    rows = []
    for spec in args.epoch_widths:
        widths = tuple(int(w) for w in spec.split(","))
        for arm in ARMS:
            det = fitted(arm, widths, X, y, args.device, epochs=3)
            dur = statistics.median(h["dur"] for h in det.history_[1:])
            rows.append({"kind": "epoch", "widths": widths, "arm": arm, "seconds": dur,
                         "trainable": det.n_trainable_parameters_})
            print(rows[-1], flush=True)
    half = args.step_batch // 2
    x = torch.as_tensor(X[:2 * half], device=device)
    t = torch.as_tensor(np.r_[np.zeros(half), np.ones(half)], dtype=torch.float32, device=device)
    for spec in args.widths:
        widths = tuple(int(w) for w in spec.split(","))
        dets = {arm: fitted(arm, widths, X[:4], y[:4] * 0 + np.r_[0, 0, -1, -1], args.device,
                            epochs=0) for arm in ARMS}
        times = {arm: ([], []) for arm in ARMS}
        for _ in range(args.reps):  # interleave arms so load changes hit them alike
            for arm, det in dets.items():
                f, b = step_times(det, x, t, reps=1 if device.type == "cpu" else 10)
                times[arm][0].append(f), times[arm][1].append(b)
        for arm in ARMS:
            f, b = (statistics.median(v) for v in times[arm])
            rows.append({"kind": "step", "widths": widths, "arm": arm, "forward": f,
                         "backward": b, "trainable": dets[arm].n_trainable_parameters_})
            print(rows[-1], flush=True)
    return rows


DATASET = "random 1x28x28 images"
#: The records' protocol per kind of row.
PROTOCOLS = {
    "epoch": "ADRA fit, 256 normal + 256 corpus images, batches 64 + 64; median of epochs 2-3",
    "step": "one training step, forward and backward timed apart; median of interleaved repeats",
}
#: The records' metric per timed field of a row (wall-clock seconds).
METRICS = {"seconds": "s / epoch", "forward": "forward s", "backward": "backward s"}


def rows_to_records(rows):
    """One record per timed number; arm, widths and trained parameters in ``extra``."""
    return [Record(DATASET, f"{r['arm']}, widths {tuple(r['widths'])}", 0, PROTOCOLS[r["kind"]],
                   metric, float(r[field]), None,
                   {"arm": r["arm"], "widths": list(r["widths"]), "trainable": r["trainable"]})
            for r in rows for field, metric in METRICS.items() if field in r]


def records_to_rows(records):
    """The rows the tables read, back from the records."""
    rows = {}
    for rec in records:
        kind = next(k for k, p in PROTOCOLS.items() if p == rec.protocol)
        row = rows.setdefault((kind, rec.method), {
            "kind": kind, "widths": tuple(rec.extra["widths"]), "arm": rec.extra["arm"],
            "trainable": rec.extra["trainable"]})
        row[next(f for f, m in METRICS.items() if m == rec.metric)] = rec.value
    return list(rows.values())


def report(stored):
    """The markdown of a stored run."""
    rows = records_to_rows(records_from_json(stored["records"]))
    device = stored["device"].split(":")[0]
    lines = [
        f"# ADRA vs finetuning: training speed ({device.upper()})", "",
        f"Environment: {environment_line(stored['environment'])}; {stored['device_note']}",
        "Random 1x28x28 images, ResNet26 (1 input channel), HSC loss.", "",
        "## Seconds per epoch (256 normal + 256 corpus images, batches 64 + 64; "
        "median of epochs 2-3)", "",
        "| widths | arm | trained parameters | s / epoch | vs finetune |", "|---|---|---|---|---|",
    ]
    for r in (r for r in rows if r["kind"] == "epoch"):
        base = next(q["seconds"] for q in rows if q["kind"] == "epoch"
                    and q["widths"] == r["widths"] and q["arm"] == "finetune")
        lines.append(f"| {r['widths']} | {r['arm']} | {r['trainable']:,} | {r['seconds']:.2f} | "
                     f"{r['seconds'] / base:.2f}x |")
    lines += ["", f"## One step on {stored['step_batch']} images, forward and backward timed "
              f"apart (median of {stored['reps']})",
              "", "| widths | arm | forward s | backward s | backward vs finetune |",
              "|---|---|---|---|---|"]
    for r in (r for r in rows if r["kind"] == "step"):
        base = next(q["backward"] for q in rows if q["kind"] == "step"
                    and q["widths"] == r["widths"] and q["arm"] == "finetune")
        lines.append(f"| {r['widths']} | {r['arm']} | {r['forward']:.3f} | {r['backward']:.3f} | "
                     f"{r['backward'] / base:.2f}x |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", nargs="*", default=["8,16,32", "32,64,128", "64,128,256"])
    parser.add_argument("--epoch-widths", nargs="*", default=["8,16,32", "16,32,64"])
    parser.add_argument("--step-batch", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write-only", action="store_true",
                        help="only rewrite adra_speed_<device type>.md from its JSON (keeps "
                             "the environment line of the run that measured it)")
    args = parser.parse_args()
    device = torch.device(args.device)
    stem = f"adra_speed_{device.type}"
    if not args.write_only:
        if device.type == "cpu":
            torch.set_num_threads(1)
        note = ("1 CPU thread on a machine shared with other jobs: timings are noisy, arms "
                "were interleaved so that load changes hit them alike."
                if device.type == "cpu" else torch.cuda.get_device_name())
        rows = run(args, device)
        write_json(stem, {"environment": environment_line(), "device": str(device),
                          "device_note": note, "step_batch": 2 * (args.step_batch // 2),
                          "reps": args.reps, "records": records_to_json(rows_to_records(rows))})
    md = report(read_json(stem))
    write_markdown(stem, md + "\n")
    print(md)


if __name__ == "__main__":
    main()
