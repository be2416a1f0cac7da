"""Reproduces the keras-rl lecture's two small demos: Q-value iteration on a 3-state MDP, and bandits.

The keras-rl lecture ("Bonus: Reinforcement Learning") has

1. **Q-value iteration** on a 3-state, 3-action MDP with impossible actions kept at
   ``-inf``: 50 synchronous sweeps with gamma = 0.9, printing the table::

       [[18.91891892, 17.02702702, 13.62162162],
        [ 0.        ,        -inf, -4.87971488],
        [       -inf, 50.13365013,        -inf]]

2. **Bernoulli bandits** with arms (0.7, 0.2, 0.3): Thompson sampling on Beta(1, 1)
   priors (20 pulls, then the Beta posteriors plotted), and epsilon-greedy as an
   exercise.

This script recomputes the table with :func:`rljax.classic.planning.q_value_iteration` (in
float64) and prints the greedy policy; repeats the 20-pull Thompson demo and plots
its posteriors; then runs epsilon-greedy (epsilon 0.1), UCB1 and Thompson sampling
over many independent runs (default 2000 runs x 1000 pulls, all runs of a strategy
in one compiled ``vmap``/``scan``), prints each strategy's mean final cumulative
regret with a 95% bootstrap confidence interval (``scipy.stats.bootstrap``), and
plots the mean cumulative regret curves with 95% bands.

Run (about 20-40 s on 2 CPU cores)::

    .venv/bin/python experiments/lecture_mdp_and_bandits.py --out results/lecture

Outputs in ``--out``: ``regret.png`` (mean cumulative regret curves),
``posteriors.png`` (the 20-pull demo's Beta posteriors) and ``summary.json`` (every
printed number).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import jax
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.classic import bandits, planning
from rljax.envs.tabular import model_from_dense
from rljax.envs.tabular_mdp import three_state_mdp

SEED_TABLE = np.array(
    [[18.91891892, 17.02702702, 13.62162162], [0.0, -np.inf, -4.87971488], [-np.inf, 50.13365013, -np.inf]]
)

BANDITS = (0.7, 0.2, 0.3)
STRATEGIES = {  # label -> (strategy, hyperparameters)
    "epsilon-greedy (eps=0.1)": ("epsilon_greedy", {"epsilon": 0.1}),
    "UCB1": ("ucb1", {}),
    "Thompson sampling (Beta(1,1))": ("thompson", {}),
}


def seed_mdp():
    """The keras-rl lecture's MDP as a TabularModel (impossible actions masked)."""
    T, R, mask = three_state_mdp()
    return model_from_dense(T, R, initial=np.array([1.0, 0.0, 0.0]), action_mask=mask)


def q_value_iteration_demo() -> dict:
    """The keras-rl lecture's 50 sweeps at gamma 0.9, plus the converged Q* for comparison."""
    model = seed_mdp()
    with jax.enable_x64(True):  # the tutorial printed float64 numbers
        q50 = np.asarray(planning.q_value_iteration(model, 0.9, num_iterations=50))
        q_star = np.asarray(planning.q_value_iteration(model, 0.9, tol=1e-12))
        policy = np.asarray(planning.greedy_policy(q50))
    finite = np.isfinite(SEED_TABLE)
    max_diff = float(np.max(np.abs(q50[finite] - SEED_TABLE[finite])))
    np.set_printoptions(precision=8, suppress=True)
    print("Q-value iteration, 50 iterations, gamma 0.9 (the keras-rl lecture's MDP):")
    print(q50)
    print(
        f"max |difference| from the keras-rl lecture's printed table: {max_diff:.2e} (same -inf entries: "
        f"{bool(np.array_equal(np.isinf(q50), np.isinf(SEED_TABLE)))})"
    )
    print(f"greedy policy (action per state): {policy.tolist()}")
    print(
        f"converged Q* (until change < 1e-12) differs from 50 sweeps by at most "
        f"{np.max(np.abs(q_star[finite] - q50[finite])):.2e}"
    )
    return {
        "q_50_iterations": np.where(np.isinf(q50), None, q50).tolist(),
        "max_abs_diff_from_seed_table": max_diff,
        "greedy_policy": policy.tolist(),
    }


def thompson_20_pulls_demo(key: jax.Array, out: Path) -> dict:
    """The keras-rl lecture's single 20-pull Thompson run, and a plot of its Beta posteriors."""
    result = bandits.run_bandit("thompson", key, BANDITS, num_pulls=20, num_runs=1)
    arms, rewards = np.asarray(result.arms[0]), np.asarray(result.rewards[0])
    pulls = np.bincount(arms, minlength=len(BANDITS))
    wins = np.bincount(arms, weights=rewards, minlength=len(BANDITS)).astype(int)
    print("\nThompson sampling, one run of 20 pulls (the keras-rl lecture's demo):")
    print("Total pulls", pulls.tolist())
    print("Total wins ", wins.tolist())
    x = np.linspace(0, 1, 201)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for a, (n, w) in enumerate(zip(pulls, wins)):
        style = ("-", "--", ":")[a % 3]  # arms with equal counts have identical curves
        ax.plot(x, stats.beta(1 + w, 1 + n - w).pdf(x), style, label=f"arm_{a} (p={BANDITS[a]}): {w}/{n} wins")
    ax.set(xlabel="arm success probability", ylabel="posterior density", title="Beta posteriors after 20 pulls")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "posteriors.png", dpi=120)
    plt.close(fig)
    return {"pulls": pulls.tolist(), "wins": wins.tolist()}


def bootstrap_mean_ci(values: np.ndarray, seed: int) -> tuple[float, float]:
    """95% bootstrap (BCa) confidence interval of the mean."""
    res = stats.bootstrap(
        (values,), np.mean, confidence_level=0.95, n_resamples=9999, method="BCa", rng=np.random.default_rng(seed)
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def bandit_comparison(key: jax.Array, num_runs: int, num_pulls: int, out: Path, seed: int) -> dict:
    """All strategies over num_runs independent runs; regret table and plot."""
    print(f"\nBernoulli bandit {BANDITS}: {num_runs} runs x {num_pulls} pulls per strategy")
    header = f"{'strategy':32s} {'mean final regret':>18s} {'95% bootstrap CI':>20s}"
    print(f"{header} {'best arm, last 100':>19s} {'time':>6s}")
    summary = {}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    t_axis = np.arange(1, num_pulls + 1)
    for (label, (name, params)), strategy_key in zip(STRATEGIES.items(), jax.random.split(key, len(STRATEGIES))):
        start = time.perf_counter()
        result = jax.block_until_ready(bandits.run_bandit(name, strategy_key, BANDITS, num_pulls, num_runs, **params))
        seconds = time.perf_counter() - start
        regret = np.asarray(result.cumulative_regret, dtype=np.float64)  # [runs, pulls]
        final = regret[:, -1]
        low, high = bootstrap_mean_ci(final, seed)
        best_share = float(np.mean(np.asarray(result.arms[:, -100:]) == int(np.argmax(BANDITS))))
        print(f"{label:32s} {final.mean():18.2f} {f'[{low:.2f}, {high:.2f}]':>20s} {best_share:19.3f} {seconds:5.1f}s")
        summary[label] = {
            "mean_final_regret": float(final.mean()),
            "ci95": [low, high],
            "best_arm_share_last_100": best_share,
            "seconds": seconds,
        }
        # Band: 95% normal interval of the mean curve (bootstrapping every t is costlier
        # and visually identical at this many runs).
        mean = regret.mean(axis=0)
        half = 1.96 * regret.std(axis=0, ddof=1) / np.sqrt(num_runs)
        (line,) = ax.plot(t_axis, mean, label=label)
        ax.fill_between(t_axis, mean - half, mean + half, color=line.get_color(), alpha=0.25)
    ax.set(
        xlabel="pull",
        ylabel="mean cumulative regret",
        title=f"Bernoulli bandit {BANDITS}, {num_runs} runs (bands: 95% CI of the mean)",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "regret.png", dpi=120)
    plt.close(fig)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/lecture"), help="output folder")
    parser.add_argument("--runs", type=int, default=2000, help="independent runs per strategy")
    parser.add_argument("--pulls", type=int, default=1000, help="pulls per run")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    demo_key, comparison_key = jax.random.split(jax.random.key(args.seed))
    summary = {
        "q_value_iteration": q_value_iteration_demo(),
        "thompson_20_pulls": thompson_20_pulls_demo(demo_key, args.out),
        "bandits": bandit_comparison(comparison_key, args.runs, args.pulls, args.out, args.seed),
        "config": {"runs": args.runs, "pulls": args.pulls, "seed": args.seed, "probs": list(BANDITS)},
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"\nwrote {args.out / 'regret.png'}, {args.out / 'posteriors.png'}, {args.out / 'summary.json'} "
        f"in {time.perf_counter() - start:.1f}s"
    )


if __name__ == "__main__":
    main()
