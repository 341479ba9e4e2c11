"""Seconds per adversarial epoch of DROCC: skdeepad versus a bare eager PyTorch loop.

DeepOD 0.4.1 (the peer library of ``benchmarks/speed.py``) has no DROCC
(its models: devnet, dif, dsad, dsvdd, feawad, goad, icl, neutral, prenet,
rca, rdp, repen, rosas, slad), and PyOD has none either.  The comparison is
therefore against the reference trainer's algorithm written as a bare eager
loop here (:func:`reference_epoch`): one batch at a time, BCE on the
batch, ``x + N(0, I)``, 50 ascent steps with ``autograd.grad`` of the BCE
w.r.t. the input, per-sample L2-normalised steps, the annulus projection
every 10 steps, then ``CE + lamda * CE_adv``, backward and an Adam step —
the same network, data, batch size and number of steps as skdeepad's.

Both loops run the same work per batch (one search over the whole batch);
neither loops over samples.  The times are wall-clock medians over the
adversarial epochs (warm-up epochs excluded).

    OMP_NUM_THREADS=1 python benchmarks/drocc_speed.py [--device cpu]
    python benchmarks/drocc_speed.py --write-only [--device cpu]   # the md from the JSON

Writes ``benchmarks/results/drocc_speed_<device type>.{md,json}`` (through
``_harness``).  The JSON holds two harness records per data set (skdeepad
and the bare loop; metric "wall s / epoch", the median) beside the run's
options and DROCC parameters; ``--write-only`` rewrites the md from it, with
the environment line of the run, without timing anything.
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from skdeepad import DROCC
from skdeepad.networks import make_drocc_network

if __package__:  # python -m benchmarks.drocc_speed
    from ._harness import (Record, environment_line, markdown_table, read_json,
                           records_from_json, records_to_json, write_json, write_markdown)
else:  # python benchmarks/drocc_speed.py: Python puts benchmarks/ on the import path
    from _harness import (Record, environment_line, markdown_table, read_json,
                          records_from_json, records_to_json, write_json, write_markdown)


def reference_epoch(net, optimizer, X, batch_size, radius, gamma, lamda, step_size, n_steps):
    """One adversarial epoch of the reference algorithm (drocc_trainer.py), eager."""
    net.train()
    perm = torch.randperm(len(X), device=X.device)
    for start in range(0, len(X), batch_size):
        x = X[perm[start:start + batch_size]]
        logits = net(x)
        ce = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        x_adv = (x + torch.randn_like(x)).detach()
        for step in range(n_steps):
            x_adv.requires_grad_(True)
            out = net(x_adv)
            loss = F.binary_cross_entropy_with_logits(out, torch.zeros_like(out))
            (grad,) = torch.autograd.grad(loss, x_adv)
            norm = grad.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))
            x_adv = (x_adv + step_size * grad / norm).detach()
            if (step + 1) % 10 == 0:
                h = x_adv - x
                n = h.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))
                x_adv = x + h * n.clamp(radius, gamma * radius) / n
        out = net(x_adv)
        adv = F.binary_cross_entropy_with_logits(out, torch.zeros_like(out))
        loss = ce + lamda * adv
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if X.device.type == "cuda":
        torch.cuda.synchronize()


def tasks():
    rng = np.random.RandomState(0)
    return {
        "thyroid-sized table (3586 x 6)": (rng.randn(3586, 6).astype(np.float32), {}),
        "arrhythmia-sized table (320 x 274)": (rng.randn(320, 274).astype(np.float32), {}),
        "MNIST-sized images (512 x 1x28x28), LeNet CNN": (
            rng.rand(512, 1, 28, 28).astype(np.float32), {}),
        "MNIST rows as sequences (512 x 28 x 28), LSTM": (
            rng.rand(512, 28, 28).astype(np.float32), {}),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=2, help="adversarial epochs timed")
    parser.add_argument("--write-only", action="store_true",
                        help="only rewrite drocc_speed_<device type>.md from its JSON (keeps "
                             "the JSON and the environment line of the run that measured it)")
    args = parser.parse_args()
    device = torch.device(args.device)
    stem = f"drocc_speed_{device.type}"
    if args.write_only:
        stored = read_json(stem)
        print(write(stem, records_to_rows(records_from_json(stored["records"])),
                    stored["settings"], stored["environment"]))
        return
    # The paper's algorithm (one annulus), as the eager loop below runs it.
    params = dict(radius=3.0, gamma=2.0, lamda=1.0, ascent_step_size=0.01,
                  ascent_num_steps=50, far_scale=1.0, batch_size=256, lr=1e-3)
    rows = []
    for name, (X, _) in tasks().items():
        det = DROCC(**params, epochs=1 + args.epochs, only_ce_epochs=1, lr_milestones=None,
                    device=device, random_state=0).fit(X)
        ours = float(np.median([r["dur"] for r in det.history_[1:]]))
        torch.manual_seed(0)
        net, _ = make_drocc_network(X.shape[1:])
        net = net.to(device)
        opt = torch.optim.Adam(net.parameters(), lr=params["lr"])
        X_t = torch.as_tensor(X, device=device)
        times = []
        for _ in range(args.epochs):
            tic = time.perf_counter()
            reference_epoch(net, opt, X_t, params["batch_size"], params["radius"],
                            params["gamma"], params["lamda"], params["ascent_step_size"],
                            params["ascent_num_steps"])
            times.append(time.perf_counter() - tic)
        ref = float(np.median(times))
        rows.append(dict(task=name, skdeepad=ours, reference_loop=ref, ratio=ref / ours))
        print(rows[-1], flush=True)
    print(write(stem, rows, {"device": args.device, "epochs": args.epochs}, params=params))


PROTOCOL = ("one adversarial DROCC epoch (paper algorithm, batch 256, 50 ascent steps), "
            "median over the timed epochs")
#: The rows' columns and the methods of their records.
METHODS = {"skdeepad": "skdeepad DROCC", "reference_loop": "bare eager loop"}


def rows_to_records(rows):
    """Two records per data set: each loop's median wall seconds per adversarial epoch."""
    return [Record(r["task"], method, 0, PROTOCOL, "wall s / epoch", r[key])
            for r in rows for key, method in METHODS.items()]


def records_to_rows(records):
    """The rows the table reads, back from the records (the ratio recomputed)."""
    keys = {method: key for key, method in METHODS.items()}
    rows = {}
    for r in records:
        rows.setdefault(r.dataset, {"task": r.dataset})[keys[r.method]] = r.value
    for row in rows.values():
        row["ratio"] = row["reference_loop"] / row["skdeepad"]
    return list(rows.values())


def write(stem, rows, settings, stored_env=None, params=None):
    """Write the md (and, for a new run, the JSON with ``params``); return the md.

    ``settings``: the run's ``device`` and ``epochs`` options; ``stored_env``:
    the environment line of a stored run, whose JSON is then kept.
    """
    env = environment_line(stored_env)
    device = torch.device(settings["device"])
    lines = [
        f"# DROCC seconds per adversarial epoch ({device.type}), median of "
        f"{settings['epochs']}",
        "",
        "Command: `OMP_NUM_THREADS=1 python benchmarks/drocc_speed.py "
        f"--device {settings['device']}`",
        "",
        "DeepOD 0.4.1 and PyOD have no DROCC; 'bare loop' is the reference trainer's "
        "algorithm written as a plain eager PyTorch loop in this script (same network, "
        "batch 256, 50 ascent steps, projection every 10). No GPU was lent to this task; "
        "CPU only. The machine is shared (2 cores, several jobs), so the ratio is more "
        "telling than the absolute times.",
        "",
        *markdown_table(["data", "skdeepad DROCC (s/epoch)", "bare eager loop (s/epoch)",
                         "bare / skdeepad"],
                        [[r["task"], f"{r['skdeepad']:.3f}", f"{r['reference_loop']:.3f}",
                          f"{r['ratio']:.2f}"] for r in rows]),
        "",
        env,
        "",
    ]
    md = "\n".join(lines)
    write_markdown(stem, md)
    if stored_env is None:
        write_json(stem, {"environment": env, "settings": settings, "params": params,
                          "records": records_to_json(rows_to_records(rows))})
    return md


if __name__ == "__main__":
    main()
