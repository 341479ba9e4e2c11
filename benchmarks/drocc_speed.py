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

Writes ``benchmarks/results/drocc_speed_<device>.{md,json}``.
"""

import argparse
import json
import pathlib
import time

import numpy as np
import torch
import torch.nn.functional as F

from skdeepad import DROCC
from skdeepad._benchmark import environment, write_report
from skdeepad.networks import make_drocc_network

RESULTS = pathlib.Path(__file__).parent / "results"


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
    args = parser.parse_args()
    device = torch.device(args.device)
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
    lines = [
        f"# DROCC seconds per adversarial epoch ({device.type}), median of {args.epochs}",
        "",
        f"Command: `OMP_NUM_THREADS=1 python benchmarks/drocc_speed.py --device {args.device}`",
        "",
        "DeepOD 0.4.1 and PyOD have no DROCC; 'bare loop' is the reference trainer's "
        "algorithm written as a plain eager PyTorch loop in this script (same network, "
        "batch 256, 50 ascent steps, projection every 10). No GPU was lent to this task; "
        "CPU only. The machine is shared (2 cores, several jobs), so the ratio is more "
        "telling than the absolute times.",
        "",
        "| data | skdeepad DROCC (s/epoch) | bare eager loop (s/epoch) | bare / skdeepad |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['task']} | {r['skdeepad']:.3f} | {r['reference_loop']:.3f} | "
                     f"{r['ratio']:.2f} |")
    lines += ["", environment(), ""]
    RESULTS.mkdir(exist_ok=True)
    write_report(RESULTS / f"drocc_speed_{device.type}.md", "\n".join(lines))
    (RESULTS / f"drocc_speed_{device.type}.json").write_text(
        json.dumps({"environment": environment(), "params": params, "rows": rows}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
