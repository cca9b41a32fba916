"""Exploratory (not registered): what the consistency loss does to a Cox network.

With isotropic Gaussian input noise of sd ``sigma``, the student-teacher MSE on a row
``x`` is, to first order, ``sigma^2 ||grad f(x)||^2`` (teacher ~ student): a penalty on
the network's gradient at the unlabeled rows. For a network that is close to linear on
the data this is a ridge penalty on its effective weights, whatever the rows' positions.
This script checks both parts on the arm (e2) table (``out/positive_control_brca_e2.csv.gz``,
96 labeled patients drawn at random, the other 860 unlabeled; ``make_rnaseq_preprocessor(k=1000)``):

1. the Monte-Carlo consistency term against ``sigma^2 E||grad f||^2`` at the unlabeled rows;
2. how linear the fitted networks are (cosine between each patient's gradient and the
   mean gradient) and how much w = 1 shrinks the gradient against w = 0.

Run from the repository root::

    python benchmarks/experiments/plan/explore_mechanism.py

Writes ``benchmarks/results/plan/explore_mechanism.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from coxmt import CoxMT  # noqa: E402
from coxmt._atomic import atomic_write_text  # noqa: E402
from coxmt.preprocessing import make_rnaseq_preprocessor  # noqa: E402

TABLE = ROOT / "out" / "positive_control_brca_e2.csv.gz"
SIGMA = 0.1


def main() -> None:
    if not TABLE.is_file():
        raise SystemExit(f"{TABLE} is missing; make it with positive_control.py (see PLAN.md)")
    frame = pd.read_csv(TABLE)
    genes = [c for c in frame.columns if c.endswith("_rnaseq")]
    Z = np.asarray(make_rnaseq_preprocessor(k=1000).fit_transform(frame[genes]), dtype=np.float32)
    rng = np.random.default_rng(0)
    lab = rng.choice(len(Z), 96, replace=False)
    unl = np.setdiff1d(np.arange(len(Z)), lab)
    y = (frame["event"].to_numpy(bool)[lab], frame["time_months"].to_numpy(float)[lab])
    lines = [
        "# What the consistency loss does to a Cox network (exploration, not registered)",
        "",
        "`python benchmarks/experiments/plan/explore_mechanism.py`; arm (e2) table, 96 "
        f"labeled and 860 unlabeled patients, sigma {SIGMA}, library defaults otherwise.",
        "",
        "| w | E[(f(x + sigma e) - f(x))^2], unlabeled rows | sigma^2 E‖∇f‖², same rows "
        "| mean cosine(∇f(x), mean ∇f) (min) | E‖∇f‖² over all patients |",
        "|---|---|---|---|---|",
    ]
    for w in (0.0, 1.0):
        model = CoxMT(random_state=0, consistency_weight=w, noise_std=SIGMA)
        net = model.fit(Z[lab], y, X_unlabeled=Z[unl]).module_.eval()
        X = torch.tensor(Z[unl])
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            f0 = net(X).reshape(-1)
            mc = np.mean(
                [
                    float(
                        (
                            (net(X + SIGMA * torch.randn(X.shape, generator=gen)).reshape(-1) - f0)
                            ** 2
                        ).mean()
                    )
                    for _ in range(20)
                ]
            )
        Xg = torch.tensor(Z).requires_grad_(True)
        (g,) = torch.autograd.grad(net(Xg).sum(), Xg)
        g = g.numpy().astype(np.float64)
        jac_unl = SIGMA**2 * float((g[unl] ** 2).sum(1).mean())
        mean_g = g.mean(0)
        cos = (g @ mean_g) / (np.linalg.norm(g, axis=1) * np.linalg.norm(mean_g))
        lines.append(
            f"| {w:g} | {mc:.4f} | {jac_unl:.4f} | {cos.mean():.3f} ({cos.min():.3f}) | "
            f"{float((g**2).sum(1).mean()):.3f} |"
        )
    atomic_write_text(
        ROOT / "benchmarks" / "results" / "plan" / "explore_mechanism.md", "\n".join(lines) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
