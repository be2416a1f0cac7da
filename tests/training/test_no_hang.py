"""No run may hang: the batched-LAPACK deadlock is gone, and a stuck segment ends loudly.

See the LAPACK note in ``rljax/training/batch.py`` (jaxlib 0.10's CPU LAPACK kernels can
deadlock XLA's thread pool when vmapped) and :mod:`rljax.training.watchdog`.
"""

import dataclasses
import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.agents import get_agent
from rljax.experiment import train
from rljax.training.batch import lapack_calls
from rljax.training.watchdog import EXIT_HANG, Watchdog

ROOT = Path(__file__).resolve().parents[2]


def test_initialisation_with_orthogonal_layers_never_deadlocks():
    """REINFORCE's init (orthogonal initialisers -> QR) run 300 times for a lane of 8 seeds.

    Before the fix this hung within the first few calls on a 2-core machine (the
    program below is ``benchmarks/stress_hang.py --mode init``); a call that makes
    no progress for 60 s counts as hung.
    """
    proc = subprocess.run(
        [sys.executable, "benchmarks/stress_hang.py", "--mode", "init", "--runs", "300", "--timeout", "60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "300/300 calls completed, then finished" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert proc.returncode == 0


def test_lapack_calls_are_found_in_a_lowered_program():
    qr = jax.jit(jax.vmap(jnp.linalg.qr)).lower(jnp.zeros((3, 4, 4))).as_text()
    assert lapack_calls(qr) == ["lapack_sgeqrf_ffi", "lapack_sorgqr_ffi"]
    assert lapack_calls(jax.jit(lambda x: x @ x).lower(jnp.zeros((4, 4))).as_text()) == []


def _with_qr_in_update(agent):
    """REINFORCE whose update also QR-factorises a matrix built from the batch (LAPACK per update)."""

    def update(key, state, batch, config, clock):
        state, metrics = agent.update(key, state, batch, config, clock)
        o = batch.obs[0, 0]
        _, r = jnp.linalg.qr(jnp.outer(o, o) + jnp.eye(o.shape[0]))
        return state, {**metrics, "qr_diag": jnp.abs(jnp.diag(r)).sum()}

    return dataclasses.replace(agent, update=update)


def test_a_segment_that_calls_lapack_runs_one_run_at_a_time_and_stays_batch_invariant():
    agent = _with_qr_in_update(get_agent("reinforce"))
    kw = dict(total_steps=3000, eval_episodes=2, lane_width=4, watchdog_seconds=0)
    with pytest.warns(UserWarning, match="calls LAPACK"):
        batch = train(agent, "CartPole-v1", [0, 1, 2, 5], **kw)
    with pytest.warns(UserWarning, match="calls LAPACK"):
        alone = train(agent, "CartPole-v1", [5], **kw)
    assert np.isfinite(batch.metrics["qr_diag"]).all() and (batch.metrics["qr_diag"] >= 1).all()
    for name, values in batch.metrics.items():
        np.testing.assert_array_equal(values[3], alone.metrics[name][0], err_msg=name)


def test_watchdog_trips_only_after_the_limit_and_the_limit_follows_the_slowest_gap():
    codes, out = [], io.StringIO()
    dog = Watchdog(min_seconds=0.4, factor=3.0, exit=codes.append, stream=out, native=False)
    with dog:
        for _ in range(8):  # beats every 0.1 s: well inside 0.4 s
            time.sleep(0.1)
            dog.beat()
        assert codes == []
        time.sleep(0.3)
        dog.beat()  # a 0.3 s gap: the limit becomes 3 x 0.3 = 0.9 s
        assert dog.limit() == pytest.approx(0.9, abs=0.05)
        time.sleep(0.6)
        assert codes == []  # 0.6 s > min_seconds, but under 0.9 s
        time.sleep(0.8)
    assert codes == [EXIT_HANG]
    report = out.getvalue()
    assert "no progress for" in report and "looks hung" in report and "What to do" in report


def _compute_for(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:  # busy on the CPU, as a long XLA segment is
        sum(range(1000))


def test_a_slow_segment_that_keeps_computing_is_not_a_hang_until_the_busy_limit():
    codes, out = [], io.StringIO()
    dog = Watchdog(min_seconds=0.4, factor=3.0, busy_factor=5.0, exit=codes.append, stream=out, native=False)
    with dog:
        _compute_for(1.2)  # 3x the 0.4 s limit, the CPU busy all along
        assert codes == []
        dog.beat()
        assert dog.limit() == pytest.approx(3.6, abs=0.15)
    slow = Watchdog(min_seconds=0.3, factor=1.0, busy_factor=3.0, exit=codes.append, stream=out, native=False)
    with slow:
        _compute_for(0.7)
        assert codes == []  # past the limit, still computing: left alone
        _compute_for(0.8)  # past 3 x 0.3 s: an endless loop, say
    assert codes == [EXIT_HANG]
    assert "still computing" in out.getvalue() and "3x the 0 s limit" not in out.getvalue()


def test_an_idle_wait_after_computing_trips_at_the_limit():
    codes, out = [], io.StringIO()
    with Watchdog(min_seconds=0.6, factor=1.0, busy_factor=100.0, exit=codes.append, stream=out, native=False):
        _compute_for(0.5)
        time.sleep(1.6)  # the process waits on nothing: idle past the limit and over the whole idle window
    assert codes == [EXIT_HANG]
    assert "looks hung" in out.getvalue() and "s of CPU in the last" in out.getvalue()


def test_watchdog_off():
    assert not Watchdog(0).enabled and not Watchdog(None).enabled


STUCK_RUN = """
import dataclasses, time, jax
from rljax.agents import get_agent
from rljax.experiment import train

base = get_agent("q_learning")

def update(key, state, batch, config, clock):
    # From the 40th update on, the segment waits on the host forever.
    jax.debug.callback(lambda u: time.sleep(3600) if u >= 40 else None, clock.updates)
    return base.update(key, state, batch, config, clock)

train(dataclasses.replace(base, update=update), "Chain", [0, 1], total_steps=2000, eval_every=100,
      eval_episodes=2, watchdog_seconds=3, watchdog_advice="Resume hint for the test.", on_hang="exit")
print("finished")
"""


def test_a_stuck_segment_prints_every_stack_and_exits_with_advice():
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(STUCK_RUN)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == EXIT_HANG, proc.stderr[-3000:]
    assert "finished" not in proc.stdout
    err = proc.stderr
    assert "rljax: no progress for" in err and "looks hung" in err
    assert "Thread 0x" in err and "most recent call first" in err  # Python stacks of every thread
    assert "Native stacks:" in err
    assert "What to do" in err and "--watchdog SECONDS" in err and "Resume hint for the test." in err
    assert time.monotonic() - start < 240
