"""Checks every agent's tests make the same way.

- :func:`run_state`: one run's agent state out of a packed ``[lanes, width, ...]`` final state.
- :func:`assert_seed_alone_equals_seed_in_batch`: a seed trained alone gives bitwise the
  state and metrics it gives inside a batch, and two seeds of the batch differ.
- :func:`assert_learning_rate_sweep_is_one_program`: a grid of learning rates traces the
  update once, and the same seed learns other parameters under another learning rate.
- :func:`assert_resume_equals_uninterrupted`: a run stopped by a signal after its third
  segment and resumed ends with bitwise the metrics and agent state of the run never stopped.
- :data:`PROBES`: the five probe environments by number (``rljax.envs.probes``).
"""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import numpy as np
import pytest

from rljax.training.interrupts import RunInterrupted

PROBES = {
    1: "Probe-ConstantReward",
    2: "Probe-ObsDependentReward",
    3: "Probe-DiscountedReward",
    4: "Probe-ActionDependentReward",
    5: "Probe-ActionObsDependentReward",
}


def run_state(result: Any, run: int = 0) -> Any:
    """The agent state of run ``run`` from a packed ``[lanes, width, ...]`` final state."""
    return jax.tree.map(lambda x: np.asarray(x).reshape((-1,) + x.shape[2:])[run], result.final_state.agent_state)


def _same(a: Any, b: Any) -> bool:
    return all(jax.tree.leaves(jax.tree.map(np.array_equal, a, b)))


def assert_seed_alone_equals_seed_in_batch(
    train: Callable[..., Any], seeds: Sequence[int], seed: int, metrics: Sequence[str] = ("eval_return",), **kwargs
) -> tuple[Any, Any]:
    """``train(seeds=..., **kwargs)`` for ``seeds`` and for ``[seed]`` alone; returns both results.

    In lanes of 2 (unless ``lane_width`` is given), so the batch runs as several groups
    of one lane per device while the seed alone is one group: a program that held more
    than one lane would compile with other fusions (``rljax.training.lanes``).
    """
    seeds = list(seeds)
    kwargs.setdefault("lane_width", 2)
    assert -(-len(seeds) // kwargs["lane_width"]) > jax.local_device_count(), "the batch must span several groups"
    batch = train(seeds=seeds, **kwargs)
    alone = train(seeds=[seed], **kwargs)
    i = seeds.index(seed)
    jax.tree.map(np.testing.assert_array_equal, run_state(alone, 0), run_state(batch, i))
    for name in metrics:
        np.testing.assert_array_equal(alone.metrics[name][0], batch.metrics[name][i])
    neighbour = i + 1 if i + 1 < len(seeds) else i - 1
    assert not _same(run_state(batch, i).params, run_state(batch, neighbour).params)  # keys come from the seed
    return batch, alone


def assert_learning_rate_sweep_is_one_program(
    train: Callable[..., Any],
    agent: Any,
    learning_rates: Sequence[float],
    seeds: Sequence[int],
    overrides: dict[str, Any],
    **kwargs,
) -> Any:
    """``train(agent, seeds=..., overrides=[one per learning rate], **kwargs)`` with ``agent.update``
    counted at trace time; returns the result."""
    traces = {"update": 0}

    def counted(*args):
        traces["update"] += 1  # runs at trace time only
        return agent.update(*args)

    result = train(
        dataclasses.replace(agent, update=counted),
        seeds=list(seeds),
        overrides=[{**overrides, "learning_rate": lr} for lr in learning_rates],
        **kwargs,
    )
    assert traces["update"] == 1, traces  # one traced (so compiled) update serves every run
    assert result.config_ids == [c for c in range(len(learning_rates)) for _ in seeds]
    first, second = run_state(result, 0), run_state(result, len(seeds))  # seeds[0] at two learning rates
    assert not _same(first.params, second.params)
    return result


def assert_resume_equals_uninterrupted(
    train: Callable[..., Any], out: Path, metrics: Sequence[str], **run: Any
) -> tuple[Any, Any]:
    """``train(**run)`` straight through, and again into ``out`` stopped by SIGINT after segment 2
    and resumed; returns ``(straight, resumed)``."""
    straight = train(**run)

    def stop_after_segment_2(i, metrics):
        if i == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(RunInterrupted):
        train(out=out, on_segment=stop_after_segment_2, **run)
    resumed = train(out=out, resume=True, **run)
    for name in metrics:
        np.testing.assert_array_equal(resumed.metrics[name], straight.metrics[name])
    jax.tree.map(np.testing.assert_array_equal, resumed.final_state.agent_state, straight.final_state.agent_state)
    return straight, resumed
