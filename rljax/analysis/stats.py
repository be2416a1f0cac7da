"""Seed-sweep statistics: robust point estimates with bootstrap confidence intervals.

The recipe follows Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of
the Statistical Precipice": report the interquartile mean (IQM) next to the mean and
median, put a bootstrap confidence interval on every aggregate, resample seeds
*within* each task when pooling tasks (stratified bootstrap), and compare two
algorithms by the probability that one beats the other on a random seed.

Confidence intervals are **percentile** bootstrap intervals. Why not BCa: with the
handful of seeds an RL study has (5-20) and returns that pile up on a cap (CartPole's
500, FrozenLake's 1.0), BCa's jackknife acceleration is unstable and scipy's BCa
returns NaN with a warning on tied data; the percentile interval is always defined,
is what ``rliable`` (the paper's library) reports, and is the only kind the
stratified bootstrap below can produce, so every interval in a report is the same
kind. Its known cost: with very few seeds it is somewhat too narrow.

Every function is deterministic for a fixed ``seed``; the mean, median and IQM
intervals of :func:`summarize` share one set of resamples (same seed), so they can be
compared with each other.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

import numpy as np
import scipy.stats

from rljax._defaults import DEFAULT_RESAMPLES  # noqa: F401  (defined there, so the CLI reads it cheaply)
from rljax._errors import ValidationError

Statistic = Callable[..., Any]

DEFAULT_CONFIDENCE = 0.95
CI_METHOD = "percentile"

DEGENERATE_NOTE = (
    "fewer than two seeds or all values equal: no spread to resample, so the interval collapses to the point estimate"
)


def _as_sample(x: Any, name: str = "x") -> np.ndarray:
    """A 1-D float array of finite values; anything else is an error, not a NaN result."""
    arr = np.asarray(x, dtype=float).reshape(-1)
    if arr.size == 0:
        raise ValidationError(f"{name} is empty: a statistic needs at least one value")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"{name} has non-finite values (NaN or inf); drop or replace them first")
    return arr


def _takes_axis(statistic: Statistic) -> bool:
    try:
        return "axis" in inspect.signature(statistic).parameters
    except (TypeError, ValueError):  # some builtins have no inspectable signature
        return False


def _apply(statistic: Statistic, x: np.ndarray) -> float:
    """``statistic`` of one 1-D sample, whether or not it takes an ``axis`` argument."""
    value = statistic(x, axis=-1) if _takes_axis(statistic) else statistic(x)
    return float(value)


def is_degenerate(x: Any) -> bool:
    """True when a bootstrap has nothing to resample: one value, or all values equal."""
    arr = np.asarray(x, dtype=float).reshape(-1)
    return arr.size < 2 or bool(np.all(arr == arr[0]))


def iqm(x: Any, axis: int | None = None) -> Any:
    """Interquartile mean: the mean of the middle 50% of values.

    ``scipy.stats.trim_mean(x, 0.25)`` — it cuts ``int(0.25 * n)`` values from each
    end, so with fewer than 4 values nothing is cut and it equals the mean. Robust to
    the odd seed that fails (unlike the mean) while using half the data (unlike the
    median). ``axis=None`` flattens; pass an axis to reduce along it (scipy's
    bootstrap calls it that way on a batch of resamples).
    """
    return scipy.stats.trim_mean(np.asarray(x, dtype=float), 0.25, axis=axis)


def bootstrap_ci(
    x: Any,
    statistic: Statistic,
    num_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    method: str = CI_METHOD,
) -> tuple[float, float]:
    """Two-sided bootstrap confidence interval ``(low, high)`` of ``statistic(x)``.

    A thin wrapper over ``scipy.stats.bootstrap`` with ``method="percentile"`` by
    default (see the module docstring for why not BCa) and the resamples drawn from
    ``np.random.default_rng(seed)``. ``statistic`` should take an ``axis`` keyword
    (``np.mean``, ``np.median``, :func:`iqm` do) so all resamples are evaluated at once.

    Degenerate data: with a single value, or all values equal, there is no spread to
    resample (scipy refuses n=1), so the interval is ``(v, v)`` with
    ``v = statistic(x)``; :func:`is_degenerate` tells a caller when to say so.
    """
    sample = _as_sample(x)
    if is_degenerate(sample):
        v = _apply(statistic, sample)
        return v, v
    result = scipy.stats.bootstrap(
        (sample,),
        statistic,
        n_resamples=num_resamples,
        confidence_level=confidence,
        method=method,
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def stratified_bootstrap_ci(
    samples_by_task: Mapping[str, Any],
    statistic: Statistic,
    num_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of an aggregate over several tasks, resampling seeds within each task.

    Each resample draws ``n_t`` seeds with replacement from task ``t``'s ``n_t`` seeds,
    independently per task, concatenates the draws of all tasks and applies
    ``statistic`` to that pooled sample (e.g. :func:`iqm` gives the paper's aggregate
    IQM). Stratifying keeps every task's share of the pool fixed: a plain bootstrap of
    the pooled scores could, by chance, draw one task's seeds only and so mix
    "which tasks" noise into "which seeds" noise.

    Tasks are visited in sorted-name order, so the result does not depend on the
    mapping's insertion order. Pool only scores on a common scale (normalise returns,
    e.g. by the solved threshold, before mixing CartPole with FrozenLake).
    ``statistic`` must take an ``axis`` keyword. Degenerate data gives ``(v, v)``.
    """
    if not samples_by_task:
        raise ValidationError("samples_by_task is empty")
    tasks = sorted(samples_by_task)
    samples = [_as_sample(samples_by_task[t], name=f"task {t!r}") for t in tasks]
    pooled = np.concatenate(samples)
    if all(is_degenerate(s) for s in samples):
        # Every resample is the original pool: the statistic cannot vary.
        v = float(statistic(pooled, axis=-1))
        return v, v
    rng = np.random.default_rng(seed)
    draws = [s[rng.integers(0, s.size, size=(num_resamples, s.size))] for s in samples]
    values = np.asarray(statistic(np.concatenate(draws, axis=1), axis=-1), dtype=float)
    alpha = (1.0 - confidence) / 2.0
    # np.percentile's default (linear) interpolation, as scipy's percentile method uses.
    low, high = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def _prob_greater(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """``P(X > Y) + 0.5 P(X = Y)`` along ``axis`` via the Mann-Whitney U statistic.

    ``U_x = R_x - n (n + 1) / 2`` where ``R_x`` is the rank sum of x in the combined
    sample (ties get average ranks, which is what makes a tie count one half), and
    ``U_x / (n m)`` is the probability. Ranking costs O((n+m) log(n+m)) memory-light
    work per resample instead of the n*m table of all pairs.
    """
    x = np.moveaxis(x, axis, -1)
    y = np.moveaxis(y, axis, -1)
    n, m = x.shape[-1], y.shape[-1]
    ranks = scipy.stats.rankdata(np.concatenate([x, y], axis=-1), axis=-1)
    u_x = ranks[..., :n].sum(axis=-1) - n * (n + 1) / 2.0
    return u_x / (n * m)


def probability_of_improvement(
    x: Any,
    y: Any,
    num_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(p, ci_low, ci_high)``: the probability that a random seed of X beats one of Y.

    ``p = P(X > Y) + 0.5 P(X = Y)`` over all ``n * m`` pairs, i.e. the Mann-Whitney
    ``U / (n m)``: 0.5 means no difference, 1 means every X seed beats every Y seed.
    The CI is a percentile bootstrap resampling x's and y's seeds independently
    (``scipy.stats.bootstrap`` with ``paired=False``). When the CI excludes 0.5 the
    difference is significant at that confidence level. If either sample has fewer
    than two seeds (scipy cannot resample it) the CI is ``(p, p)``.
    """
    xs, ys = _as_sample(x, "x"), _as_sample(y, "y")
    p = float(_prob_greater(xs, ys))
    if xs.size < 2 or ys.size < 2:
        return p, p, p
    result = scipy.stats.bootstrap(
        (xs, ys),
        _prob_greater,
        n_resamples=num_resamples,
        confidence_level=confidence,
        method=CI_METHOD,
        paired=False,
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return p, float(ci.low), float(ci.high)


def fraction_solved(x: Any, threshold: float) -> float:
    """Fraction of seeds whose final return reaches ``threshold`` (``>=``, as in "solved at 475")."""
    sample = _as_sample(x)
    return float(np.mean(sample >= threshold))


def held_from(returns: Any, threshold: float) -> int | None:
    """Index of the first evaluation from which every later one is at or above ``threshold``.

    ``returns`` is one seed's evaluation returns in order; NaN counts as below. None when
    the last evaluation is below (the seed does not hold the threshold at the end). An
    agent that reaches the threshold and falls back holds only from its last recovery,
    which the first index at or above it (the time to the threshold) does not show.
    """
    ok = np.asarray(returns, dtype=float).reshape(-1) >= threshold  # NaN compares False
    if ok.size == 0 or not ok[-1]:
        return None
    below = np.flatnonzero(~ok)
    return int(below[-1]) + 1 if below.size else 0


def fraction_held(returns: Any, threshold: float) -> float | None:
    """Of one seed's evaluations from the first at or above ``threshold`` on, the fraction at or above it.

    1.0 for a seed that never falls back after first reaching the threshold; NaN counts
    as below; None when no evaluation reaches it.
    """
    ok = np.asarray(returns, dtype=float).reshape(-1) >= threshold
    if not ok.any():
        return None
    return float(ok[int(ok.argmax()) :].mean())


def summarize(
    x: Any,
    threshold: float | None = None,
    num_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything a report needs about one set of per-seed final returns.

    Keys: ``n``, ``mean``, ``median``, ``iqm``, each with ``<name>_ci_low`` /
    ``<name>_ci_high``; ``std`` (sample standard deviation, ddof=1; NaN for one
    seed); ``threshold`` and ``fraction_solved`` (None without a threshold);
    ``confidence``, ``num_resamples``, ``method``; and ``ci_note`` (None, or why
    the intervals collapsed to points). All three intervals use the same resamples.
    """
    sample = _as_sample(x)
    out: dict[str, Any] = {"n": int(sample.size)}
    for name, fn in (("mean", np.mean), ("median", np.median), ("iqm", iqm)):
        out[name] = _apply(fn, sample)
        low, high = bootstrap_ci(sample, fn, num_resamples, confidence, seed)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = low, high
    out["std"] = float(np.std(sample, ddof=1)) if sample.size > 1 else float("nan")
    out["threshold"] = None if threshold is None else float(threshold)
    out["fraction_solved"] = None if threshold is None else fraction_solved(sample, threshold)
    out["confidence"] = float(confidence)
    out["num_resamples"] = int(num_resamples)
    out["method"] = CI_METHOD
    out["ci_note"] = DEGENERATE_NOTE if is_degenerate(sample) else None
    return out
