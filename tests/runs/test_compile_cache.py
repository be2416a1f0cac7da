"""JAX's persistent compile cache: on by default, named in manifest.json, checked rather than assumed."""

import json
import os
import subprocess
import sys

import jax.monitoring
import pytest

from rljax.runs import compile_cache
from rljax.runs.compile_cache import CacheWatch

TRAIN = [
    "train",
    "dqn",
    "--env",
    "CartPole-v1",
    "--seeds",
    "2",
    "--total-steps",
    "2000",
    "--eval-episodes",
    "2",
    "--no-progress",
    "--set",
    "hidden_sizes=(16,)",
    "--set",
    "learning_starts=200",
]


def rljax_train(out, cache: str) -> tuple[dict, dict]:
    env = {**os.environ, "RLJAX_COMPILE_CACHE": cache}
    cmd = [sys.executable, "-m", "rljax.cli", *TRAIN, "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "summary.json").read_text()), json.loads((out / "manifest.json").read_text())


def test_a_second_identical_run_loads_its_program_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first, manifest = rljax_train(tmp_path / "a", str(cache))
    assert manifest["compile_cache_dir"] == str(cache)
    assert first["compile_cache"]["hits"] == 0 and first["compile_cache"]["misses"] >= 1
    assert any(cache.iterdir())  # the program was saved
    assert first["compile_cache"]["programs_saved"] == 3  # and the traced programs (rljax.runs.program_cache)
    second, _ = rljax_train(tmp_path / "b", str(cache))
    if second["compile_cache"]["working"] is False:
        pytest.skip(f"this machine rejects reloaded cache entries (jax issue 38445): {second['compile_cache']}")
    assert second["compile_cache"]["hits"] >= 1 and second["compile_cache"]["working"] is True
    assert second["compile_cache"]["programs_loaded"] == 3  # not traced again
    assert second["compile_time_s"] < first["compile_time_s"] / 2
    assert second["final_eval_return"] == first["final_eval_return"]  # the same program, the same numbers


def test_an_entry_torn_by_a_kill_is_removed_and_saved_again(tmp_path):
    """JAX never rewrites an entry that exists: a truncated one (a process killed while writing it)
    would fail every later run's read. rljax deletes it after the failed read; the next run saves it."""
    cache = tmp_path / "cache"
    first, _ = rljax_train(tmp_path / "a", str(cache))
    entries = sorted(cache.glob("*-cache"))
    assert entries
    for entry in entries:  # as a SIGKILL halfway through each write would leave them
        data = entry.read_bytes()
        entry.write_bytes(data[: len(data) // 2])
    env = {**os.environ, "RLJAX_COMPILE_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "rljax.cli", *TRAIN, "--out", str(tmp_path / "b")]
    torn = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert torn.returncode == 0, torn.stderr
    assert f"removed {len(entries)} torn compile-cache entries" in torn.stderr
    assert "not working on this machine" not in torn.stderr
    assert not [e for e in entries if e.exists()]
    second = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert second["final_eval_return"] == first["final_eval_return"]
    third, _ = rljax_train(tmp_path / "c", str(cache))  # saved again, whole
    # (which programs are saved depends on timing: those that compiled in under MIN_COMPILE_SECONDS are not)
    assert set(cache.glob("*-cache")) & set(entries)
    assert not compile_cache.remove_torn_entries(cache)
    assert third["final_eval_return"] == first["final_eval_return"]


def test_the_cache_turns_off(tmp_path):
    summary, manifest = rljax_train(tmp_path / "a", "off")
    assert manifest["compile_cache_dir"] is None
    assert summary["compile_cache"] == {
        "folder": None,
        "hits": 0,
        "misses": 0,
        "saved_s": 0.0,
        "working": None,
        "programs_loaded": 0,
        "programs_saved": 0,
    }


def test_default_folder_and_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for off in ("off", "0", "False", "no"):
        monkeypatch.setenv(compile_cache.ENV_VAR, off)
        assert compile_cache.resolve(None) is None
        assert compile_cache.resolve(True) == tmp_path / "rljax" / "jax"  # asked for explicitly
    monkeypatch.delenv(compile_cache.ENV_VAR)
    assert compile_cache.resolve(None) == tmp_path / "rljax" / "jax"
    assert compile_cache.resolve(False) is None
    assert compile_cache.resolve(tmp_path / "x") == tmp_path / "x"


def test_a_reload_that_saved_no_time_or_a_read_error_says_the_cache_is_not_working(tmp_path, capsys):
    with compile_cache.using(None):  # listeners on, cache off: events below are synthetic
        with CacheWatch(tmp_path) as watch:
            jax.monitoring.record_event("/jax/compilation_cache/cache_hits")
            jax.monitoring.record_event_duration_secs("/jax/compilation_cache/compile_time_saved_sec", -0.2)
        assert watch.stats.working is False
        assert "not working on this machine" in capsys.readouterr().err
        with CacheWatch(tmp_path) as watch:
            import warnings

            warnings.warn("Error reading persistent compilation cache entry for 'jit_f': XlaRuntimeError: ...")
        assert watch.stats.read_errors == 1 and watch.stats.working is False
        assert "1 unreadable entries" in capsys.readouterr().err
        with CacheWatch(tmp_path) as watch:
            jax.monitoring.record_event("/jax/compilation_cache/cache_hits")
            jax.monitoring.record_event_duration_secs("/jax/compilation_cache/compile_time_saved_sec", 4.0)
        assert watch.stats.working is True and capsys.readouterr().err == ""
    with CacheWatch(tmp_path) as watch:  # outside: rljax no longer listens
        jax.monitoring.record_event("/jax/compilation_cache/cache_hits")
    assert watch.stats.hits == 0


def test_a_run_leaves_jax_cache_settings_as_it_found_them(tmp_path):
    before = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
    listeners = len(jax._src.monitoring.get_event_listeners())
    with compile_cache.using(tmp_path / "cache") as folder:
        assert jax.config.jax_compilation_cache_dir == str(folder) == str(tmp_path / "cache")
    after = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
    assert after == before and len(jax._src.monitoring.get_event_listeners()) == listeners
