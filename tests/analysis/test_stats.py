"""rljax.analysis.stats against direct scipy computations and brute-force references."""

import warnings

import numpy as np
import pytest
import scipy.stats

from rljax.analysis import stats

R = 2_000  # resamples: enough to exercise the code, few enough to stay fast


def scipy_ci(x, statistic, seed=0, confidence=0.95, n_resamples=R):
    """The same interval computed straight from scipy: the reference for bootstrap_ci."""
    res = scipy.stats.bootstrap(
        (np.asarray(x, dtype=float),),
        statistic,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return res.confidence_interval.low, res.confidence_interval.high


def test_iqm_is_the_quarter_trimmed_mean():
    assert stats.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    x = np.random.default_rng(0).normal(size=37)
    assert abs(stats.iqm(x) - scipy.stats.trim_mean(x, 0.25)) < 1e-12
    assert stats.iqm([1.0, 2.0, 30.0]) == pytest.approx(11.0)  # n < 4: nothing cut, the mean


@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_iqm_ci_agrees_with_scipy(confidence):
    x = np.random.default_rng(1).gamma(2.0, 50.0, size=23)
    low, high = stats.bootstrap_ci(x, stats.iqm, num_resamples=R, confidence=confidence, seed=7)
    ref = scipy_ci(x, lambda s, axis: scipy.stats.trim_mean(s, 0.25, axis=axis), seed=7, confidence=confidence)
    assert abs(low - ref[0]) < 1e-9 and abs(high - ref[1]) < 1e-9
    assert low < stats.iqm(x) < high


def test_mean_and_median_ci_agree_with_scipy_and_are_deterministic():
    x = np.random.default_rng(2).normal(100.0, 20.0, size=15)
    for fn in (np.mean, np.median):
        ci = stats.bootstrap_ci(x, fn, num_resamples=R, seed=3)
        ref = scipy_ci(x, fn, seed=3)
        assert abs(ci[0] - ref[0]) < 1e-9 and abs(ci[1] - ref[1]) < 1e-9
        assert stats.bootstrap_ci(x, fn, num_resamples=R, seed=3) == ci
    assert stats.bootstrap_ci(x, np.mean, num_resamples=R, seed=4) != stats.bootstrap_ci(
        x, np.mean, num_resamples=R, seed=3
    )


def test_ci_is_narrower_with_more_seeds():
    rng = np.random.default_rng(4)
    few, many = rng.normal(size=5), rng.normal(size=50)
    for fn in (np.mean, stats.iqm):
        w_few = np.diff(stats.bootstrap_ci(few, fn, num_resamples=R))[0]
        w_many = np.diff(stats.bootstrap_ci(many, fn, num_resamples=R))[0]
        assert w_few > w_many > 0


def test_degenerate_samples_give_a_point_interval_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats.bootstrap_ci([3.5], np.mean) == (3.5, 3.5)
        assert stats.bootstrap_ci([500.0] * 8, stats.iqm) == (500.0, 500.0)
        assert stats.probability_of_improvement([2.0], [1.0, 3.0]) == (0.5, 0.5, 0.5)
        summary = stats.summarize([7.0])
    assert summary["ci_note"] and summary["mean_ci_low"] == summary["mean_ci_high"] == 7.0
    assert np.isnan(summary["std"])


def test_bad_samples_raise():
    with pytest.raises(ValueError, match="empty"):
        stats.bootstrap_ci([], np.mean)
    with pytest.raises(ValueError, match="non-finite"):
        stats.summarize([1.0, np.nan])


def brute_force_prob(x, y):
    return np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y])


def test_probability_of_improvement_matches_pairwise_count():
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 6, size=9).astype(float), rng.integers(1, 7, size=12).astype(float)  # many ties
    p, low, high = stats.probability_of_improvement(x, y, num_resamples=R, seed=1)
    assert abs(p - brute_force_prob(x, y)) < 1e-12
    u = scipy.stats.mannwhitneyu(x, y).statistic
    assert abs(p - u / (x.size * y.size)) < 1e-12
    assert 0.0 <= low <= p <= high <= 1.0
    # The bootstrap evaluates the rank formula on every resample: check it there against
    # the same bootstrap (same resamples) with the pairwise count as its statistic.
    pairwise = lambda a, b, axis: (
        (a[..., :, None] > b[..., None, :]) + 0.5 * (a[..., :, None] == b[..., None, :])
    ).mean(axis=(-2, -1))
    ref = scipy.stats.bootstrap(
        (x, y), pairwise, n_resamples=R, method="percentile", paired=False, rng=np.random.default_rng(1)
    ).confidence_interval
    assert abs(low - ref.low) < 1e-9 and abs(high - ref.high) < 1e-9


def test_probability_of_improvement_extremes_and_symmetry():
    assert stats.probability_of_improvement([5.0, 6.0, 7.0], [1.0, 2.0], num_resamples=R) == (1.0, 1.0, 1.0)
    x, y = [1.0, 4.0, 4.0, 9.0], [2.0, 4.0, 8.0]
    assert stats.probability_of_improvement(x, y, num_resamples=R)[0] + stats.probability_of_improvement(
        y, x, num_resamples=R
    )[0] == pytest.approx(1.0)


def hand_rolled_stratified(samples_by_task, statistic, num_resamples, confidence, seed):
    """One resample at a time, task by task (sorted names), as the docstring describes."""
    rng = np.random.default_rng(seed)
    tasks = sorted(samples_by_task)
    idx = {t: rng.integers(0, len(samples_by_task[t]), size=(num_resamples, len(samples_by_task[t]))) for t in tasks}
    values = []
    for b in range(num_resamples):
        pooled = []
        for t in tasks:
            pooled.extend(np.asarray(samples_by_task[t])[idx[t][b]])
        values.append(statistic(np.array(pooled)))
    alpha = (1 - confidence) / 2
    return tuple(np.percentile(values, [100 * alpha, 100 * (1 - alpha)]))


def test_stratified_bootstrap_matches_hand_rolled_reference():
    samples = {"taxi": [0.9, 1.0, 0.7, 1.1], "cartpole": [1.0, 0.2, 0.95], "lake": [0.5, 0.8, 0.75, 0.6, 0.1]}
    got = stats.stratified_bootstrap_ci(samples, stats.iqm, num_resamples=300, confidence=0.9, seed=11)
    ref = hand_rolled_stratified(samples, lambda v: scipy.stats.trim_mean(v, 0.25), 300, 0.9, 11)
    assert abs(got[0] - ref[0]) < 1e-9 and abs(got[1] - ref[1]) < 1e-9
    # the result does not depend on the mapping's order
    reordered = dict(reversed(list(samples.items())))
    assert stats.stratified_bootstrap_ci(reordered, stats.iqm, num_resamples=300, confidence=0.9, seed=11) == got


def test_stratified_bootstrap_keeps_each_tasks_share():
    # Task a always scores 0, task b always 1: resampling within tasks keeps 2 zeros and
    # 3 ones in every resample, so the pooled mean is exactly 0.6; pooling first would not.
    samples = {"a": [0.0, 0.0], "b": [1.0, 1.0, 1.0]}
    assert stats.stratified_bootstrap_ci(samples, np.mean, num_resamples=R) == (0.6, 0.6)
    low, high = stats.bootstrap_ci([0.0, 0.0, 1.0, 1.0, 1.0], np.mean, num_resamples=R)
    assert low < 0.6 < high


def test_fraction_solved_counts_reaching_the_threshold():
    assert stats.fraction_solved([475.0, 474.9, 500.0, 0.0], 475.0) == 0.5
    assert stats.fraction_solved([0.7], 0.7) == 1.0


@pytest.mark.parametrize(
    "returns, held, fraction",
    [
        ([100.0, 480.0, 300.0, 476.0, 490.0, 500.0], 3, 4 / 5),  # touches, falls back, holds from 3
        ([480.0, 500.0, 300.0, 200.0, 490.0, 100.0], None, 3 / 6),  # touches and ends below
        ([100.0, 200.0, np.nan, 300.0], None, None),  # never touches
        ([100.0, 200.0, 475.0, 500.0, 475.0], 2, 1.0),  # holds from its first touch (475 counts)
        ([500.0, 500.0], 0, 1.0),
        ([480.0, np.nan, 490.0], 2, 2 / 3),  # a NaN evaluation counts as below
        ([480.0, 490.0, np.nan], None, 2 / 3),
        ([], None, None),
    ],
)
def test_held_from_and_fraction_held_after_first_touch(returns, held, fraction):
    assert stats.held_from(returns, 475.0) == held
    assert stats.fraction_held(returns, 475.0) == fraction


def test_summarize():
    x = [500.0, 480.0, 300.0, 500.0, 499.5]
    s = stats.summarize(x, threshold=475.0, num_resamples=R, seed=0)
    assert s["n"] == 5 and s["mean"] == pytest.approx(455.9) and s["median"] == 499.5
    assert s["iqm"] == pytest.approx((480.0 + 499.5 + 500.0) / 3)
    assert s["std"] == pytest.approx(np.std(x, ddof=1))
    assert s["fraction_solved"] == 0.8 and s["threshold"] == 475.0 and s["ci_note"] is None
    for name, fn in (("mean", np.mean), ("median", np.median), ("iqm", stats.iqm)):
        assert (s[f"{name}_ci_low"], s[f"{name}_ci_high"]) == stats.bootstrap_ci(x, fn, R, seed=0)
    assert s["method"] == "percentile" and s["num_resamples"] == R
    assert stats.summarize(x, num_resamples=R)["fraction_solved"] is None
