"""The traced-program cache (rljax.runs.program_cache): a loaded program is the saved one, a stale or
broken entry is a miss, and only runs whose key can name everything the trace reads use it."""

import dataclasses
import importlib
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from rljax.agents import get_agent
from rljax.envs import registry
from rljax.experiment import train
from rljax.runs.program_cache import ProgramCache, loaded_sources
from rljax.training.batch import FAST_COMPILE, BatchRunner
from rljax.training.lanes import Lanes, seed_keys, stack_configs
from rljax.training.plan import build, program_cache


class Params(struct.PyTreeNode):
    """A pytree node jax.export cannot serialise by itself, with a static field."""

    w: jax.Array
    scale: float = struct.field(pytree_node=False, default=2.0)


def _program():
    return jax.jit(lambda p, x: {"y": p.scale * (x @ p.w), "n": jnp.sum(x)})


def _args(n=3):
    return Params(jnp.arange(n * n, dtype=jnp.float32).reshape(n, n)), jnp.ones((2, n), jnp.float32)


def test_a_saved_program_loads_with_its_structures_and_gives_the_same_numbers(tmp_path):
    args = _args()
    cache = ProgramCache(tmp_path, "identity")
    key = cache.key(args)
    cache.notes = ["a note the trace gave"]
    cache.save(key, {"f": jax.export.export(_program())(*args)})
    assert cache.saved == 1

    again = ProgramCache(tmp_path, "identity")
    loaded = again.load(key)
    assert again.loaded == 1 and again.notes == ["a note the trace gave"]
    out = loaded["f"].call(*args)
    expected = _program()(*args)
    assert jax.tree.structure(out) == jax.tree.structure(expected)
    np.testing.assert_array_equal(out["y"], expected["y"])


def test_the_key_follows_identity_shapes_and_dtypes_but_not_values(tmp_path):
    cache = ProgramCache(tmp_path, "identity")
    args = _args()
    same_shapes = (Params(args[0].w + 1.0), args[1] * 5.0)
    assert cache.key(args) == cache.key(same_shapes)
    assert cache.key(args) != cache.key(_args(4))
    assert cache.key(args) != cache.key((args[0], args[1].astype(jnp.int32)))
    assert cache.key(args) != cache.key((Params(args[0].w, scale=3.0), args[1]))  # a static field
    assert cache.key(args) != ProgramCache(tmp_path, "another identity").key(args)


def test_an_entry_is_stale_once_a_loaded_source_file_changes(tmp_path, monkeypatch):
    module_dir = tmp_path / "src"
    module_dir.mkdir()
    (module_dir / "stale_probe_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(module_dir))
    importlib.import_module("stale_probe_module")
    try:
        assert loaded_sources()["stale_probe_module"][0] == str(module_dir / "stale_probe_module.py")
        args = _args()
        cache = ProgramCache(tmp_path / "cache", "identity")
        key = cache.key(args)
        cache.save(key, {"f": jax.export.export(_program())(*args)})
        assert cache.load(key) is not None
        (module_dir / "stale_probe_module.py").write_text("VALUE = 22\n")  # another size
        assert ProgramCache(tmp_path / "cache", "identity").load(key) is None
    finally:
        sys.modules.pop("stale_probe_module", None)


def test_an_entry_is_stale_once_a_module_comes_from_another_file(tmp_path, monkeypatch):
    """Another copy of a package on the path (another environment, PYTHONPATH): the first copy's
    files are unchanged, but the module the trace would read is not the one it read."""
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        (folder / "moved_probe_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(first))
    importlib.import_module("moved_probe_module")
    try:
        args = _args()
        cache = ProgramCache(tmp_path / "cache", "identity")
        key = cache.key(args)
        cache.save(key, {"f": jax.export.export(_program())(*args)})
        assert cache.load(key) is not None
        sys.modules.pop("moved_probe_module")
        monkeypatch.syspath_prepend(str(second))
        importlib.import_module("moved_probe_module")
        assert ProgramCache(tmp_path / "cache", "identity").load(key) is None
    finally:
        sys.modules.pop("moved_probe_module", None)


def test_a_broken_or_foreign_entry_is_a_miss(tmp_path):
    args = _args()
    cache = ProgramCache(tmp_path, "identity")
    key = cache.key(args)
    assert cache.load(key) is None  # none yet
    cache.save(key, {"f": jax.export.export(_program())(*args)})
    path = tmp_path / "programs" / f"{key}.bin"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert cache.load(key) is None
    path.write_bytes(b"not an entry")
    assert cache.load(key) is None
    assert cache.loaded == 0


def test_only_built_in_agents_and_environments_in_one_process_use_it(tmp_path):
    plan = build("dqn", "CartPole-v1", {"hidden_sizes": (8,)}, total_steps=1000)
    assert program_cache(plan, tmp_path) is not None
    assert program_cache(plan, None) is None  # the compile cache is off
    mine = dataclasses.replace(get_agent("dqn"), name="my_dqn")
    assert program_cache(build(mine, "CartPole-v1", total_steps=1000), tmp_path) is None
    registry.register("CallableChain-test", lambda **kw: registry.make("Chain", **kw))
    try:
        assert program_cache(build("q_learning", "CallableChain-test", total_steps=1000), tmp_path) is None
    finally:
        registry._CALLABLES.pop("CallableChain-test")
        registry._RLJAX_ENVS.pop("CallableChain-test")
    assert program_cache(build("q_learning", "Chain", total_steps=1000), tmp_path) is not None


def _tiny_runner(plan, seeds, num_devices=2):
    runner = BatchRunner(plan.loop, Lanes(len(seeds), 2, num_devices), jax.local_devices()[:num_devices])
    return runner, seed_keys(seeds), stack_configs([plan.configs[0]] * len(seeds))


@pytest.mark.parametrize("num_devices", [1, 2])
def test_the_exported_path_gives_bitwise_the_numbers_of_the_traced_one(tmp_path, num_devices):
    """Through jax.export (saved, then loaded) or traced directly: the same metrics and state,
    on one device and with the lanes sharded over two."""
    plan = build(
        "dqn",
        "CartPole-v1",
        {"hidden_sizes": (16,), "learning_starts": 100, "buffer_size": 500, "batch_size": 32},
        total_steps=800,
        eval_every=400,  # two segments: the second starts from the state the first donated
        eval_episodes=2,
    )
    seeds = [0, 3, 4]
    results = []
    for cache in [None, ProgramCache(tmp_path, "tiny dqn"), ProgramCache(tmp_path, "tiny dqn")]:
        runner, keys, configs = _tiny_runner(plan, seeds, num_devices)
        # XLA's fast options (test time): the same for every path, so still a like-for-like check.
        runner.compile(keys, configs, FAST_COMPILE, program_cache=cache)
        results.append(runner.run(keys, configs))
        if cache is not None:
            results[-1] += ((cache.saved, cache.loaded),)
    assert results[1][2] == (3, 0) and results[2][2] == (0, 3)  # saved, then loaded
    for state, metrics, *_ in results[1:]:
        for name, values in results[0][1].items():
            np.testing.assert_array_equal(metrics[name], values, err_msg=name)
        for a, b in zip(jax.tree.leaves(results[0][0]), jax.tree.leaves(state)):
            np.testing.assert_array_equal(a, b)


def test_a_loaded_entry_repeats_the_warnings_its_trace_gave(tmp_path):
    """A segment that calls LAPACK is rebuilt one run at a time, with a warning, loaded or traced."""
    base = get_agent("reinforce")

    def update(key, state, batch, config, clock):  # a QR factorisation (LAPACK) in every update
        state, metrics = base.update(key, state, batch, config, clock)
        o = batch.obs[0, 0]
        return state, {**metrics, "qr": jnp.linalg.qr(jnp.outer(o, o) + jnp.eye(o.shape[0]))[1].sum()}

    plan = build(
        dataclasses.replace(base, update=update), "CartPole-v1", total_steps=600, eval_every=300, eval_episodes=2
    )
    for saved, loaded in [(3, 0), (0, 3)]:  # the first run saves the entry, the second loads it
        runner, keys, configs = _tiny_runner(plan, [0, 1])
        cache = ProgramCache(tmp_path, "reinforce with qr")
        with pytest.warns(UserWarning, match="segment program calls LAPACK"):
            runner.compile(keys, configs, FAST_COMPILE, program_cache=cache)
        assert (cache.saved, cache.loaded) == (saved, loaded)


def test_a_program_jax_export_refuses_is_traced_as_usual(tmp_path, capsys):
    """A host callback cannot be exported: the run compiles it the plain way and says why once."""
    base = get_agent("q_learning")

    def update(key, state, batch, config, clock):
        jax.debug.callback(lambda u: None, clock.updates)
        return base.update(key, state, batch, config, clock)

    plan = build(dataclasses.replace(base, update=update), "Chain", total_steps=400, eval_episodes=2)
    runner, keys, configs = _tiny_runner(plan, [0, 1])
    cache = ProgramCache(tmp_path, "callback")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runner.compile(keys, configs, program_cache=cache)
    assert "the traced programs are not cached" in capsys.readouterr().err
    assert cache.saved == 0
    _, metrics = runner.run(keys, configs)
    assert np.isfinite(metrics["eval_return"]).all()


@pytest.fixture
def cache_off_afterwards():
    """train(compile_cache=folder) must leave this process's JAX cache settings as they were."""
    before = jax.config.jax_compilation_cache_dir
    yield
    assert jax.config.jax_compilation_cache_dir == before


TINY_DQN = {"hidden_sizes": (8,), "learning_starts": 100, "buffer_size": 500, "batch_size": 32}


def test_train_reports_what_the_program_cache_did(tmp_path, cache_off_afterwards):
    kw = dict(overrides=TINY_DQN, total_steps=600, eval_episodes=2, progress=False, compile_cache=tmp_path)
    kw["trace_cache"] = True
    first = train("dqn", "CartPole-v1", [0, 1], **kw)
    second = train("dqn", "CartPole-v1", [0, 1], **kw)
    assert (first.compile_cache["programs_saved"], first.compile_cache["programs_loaded"]) == (3, 0)
    assert (second.compile_cache["programs_saved"], second.compile_cache["programs_loaded"]) == (0, 3)
    np.testing.assert_array_equal(first.metrics["eval_return"], second.metrics["eval_return"])


_PATCHED_RUN = dict(overrides=TINY_DQN, total_steps=800, eval_episodes=3, progress=False, compiler_options=FAST_COMPILE)


def _zero_td_loss(monkeypatch):
    """Replaces DQN's loss by one with no gradient: a patched run learns nothing."""
    from rljax.agents import dqn

    original = dqn.td_loss
    monkeypatch.setattr(dqn, "td_loss", lambda *a: (lambda loss, aux: (0.0 * loss, aux))(*original(*a)))


def test_a_function_patched_in_memory_runs_whatever_the_cache_holds(tmp_path, monkeypatch, cache_off_afterwards):
    """An entry is checked against the source files, not the functions in memory: the Python
    API does not reuse traced programs unless asked, so a patch made after an entry was saved runs."""
    seeds = [0, 1]
    unpatched = train("dqn", "CartPole-v1", seeds, compile_cache=tmp_path, trace_cache=True, **_PATCHED_RUN)
    assert unpatched.compile_cache["programs_saved"] == 3
    _zero_td_loss(monkeypatch)
    patched = train("dqn", "CartPole-v1", seeds, compile_cache=tmp_path, **_PATCHED_RUN)
    alone = train("dqn", "CartPole-v1", seeds, compile_cache=False, **_PATCHED_RUN)
    assert patched.compile_cache["programs_loaded"] == 0
    np.testing.assert_array_equal(patched.metrics["eval_return"], alone.metrics["eval_return"])
    assert not np.array_equal(patched.metrics["loss"], unpatched.metrics["loss"])


_SCRIPT = """
import json, sys
import numpy as np
import rljax
from rljax.training.batch import FAST_COMPILE
if sys.argv[1] == "patched":
    from rljax.agents import dqn
    original = dqn.td_loss
    dqn.td_loss = lambda *a: (lambda loss, aux: (0.0 * loss, aux))(*original(*a))
kw = dict(overrides={"hidden_sizes": (8,), "learning_starts": 100, "buffer_size": 500, "batch_size": 32},
          total_steps=800, eval_episodes=3, progress=False, compiler_options=FAST_COMPILE)
extra = {"trace_cache": True} if sys.argv[2] == "trace-cache" else {}
cache = False if sys.argv[3] == "off" else sys.argv[3]
r = rljax.train("dqn", "CartPole-v1", [0, 1], compile_cache=cache, **kw, **extra)
print(json.dumps({"loss": np.asarray(r.metrics["loss"]).tolist(), "cache": r.compile_cache}))
"""


def test_a_script_that_patches_a_function_gets_its_own_numbers_after_another_filled_the_cache(tmp_path):
    """Across processes: one script (unpatched, traced programs cached) fills the cache; a second,
    patched, runs its patch, with the numbers it gets with no cache at all."""
    import json
    import subprocess

    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)

    def run(*args):
        out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    cache = str(tmp_path / "cache")
    first = run("plain", "trace-cache", cache)
    patched = run("patched", "default", cache)
    alone = run("patched", "default", "off")
    assert first["cache"]["programs_saved"] == 3 and patched["cache"]["programs_loaded"] == 0
    assert patched["loss"] == alone["loss"] and patched["loss"] != first["loss"]
