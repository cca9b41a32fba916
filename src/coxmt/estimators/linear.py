"""Penalised linear Cox proportional-hazards model (ridge, lasso, elastic net).

The objective is the mean negative Cox partial log-likelihood (the loss of
:func:`coxmt.losses.neg_partial_log_likelihood`, averaged over the events) plus
the elastic-net penalty

.. math::

    \\alpha \\left( r \\lVert\\beta\\rVert_1 + \\frac{1 - r}{2} \\lVert\\beta\\rVert_2^2 \\right),
    \\qquad r = \\text{l1\\_ratio}.

Solved exactly in float64: ridge (``l1_ratio=0``) by L-BFGS, anything with an
L1 part by FISTA with backtracking and adaptive restart, both stopped on the
optimality (KKT) conditions. ``alpha="auto"`` picks the penalty by internal
K-fold cross-validation of the partial likelihood along a warm-started path
(Verweij & van Houwelingen's cross-validated partial likelihood, as
``glmnet``'s ``cv.glmnet(family="cox")``).

Scaling relative to scikit-survival (``n`` samples, ``d`` events, Breslow ties):
``CoxPHSurvivalAnalysis(alpha=d * alpha)`` (``l1_ratio=0``) and
``CoxnetSurvivalAnalysis(alphas=[alpha * d / n], l1_ratio=l1_ratio)`` minimise the
same objective up to a positive factor.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from coxmt.baseline import BreslowBaseline
from coxmt.estimators._mixins import LabeledFitMixin, SavedModelMixin
from coxmt.losses import Ties, neg_partial_log_likelihood

__all__ = ["PenalizedCox"]

_CV_PATIENCE = 8  # stop the cross-validated path after this many alphas without improvement


class _CoxProblem:
    """One Cox fit's data with a fast, exact loss and gradient.

    The sort order, tie groups and Efron ranks are computed once; each evaluation
    then costs two matrix-vector products and a few O(n) passes. The value equals
    :func:`coxmt.losses.neg_partial_log_likelihood` (mean over events) and the
    gradient its autograd gradient (checked in the tests).
    """

    def __init__(self, X: np.ndarray, event: np.ndarray, time: np.ndarray, ties: str) -> None:
        order = np.argsort(time, kind="mergesort")
        self.X = np.ascontiguousarray(X[order], dtype=np.float64)
        t = np.asarray(time, dtype=np.float64)[order]
        ev = np.asarray(event, dtype=bool)[order]
        self.ties = cast(Ties, ties)
        self.event = ev
        self.time = t
        n = t.shape[0]
        new = np.ones(n, dtype=bool)
        new[1:] = t[1:] != t[:-1]
        self.group = np.cumsum(new) - 1
        self.starts = np.flatnonzero(new)
        self.n_groups = self.starts.shape[0]
        self.ev_idx = np.flatnonzero(ev)
        self.ev_group = self.group[self.ev_idx]
        self.n_events = int(self.ev_idx.shape[0])
        d = np.bincount(self.ev_group, minlength=self.n_groups).astype(np.float64)
        if ties == "efron":
            before = np.concatenate([[0], np.cumsum(d)[:-1]]).astype(np.int64)
            rank = np.arange(self.n_events) - before[self.ev_group]
            self.frac = rank / d[self.ev_group]
        else:
            self.frac = np.zeros(self.n_events)

    def with_columns(self, cols: np.ndarray) -> _CoxProblem:
        """The same samples restricted to feature columns ``cols`` (shares the structure)."""
        sub = object.__new__(_CoxProblem)
        sub.__dict__.update(self.__dict__)
        sub.X = np.ascontiguousarray(self.X[:, cols])
        return sub

    def _sum_loss(self, eta: np.ndarray, grad: bool) -> tuple[float, np.ndarray | None]:
        """Summed negative log partial likelihood (and its gradient in ``eta``)."""
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            m = float(eta.max())
            w = np.exp(eta - m)
            R = np.cumsum(w[::-1])[::-1][self.starts]
            D = np.bincount(self.ev_group, weights=w[self.ev_idx], minlength=self.n_groups)
            den = R[self.ev_group] - self.frac * D[self.ev_group]
            value = float(np.sum(np.log(den)) + self.n_events * m - eta[self.ev_idx].sum())
            g_eta = None
            if grad:
                inv = 1.0 / den
                A = np.bincount(self.ev_group, weights=inv, minlength=self.n_groups)
                B = np.bincount(self.ev_group, weights=self.frac * inv, minlength=self.n_groups)
                g_eta = w * np.cumsum(A)[self.group]
                g_eta[self.ev_idx] -= w[self.ev_idx] * B[self.ev_group] + 1.0
        if np.isfinite(value) and (g_eta is None or np.isfinite(g_eta).all()):
            return value, g_eta
        # extreme risks underflow the risk-set sums: fall back to the log-space loss
        e = torch.as_tensor(eta, dtype=torch.float64).requires_grad_(grad)
        with torch.enable_grad():
            loss = neg_partial_log_likelihood(
                e, torch.as_tensor(self.event), torch.as_tensor(self.time),
                ties=self.ties, reduction="sum", validate=False,
            )  # fmt: skip
            g = torch.autograd.grad(loss, e)[0].numpy() if grad else None
        return float(loss.detach()), g

    def loss(self, b: np.ndarray, reduction: str = "mean") -> float:
        """Negative log partial likelihood at coefficients ``b`` ("mean" over events or "sum")."""
        if self.n_events == 0:
            return 0.0
        value, _ = self._sum_loss(self.X @ b, grad=False)
        return value / self.n_events if reduction == "mean" else value

    def loss_grad(self, b: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean negative log partial likelihood and its gradient in ``b``."""
        if self.n_events == 0:
            return 0.0, np.zeros(self.X.shape[1])
        value, g_eta = self._sum_loss(self.X @ b, grad=True)
        assert g_eta is not None
        return value / self.n_events, self.X.T @ (g_eta / self.n_events)


def _kkt_violation(grad: np.ndarray, b: np.ndarray, lam1: float) -> float:
    """Largest violation of the optimality conditions (``grad``: gradient of the smooth part)."""
    if grad.size == 0:
        return 0.0
    if lam1 == 0.0:
        return float(np.abs(grad).max())
    viol = np.where(b != 0, np.abs(grad + lam1 * np.sign(b)), np.maximum(np.abs(grad) - lam1, 0.0))
    return float(viol.max())


def _solve_ridge(
    prob: _CoxProblem, b0: np.ndarray, lam2: float, tol: float, max_iter: int, memory: int = 20
) -> tuple[np.ndarray, int, float]:
    """Minimise ``loss + lam2/2 ||b||^2`` by L-BFGS, stopped on the gradient's max-norm.

    Backtracking (Armijo) line search whose test allows for float64 rounding of the
    objective, so that the gradient can be driven below what comparing objective
    values resolves (a plain line search stalls near ``sqrt(eps)``).
    """

    def fun(b: np.ndarray) -> tuple[float, np.ndarray]:
        value, g = prob.loss_grad(b)
        return value + 0.5 * lam2 * float(b @ b), g + lam2 * b

    b = b0.copy()
    f, g = fun(b)
    S: list[np.ndarray] = []
    Y: list[np.ndarray] = []
    it = 0
    while it < max_iter and float(np.abs(g).max()) > tol:
        it += 1
        # two-loop recursion: d = -H g
        q = g.copy()
        coefs = []
        for s_, y_ in zip(reversed(S), reversed(Y), strict=True):
            rho = 1.0 / float(y_ @ s_)
            a_ = rho * float(s_ @ q)
            q -= a_ * y_
            coefs.append((rho, a_))
        if S:
            q *= float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
        else:
            q /= max(float(np.linalg.norm(g)), 1.0)
        for (rho, a_), s_, y_ in zip(reversed(coefs), S, Y, strict=True):
            q += (a_ - rho * float(y_ @ q)) * s_
        d = -q
        slope = float(g @ d)
        if slope >= 0:  # not a descent direction: restart from steepest descent
            S.clear()
            Y.clear()
            d = -g / max(float(np.linalg.norm(g)), 1.0)
            slope = float(g @ d)
        step = 1.0
        slack = 1e-13 * max(1.0, abs(f))
        for _ in range(60):
            b_new = b + step * d
            f_new, g_new = fun(b_new)
            if f_new <= f + 1e-4 * step * slope + slack:
                break
            step *= 0.5
        s_k, y_k = b_new - b, g_new - g
        if float(s_k @ y_k) > 1e-12 * float(np.linalg.norm(s_k) * np.linalg.norm(y_k)):
            S.append(s_k)
            Y.append(y_k)
            if len(S) > memory:
                S.pop(0)
                Y.pop(0)
        b, f, g = b_new, f_new, g_new
    return b, it, _kkt_violation(g, b, 0.0)


def _soft(x: np.ndarray, thr: float) -> np.ndarray:
    return np.sign(x) * np.maximum(np.abs(x) - thr, 0.0)


def _solve_fista(
    prob: _CoxProblem, b0: np.ndarray, lam1: float, lam2: float, tol: float, max_iter: int, L: float
) -> tuple[np.ndarray, int, float, float]:
    """Elastic net by FISTA with backtracking, a shrinking step bound and adaptive restart.

    Returns the solution, the iterations, its KKT violation and the last
    curvature estimate ``L`` (to start the next problem of a path).
    """

    def smooth(b: np.ndarray) -> tuple[float, np.ndarray]:
        value, g = prob.loss_grad(b)
        return value + 0.5 * lam2 * float(b @ b), g + lam2 * b

    x = b0.copy()
    fx, gx = smooth(x)
    viol = _kkt_violation(gx, x, lam1)
    if viol <= tol:
        return x, 0, viol, L
    y, fy, gy = x, fx, gx
    t = 1.0
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        L *= 0.9
        while True:
            z = _soft(y - gy / L, lam1 / L)
            step = z - y
            fz, gz = smooth(z)
            if fz <= fy + float(gy @ step) + 0.5 * L * float(step @ step) + 1e-13 * abs(fy):
                break
            L *= 2.0
        viol = _kkt_violation(gz, z, lam1)
        if viol <= tol:
            x = z
            break
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        if (
            fz + lam1 * np.abs(z).sum() > fx + lam1 * np.abs(x).sum()
            or float((y - z) @ (z - x)) > 0
        ):
            t_next = 1.0  # adaptive restart (O'Donoghue & Candes 2015): momentum is hurting
            y, fy, gy = z, fz, gz
        else:
            y = z + ((t - 1.0) / t_next) * (z - x)
            fy, gy = smooth(y)
        x, fx, t = z, fz, t_next
    return x, it, viol, L


def _curvature_guess(X: np.ndarray, n_iter: int = 8) -> float:
    """A quarter of ``||X||_2^2`` by a few power iterations: FISTA's first step bound.

    (The mean Cox loss has curvature at most ``||X||_2^2``; backtracking corrects
    the guess either way.)
    """
    v = np.ones(X.shape[1]) / math.sqrt(X.shape[1])
    sq = 1.0
    for _ in range(n_iter):
        w = X.T @ (X @ v)
        sq = float(np.linalg.norm(w))
        if sq == 0.0:
            return 1.0
        v = w / sq
    return sq / 4.0


class _PathSolver:
    """Warm-started solutions along decreasing alphas for one data set.

    With an L1 part, each alpha is solved on a working set (the sequential strong
    rule of Tibshirani et al. 2012 plus every feature ever active) and the KKT
    conditions are then checked on all features; violators join and the problem
    is solved again.
    """

    def __init__(self, prob: _CoxProblem, l1_ratio: float, tol: float, max_iter: int) -> None:
        self.prob = prob
        self.l1_ratio = l1_ratio
        self.tol = tol
        self.max_iter = max_iter
        p = prob.X.shape[1]
        self.b = np.zeros(p)
        _, self.grad = prob.loss_grad(self.b)  # gradient of the loss at b
        self.prev_alpha: float | None = None
        self.ever = np.zeros(p, dtype=bool)
        self.L = _curvature_guess(prob.X) if l1_ratio > 0 else 1.0
        self.n_iter = 0
        self.max_violation = 0.0

    def solve(self, alpha: float) -> np.ndarray:
        lam1 = alpha * self.l1_ratio
        lam2 = alpha * (1.0 - self.l1_ratio)
        if lam1 == 0.0:
            self.b, it, viol = _solve_ridge(self.prob, self.b, lam2, self.tol, self.max_iter)
            self.n_iter += it
            self.max_violation = max(self.max_violation, viol)
            return self.b
        prev = self.prev_alpha if self.prev_alpha is not None else alpha
        g_smooth = self.grad + (1.0 - self.l1_ratio) * prev * self.b
        strong = np.abs(g_smooth) >= self.l1_ratio * (2.0 * alpha - prev)
        work = self.ever | strong | (self.b != 0)
        for _ in range(self.prob.X.shape[1] + 1):
            cols = np.flatnonzero(work)
            b = np.zeros_like(self.b)
            if cols.size:
                sub = self.prob.with_columns(cols)
                bw, it, _, self.L = _solve_fista(
                    sub, self.b[cols], lam1, lam2, self.tol, self.max_iter, self.L
                )
                self.n_iter += it
                b[cols] = bw
            _, grad = self.prob.loss_grad(b)
            viol = _kkt_violation(grad + lam2 * b, b, lam1)
            outside = ~work & (np.abs(grad) > lam1 + self.tol)
            self.b, self.grad = b, grad
            if not outside.any():
                break
            work |= outside
        self.max_violation = max(self.max_violation, viol)
        self.ever |= self.b != 0
        self.prev_alpha = alpha
        return self.b


def _alpha_grid(
    prob: _CoxProblem,
    l1_ratio: float,
    n_alphas: int,
    min_ratio: float,
    basis: np.ndarray | None = None,
) -> np.ndarray:
    """Decreasing log-spaced alphas from the smallest alpha that zeroes every coefficient.

    For ridge the largest alpha is that of ``l1_ratio=1e-3`` (as glmnet). ``basis``:
    the orthonormal basis when ``prob`` is expressed in row-space coordinates.
    """
    _, g0 = prob.loss_grad(np.zeros(prob.X.shape[1]))
    if basis is not None:
        g0 = basis @ g0
    gmax = float(np.abs(g0).max()) or 1.0
    alpha_max = gmax / max(l1_ratio, 1e-3)
    if n_alphas == 1:
        return np.array([alpha_max * min_ratio])
    return np.geomspace(alpha_max, alpha_max * min_ratio, n_alphas)


def _cv_splits(
    event: np.ndarray, n_splits: int, random_state: Any
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds stratified on the event indicator (plain K-fold if a class is too small)."""
    n_events = int(event.sum())
    if n_events < n_splits:
        raise ValueError(
            f"alpha='auto' uses {n_splits}-fold cross-validation, which needs at least "
            f"{n_splits} events; got {n_events}. Pass a fixed alpha (e.g. alpha=0.1) or a "
            "smaller cv"
        )
    if min(n_events, int((~event).sum())) >= n_splits:
        splitter: Any = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
        return list(splitter.split(np.zeros(len(event)), event))
    splitter = KFold(n_splits, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(len(event))))


class PenalizedCox(LabeledFitMixin, SavedModelMixin, BaseEstimator):
    """Linear Cox proportional-hazards model with an elastic-net penalty.

    Minimises the mean negative Cox partial log-likelihood (over the events) plus
    ``alpha * (l1_ratio * ||coef||_1 + (1 - l1_ratio) / 2 * ||coef||_2^2)``, exactly
    (to ``tol`` on the optimality conditions) in float64. Ridge (``l1_ratio=0``,
    the default) is solved by L-BFGS; an L1 part by FISTA with backtracking on a
    strong-rule working set. With ``alpha="auto"`` the penalty is chosen by
    ``cv``-fold cross-validation of the partial likelihood over a warm-started
    path of ``n_alphas`` values (folds stratified on the event); the model is then
    refitted on all the data. Features are used as given: standardise them
    beforehand (e.g. in a Pipeline).

    Parameters
    ----------
    alpha : float, "auto" or sequence of float, default "auto"
        Penalty strength. "auto" or a sequence: chosen by cross-validation (the
        sequence gives the candidates).
    l1_ratio : float in [0, 1], default 0.0
        Share of the L1 (lasso) part; 0 = ridge, 1 = lasso. Ridge is the default:
        on gene expression it predicts survival as well as or better than sparse
        models (Bovelstad et al., Bioinformatics 2007) and it is fast.
    ties : {"efron", "breslow"}, default "efron"
        Handling of tied event times in the partial likelihood.
    n_alphas : int, default 30
        Length of the automatic path (log-spaced, from the smallest alpha that
        sets every coefficient to zero; for ridge that of ``l1_ratio=1e-3``). A
        fixed alpha with an L1 part is also reached along this path (warm starts).
    alpha_min_ratio : float or "auto", default "auto"
        Smallest alpha of the path relative to the largest; "auto" = 1e-3 for
        ridge, else 1e-2 when there are more features than samples and 1e-4 otherwise.
    cv : int, default 5
        Number of internal folds for ``alpha="auto"``.
    tol : float, default 1e-7
        Convergence tolerance on the largest KKT violation (gradient scale).
    max_iter : int, default 10000
        Maximum iterations per alpha.
    random_state : int, RandomState or None, default None
        Seed of the internal folds (a fixed seed makes ``alpha="auto"`` deterministic).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Log-hazard ratios per unit of each feature.
    alpha_ : float
        The penalty used for ``coef_``.
    alphas_ : ndarray
        Candidate alphas (when chosen by cross-validation).
    cv_loss_ : ndarray of shape (n_alphas, cv)
        Cross-validated partial-likelihood loss per held-out event (lower is better),
        NaN where the path stopped early (see Notes).
    baseline_ : BreslowBaseline
    unique_times_ : ndarray
        Training event times (the default times of survival predictions).
    n_iter_ : int
        Solver iterations of the final fit.
    n_features_in_, feature_names_in_

    Notes
    -----
    The cross-validation loss of fold ``k`` is ``l(b_k) - l_{-k}(b_k)`` (Verweij &
    van Houwelingen 1993, as ``cv.glmnet``'s grouped Cox deviance): the full-data
    negative log partial likelihood minus that of the training part, at the
    coefficients fitted without fold ``k``. The automatic path stops once the mean
    loss has not improved over 8 consecutive alphas. For a cross-validated ridge
    with more features than samples, every fit is solved in an orthonormal basis
    of the row space of ``X`` (one QR decomposition), where ridge solutions lie. Scaling relative to
    scikit-survival (``n`` samples, ``d`` events): ``CoxPHSurvivalAnalysis(alpha=d *
    alpha)`` for ridge and ``CoxnetSurvivalAnalysis(alphas=[alpha * d / n])`` (Breslow
    ties) minimise the same objectives.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt.estimators.linear import PenalizedCox
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 5))
    >>> y = (rng.random(100) < 0.7, rng.exponential(np.exp(-X[:, 0])))
    >>> model = PenalizedCox(alpha=0.1).fit(X, y)
    >>> bool(model.coef_[0] > 0.3)
    True
    >>> model.predict_survival_function(X[:2], times=[0.5, 1.0]).shape
    (2, 2)
    """

    _save_name = "PenalizedCox"

    def __init__(
        self,
        alpha: float | str | Sequence[float] = "auto",
        l1_ratio: float = 0.0,
        ties: str = "efron",
        n_alphas: int = 30,
        alpha_min_ratio: float | str = "auto",
        cv: int = 5,
        tol: float = 1e-7,
        max_iter: int = 10000,
        random_state: Any = None,
    ) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.ties = ties
        self.n_alphas = n_alphas
        self.alpha_min_ratio = alpha_min_ratio
        self.cv = cv
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    # -- checks ------------------------------------------------------------------------
    def _check_params(self) -> None:
        if not 0.0 <= float(self.l1_ratio) <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {self.l1_ratio}")
        if self.ties not in ("efron", "breslow"):
            raise ValueError(f"ties must be 'efron' or 'breslow', got {self.ties!r}")
        if isinstance(self.alpha, str):
            if self.alpha != "auto":
                raise ValueError(
                    f"alpha must be a number >= 0, a sequence of candidates or 'auto', got {self.alpha!r}"
                )
        else:
            vals = np.atleast_1d(np.asarray(self.alpha, dtype=np.float64))
            if vals.size == 0 or not np.isfinite(vals).all() or (vals < 0).any():
                raise ValueError(
                    f"alpha must be finite and >= 0, got {self.alpha!r}; use e.g. alpha=0.1 "
                    "or alpha='auto'"
                )
        if self._candidates() is not None and int(self.cv) < 2:
            raise ValueError(f"cv must be >= 2 to choose alpha, got {self.cv}")
        if int(self.n_alphas) < 1:
            raise ValueError(f"n_alphas must be >= 1, got {self.n_alphas}")
        if self.alpha_min_ratio != "auto" and not 0.0 < float(self.alpha_min_ratio) < 1.0:
            raise ValueError(
                f"alpha_min_ratio must be in (0, 1) or 'auto', got {self.alpha_min_ratio!r}"
            )
        if float(self.tol) <= 0:
            raise ValueError(f"tol must be > 0, got {self.tol}")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")

    def _candidates(self) -> np.ndarray | None:
        """Explicit alphas to choose from, [] for 'auto', None for a fixed alpha."""
        if isinstance(self.alpha, str):
            return np.zeros(0)
        arr = np.asarray(self.alpha, dtype=np.float64)
        if arr.ndim == 0:
            return None
        return np.sort(arr.reshape(-1))[::-1]

    def _min_ratio(self, n: int, p: int) -> float:
        if self.alpha_min_ratio != "auto":
            return float(self.alpha_min_ratio)
        if float(self.l1_ratio) == 0.0:
            return 1e-3
        return 1e-2 if p > n else 1e-4

    # -- fitting -----------------------------------------------------------------------
    def _path_solver(self, prob: _CoxProblem) -> _PathSolver:
        return _PathSolver(prob, float(self.l1_ratio), float(self.tol), int(self.max_iter))

    def _cross_validate(
        self,
        X: np.ndarray,
        event: np.ndarray,
        time: np.ndarray,
        full: _CoxProblem,
        alphas: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        folds = _cv_splits(event, int(self.cv), self.random_state)
        solvers = []
        for train, _ in folds:
            solvers.append(
                self._path_solver(_CoxProblem(X[train], event[train], time[train], self.ties))
            )
        held_events = np.array([int(event[test].sum()) for _, test in folds], dtype=np.float64)
        loss = np.full((len(alphas), len(folds)), np.nan)
        best, best_i = np.inf, 0
        for i, a in enumerate(alphas):
            for k, s in enumerate(solvers):
                b = s.solve(float(a))
                loss[i, k] = full.loss(b, "sum") - s.prob.loss(b, "sum")
            total = float(loss[i].sum())
            if total < best - 1e-12 * abs(best if np.isfinite(best) else 1.0):
                best, best_i = total, i
            elif i - best_i >= _CV_PATIENCE:
                break
        return loss, held_events

    def _fit(self, Xa: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        """Solve the penalised problem on validated arrays (:meth:`fit` checks the inputs)."""
        cand = self._candidates()
        # Ridge solutions lie in the row space of X: with more features than samples and
        # many fits (cross-validation), solve in an orthonormal basis Q of that space
        # (X = R^T Q^T, coef = Q c, ||coef|| = ||c||); every fold's rows share it.
        basis = None
        Xw = Xa
        if cand is not None and float(self.l1_ratio) == 0.0 and Xa.shape[1] > Xa.shape[0]:
            basis, r = np.linalg.qr(Xa.T)
            Xw = np.ascontiguousarray(r.T)
        full = _CoxProblem(Xw, event, time, self.ties)
        if cand is None:
            self.alpha_ = float(self.alpha)  # type: ignore[arg-type]
            path = np.array([self.alpha_])
            if float(self.l1_ratio) > 0 and self.alpha_ > 0:
                # warm starts from the all-zero solution: much faster than a cold start
                grid = _alpha_grid(
                    full, float(self.l1_ratio), int(self.n_alphas), self._min_ratio(*Xa.shape)
                )
                path = np.append(grid[grid > self.alpha_], self.alpha_)
            for name in ("alphas_", "cv_loss_"):
                if hasattr(self, name):
                    delattr(self, name)
        else:
            if cand.size == 0:
                cand = _alpha_grid(
                    full,
                    float(self.l1_ratio),
                    int(self.n_alphas),
                    self._min_ratio(*Xa.shape),
                    basis,
                )
            self.alphas_ = cand
            raw, held = self._cross_validate(Xw, event, time, full, cand)
            self.cv_loss_ = raw / np.maximum(held, 1.0)[None, :]
            done = ~np.isnan(raw).any(axis=1)
            totals = np.where(done, np.nansum(raw, axis=1), np.inf)
            i_best = int(np.argmin(totals))
            self.alpha_ = float(cand[i_best])
            path = cand[: i_best + 1]
        solver = self._path_solver(full)
        for a in path:
            solver.solve(float(a))
        if solver.max_violation > 10 * float(self.tol):
            warnings.warn(
                f"PenalizedCox did not converge (KKT violation {solver.max_violation:.2g} > tol "
                f"{self.tol:g}) within max_iter={self.max_iter}; increase max_iter or alpha, or "
                "standardise the features",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.coef_ = solver.b.copy() if basis is None else basis @ solver.b
        self.n_iter_ = int(solver.n_iter)
        self.baseline_ = BreslowBaseline().fit(Xa @ self.coef_, event, time)
        self.unique_times_ = self.baseline_.unique_times_

    # -- prediction --------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Risk scores ``X @ coef_`` (log-hazard ratios); higher = higher risk.

        DataFrame columns are aligned to the training features by name.
        """
        check_is_fitted(self, "coef_")
        return self._prepare_X(X) @ self.coef_

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "coef_")
        arrays = {"coef": np.asarray(self.coef_, dtype=np.float64)}
        arrays.update({f"baseline.{k}": v for k, v in self.baseline_.to_state().items()})
        if hasattr(self, "alphas_"):
            arrays["alphas"] = np.asarray(self.alphas_, dtype=np.float64)
            arrays["cv_loss"] = np.asarray(self.cv_loss_, dtype=np.float64)
        params = self.get_params(deep=False)
        if not isinstance(params["alpha"], str) and np.ndim(params["alpha"]) > 0:
            params["alpha"] = [float(a) for a in np.asarray(params["alpha"]).reshape(-1)]
        elif not isinstance(params["alpha"], str):
            params["alpha"] = float(params["alpha"])
        if not isinstance(params["random_state"], int | type(None)):
            params["random_state"] = None
        names = getattr(self, "feature_names_in_", None)
        config = {
            "params": {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()},
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if names is None else [str(n) for n in names],
            "alpha_": float(self.alpha_),
            "n_iter": int(self.n_iter_),
        }
        return arrays, config

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> PenalizedCox:
        try:
            est = cls(**config["params"])
        except TypeError as exc:
            raise ValueError(f"model configuration does not fit {cls.__name__}: {exc}") from None
        coef = np.asarray(arrays["coef"], dtype=np.float64).reshape(-1)
        n = int(config["n_features_in"])
        if coef.shape[0] != n:
            raise ValueError(
                f"saved coefficients have {coef.shape[0]} entries but the configuration "
                f"says {n} features; the model files are inconsistent, re-save the model"
            )
        est.coef_ = coef
        est.n_features_in_ = n
        if config.get("feature_names_in") is not None:
            est.feature_names_in_ = np.asarray(config["feature_names_in"], dtype=object)
        est.alpha_ = float(config["alpha_"])
        est.n_iter_ = int(config.get("n_iter", 0))
        if "alphas" in arrays:
            est.alphas_ = np.asarray(arrays["alphas"], dtype=np.float64)
            est.cv_loss_ = np.asarray(arrays["cv_loss"], dtype=np.float64)
        est.baseline_ = BreslowBaseline.from_state(
            {k[len("baseline.") :]: v for k, v in arrays.items() if k.startswith("baseline.")}
        )
        est.unique_times_ = est.baseline_.unique_times_
        return est
