"""Importing rljax changes nothing else in the process; errors that are bugs keep their traceback."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def last_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_rljax_changes_no_module_hook_or_device_count():
    out = last_json(
        python("""
        import json, sys
        before, hooks = set(sys.modules), list(sys.meta_path)
        import rljax
        added = sorted(m for m in set(sys.modules) - before if m != "rljax" and not m.startswith("rljax."))
        import jax
        print(json.dumps({"added": added, "hooks": sys.meta_path == hooks, "devices": jax.device_count()}))
        """)
    )
    alone = last_json(python("import json, jax; print(json.dumps({'devices': jax.device_count()}))"))
    assert out == {"added": [], "hooks": True, "devices": alone["devices"]}


def test_training_in_python_leaves_no_stand_in_module_and_no_jax_setting_behind(tmp_path):
    out = last_json(
        python(f"""
        import json, sys, warnings
        import jax
        config = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
        import rljax
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = rljax.train("q_learning", "Chain", seeds=[0], total_steps=200, eval_episodes=1, progress=False,
                            compile_cache={str(tmp_path / "cache")!r})
        print(json.dumps({{
            "seaborn": "seaborn" in sys.modules,
            "stand_ins": [k for k, v in sys.modules.items() if type(v).__name__ == "_Deferred"],
            "config": (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
            == config,
            "warned": any("rljax.use_cpu_devices()" in str(w.message) for w in caught),
            "devices": r.num_devices,
        }}))
        """)
    )
    # One CPU device (nothing asked for 2), said in a warning; gymnax's plotting modules never loaded.
    assert out == {"seaborn": False, "stand_ins": [], "config": True, "warned": True, "devices": 1}


def test_use_cpu_devices_before_jax_starts_and_a_one_line_error_after():
    out = last_json(
        python("""
        import json, rljax
        n = rljax.use_cpu_devices()
        import jax
        jax.numpy.zeros(1)  # JAX's backends start
        try:
            rljax.use_cpu_devices(3)
        except rljax.ValidationError as err:
            late = str(err)
        print(json.dumps({"n": n, "devices": jax.device_count(), "late": late}))
        """)
    )
    assert out["n"] == out["devices"] == 2
    assert "started already with 2 device(s), not 3" in out["late"] and "\n" not in out["late"]
    with pytest.raises(ValueError, match="whole number"):
        import rljax

        rljax.use_cpu_devices(0)


def test_a_validation_error_is_one_line_and_a_bug_keeps_its_traceback():
    bad = python("import sys, rljax.cli; sys.exit(rljax.cli.main(['train', 'dqn', '--env', 'Nope-v0']))")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    bug = python("""
        import sys, rljax.cli
        def broken(args):
            raise ValueError("an internal fault")  # not a ValidationError: a bug, not the user's input
        rljax.cli.cmd_train = broken
        sys.exit(rljax.cli.main(["train", "dqn", "--env", "CartPole-v1"]))
        """)
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "an internal fault" in bug.stderr


def test_a_stuck_segment_raises_in_the_caller_and_the_interpreter_lives_on():
    out = last_json(
        python("""
        import dataclasses, json, threading, time, jax, rljax
        from rljax.agents import get_agent

        base, release = get_agent("q_learning"), threading.Event()

        def update(key, state, batch, config, clock):
            # From the 40th update on, the segment waits on the host until released.
            jax.debug.callback(lambda u: release.wait() if u >= 40 else None, clock.updates)
            return base.update(key, state, batch, config, clock)

        start = time.monotonic()
        try:
            rljax.train(dataclasses.replace(base, update=update), "Chain", [0, 1], total_steps=2000, eval_every=100,
                        eval_episodes=2, watchdog_seconds=3, progress=False)
            raised = None
        except rljax.RunStuck as err:
            raised = str(err)
        waited = time.monotonic() - start
        release.set()  # the stuck computation finishes; the interpreter trains again
        again = rljax.train("q_learning", "Chain", [0], total_steps=200, eval_episodes=1, progress=False)
        print(json.dumps({"raised": raised, "waited": waited, "again": float(again.final_eval_return[0])}))
        """)
    )
    assert out["raised"] is not None and "no segment finished for" in out["raised"]
    assert "watchdog_seconds=" in out["raised"]
    assert out["waited"] < 120 and out["again"] == out["again"]  # a finite number: it ran
