"""The Keras Taxi tutorial: Taxi-v3 scored after 100, 250 and 500 training games, by Q-learning and by
the tutorial's own network (DQN with an ``Embedding(500, 6)`` Q-network and replay).

The tutorial's leaderboard asks for the mean score after 100, 250 and 500 games of
training. Here every seed trains one environment (so a game is an episode of its
own), the greedy policy is evaluated on 100 fresh games every ``--eval-every`` steps,
and the score reported for N games is the first evaluation after the seed finished
its N-th training game. Random play scores about -770.

The tutorial's DQN, as a DQN config (:data:`TUTORIAL_DQN`, DQN's ``Taxi-v3`` preset): the Q-network is one
``Embedding(500, 6)`` whose rows are the six Q values (``torso="embedding"``,
``hidden_sizes=()``), Adam at 1e-2, mean absolute error, batches of 64 from replay
after every step as soon as the memory holds more than 64, gamma 0.99, no target
network (the bootstrap uses the network being trained: ``tau=1`` after every
gradient step), epsilon 1 decaying by 0.99 per game to 0.05. What differs: rljax
bootstraps time-limit truncations (the tutorial's ``done`` stops them), Adam's
epsilon is 1e-8 (Keras: 1e-7), and the memory holds 100k transitions (the
tutorial's 500k are never reached in 500 games of at most 200 steps).

    .venv/bin/python experiments/keras_taxi_leaderboard.py --seeds 16 --out results/keras_taxi_leaderboard
"""

import argparse
from pathlib import Path

import numpy as np

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has

from rljax.agents.dqn import PRESETS as DQN_PRESETS
from rljax.analysis.plots import plot_curves
from rljax.envs import SOLVED_AT
from rljax.experiment import train
from rljax.runs.files import write_json_atomic

ENV_ID = "Taxi-v3"
GAMES = (100, 250, 500)

# Taxi is deterministic, so a learning rate of 1 is exact; one env per seed makes
# "games" the tutorial's own episodes. (Epsilon 0 with the optimistic zero table
# explores too, but scored worse: -33 after 500 games vs -22.)
TABULAR = {"learning_rate": 1.0, "num_envs": 1, "epsilon_decay_fraction": 0.3}

# The tutorial's DQN is DQN's Taxi-v3 preset (rljax/agents/dqn.py), every field spelled out there.
TUTORIAL_DQN = {k: v for k, v in DQN_PRESETS["Taxi-v3"].items() if k != "total_steps"}


def score_after_games(result, games: int) -> np.ndarray:
    """Per seed: the evaluation return right after its ``games``-th finished training game."""
    played = np.cumsum(result.metrics["train_episodes"], axis=1)  # [seeds, segments]
    first = np.argmax(played >= games, axis=1)
    if np.any(played[:, -1] < games):
        raise RuntimeError(f"some seeds played fewer than {games} games; raise --total-steps")
    return result.metrics["eval_return"][np.arange(len(first)), first]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--total-steps", type=int, default=60_000, help="env steps per seed (>= 500 games)")
    parser.add_argument("--eval-every", type=int, default=500, help="env steps between evaluations")
    parser.add_argument("--out", default="results/keras_taxi_leaderboard")
    args = parser.parse_args()
    out = Path(args.out)
    runs = {"q_learning": ("q_learning", TABULAR), "tutorial_dqn": ("dqn", TUTORIAL_DQN)}
    table, curves, summaries = {}, [], {}
    print(f"{'agent':>13} {'games':>6} {'mean score':>11} {'min':>8} {'max':>8}")
    for label, (agent, overrides) in runs.items():
        result = train(
            agent,
            ENV_ID,
            seeds=range(args.seeds),
            total_steps=args.total_steps,
            overrides=overrides,
            eval_every=args.eval_every,
        )
        table[label] = {}
        for games in GAMES:
            scores = score_after_games(result, games)
            table[label][games] = scores.tolist()
            print(f"{label:>13} {games:>6} {scores.mean():>11.2f} {scores.min():>8.2f} {scores.max():>8.2f}")
        final = result.final_eval_return
        print(
            f"{label:>13} final ({result.env_steps_per_seed} steps): mean {final.mean():.2f}, min {final.min():.2f}; "
            f"compile {result.compile_time_s:.1f} s, train {result.train_time_s:.1f} s"
        )
        curves.append((label, result.metrics["env_steps"][0], result.metrics["eval_return"]))
        summaries[label] = result.summary()
    plot_curves(curves, out / "curves.png", title="Taxi-v3: the Keras Taxi tutorial", solved_at=SOLVED_AT[ENV_ID])
    write_json_atomic(out / "summary.json", {"score_after_games": table, "runs": summaries})
    print(f"wrote {out}/curves.png and {out}/summary.json")


if __name__ == "__main__":
    main()
