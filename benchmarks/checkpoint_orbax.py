"""rljax's checkpoint writer against orbax-checkpoint's, on a real training state: the default DQN on
CartPole-v1 at 16 and 128 seeds (parameters, optimiser, replay buffers, environments, keys: every array
``rljax.train(...).final_state`` holds, sharded over the CPU devices as training left it).

Each writer runs in a fresh process that trains the same state (1024 steps per seed), saves it
once untimed, then ``--repeats`` times into fresh temporary folders; the table gives medians of:

- rljax ``save_checkpoint`` (synchronous, SHA-256, atomic rename, fsync) and ``load_checkpoint``
  (into the template, as ``rljax.experiment`` restores);
- orbax synchronous save and restore: ``ocp.Checkpointer(ocp.StandardCheckpointHandler())`` with its
  defaults (OCDBT, zarr2, zstd); restore into the state's shapes, dtypes and shardings;
- orbax asynchronous save, ``ocp.StandardCheckpointer`` (an ``AsyncCheckpointer``): seconds until
  ``save()`` returns (what the training loop waits) and until ``wait_until_finished()`` returns;
- rljax ``BackgroundCheckpoints``: seconds until ``save()`` returns (it copies the state to the host
  first) and until ``wait()`` returns;
- the checkpoint's bytes on disk; the peak resident memory one save (or save and restore) adds over
  the process before it (``VmHWM`` reset through ``/proc/self/clear_refs``; Linux only, else blank);
- what a restore does after one byte of the checkpoint's largest file is flipped (at 10, 30, 50, 70
  and 90% of it, one save each): how often it raises (``error``), returns other arrays without a word
  (``silent``) or the same ones (``same``: the byte was not data).

The state's zero bytes are given too: the replay buffers of so short a run are mostly empty, which
orbax's default zstd compression shrinks and rljax's uncompressed file does not. So each cell runs
twice: on the state as trained, and (``random``) on the same arrays filled with random bytes, a state
that does not compress (a long run's full buffers lie between).

Every restore is checked bitwise against the saved arrays. Needs orbax-checkpoint, which rljax does
not depend on: install it beside rljax in a separate environment, with rljax's jax and jaxlib::

    uv venv /tmp/orbax-venv --python .venv/bin/python
    uv pip install --python /tmp/orbax-venv/bin/python -e . orbax-checkpoint jax==X jaxlib==X
    /tmp/orbax-venv/bin/python benchmarks/checkpoint_orbax.py --seeds 16,128 --json results/orbax.json

What orbax would and would not give rljax (orbax-checkpoint 0.12.8 with tensorstore 0.1.86, read in
its code and tried on this state):

- Multi-process sharded saves into one checkpoint, and restores into another sharding: a save of this
  state sharded over 2 CPU devices restored bitwise into one device (the target's ``sharding``).
  rljax's multi-process checkpoint is one file per process and resumes only on the same processes
  and devices.
- Asynchronous saves: ``save()`` waits for the device-to-host transfer (``np.asarray`` of each
  shard), then writes on background threads. On the CPU backend that transfer is a view of the
  arrays, not a copy, so ``save()`` returns at once; while the write is in flight a jitted step with
  ``donate_argnums`` does not donate those buffers (its input stays alive; without the save it is
  deleted), so a segment that overlaps a write allocates the state anew instead of reusing it.
  rljax's ``BackgroundCheckpoints`` copies to the host (shard by shard, into the previous save's
  host arrays), which costs the state's size in memory and one copy's time.
- Atomicity and durability: orbax writes into a ``*.orbax-checkpoint-tmp*`` folder and renames it
  (``AtomicRenameTemporaryPath``; a ``commit_success`` file where renames are not atomic); its files
  are fsynced by tensorstore (62 ``fsync`` calls for one save of 16 seeds under ``strace``, against
  rljax's 2: the file and its folder).
- Checksums: none over the data with the defaults (OCDBT, zarr2, zstd); zarr3 puts a CRC32C on each
  shard's index, not on the data. The flipped-byte column shows what that means: rljax's SHA-256
  refuses every damaged file; orbax mostly restores other numbers without a word.
- Compression: orbax's zstd shrinks the mostly empty replay buffers of a short run 30-fold; rljax
  writes the arrays as they are.
- Keeping the previous checkpoint: ``CheckpointManager(max_to_keep=2)`` keeps the last two steps, but
  ``restore()`` restores ``latest_step()`` and does not fall back to an older one when it is damaged;
  rljax's ``load_checkpoint`` does, and keeps the metrics history in the same atomic file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CELL = r"""
import gc, json, shutil, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np
import rljax

rljax.use_cpu_devices()

import jax
from rljax.runs import checkpoints

seeds, writer, repeats, fill = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
result = rljax.train("dqn", "CartPole-v1", seeds=range(seeds), total_steps=1024, eval_episodes=2, progress=False)
state = result.final_state
if fill == "random":  # the same arrays, full of random bytes: a state that does not compress
    rng = np.random.default_rng(0)

    def scramble(x):
        if x.dtype == bool:
            data = rng.integers(0, 2, x.shape).astype(bool)
        else:
            data = rng.integers(0, 256, x.nbytes, dtype=np.uint8).view(x.dtype).reshape(x.shape)
        return jax.device_put(data, x.sharding)

    state = jax.tree.map(scramble, state)
jax.block_until_ready(state)
saved = [np.asarray(x) for x in jax.tree.leaves(state)]  # what every restore must give back, bit for bit
history = [{"eval_return": np.zeros(seeds, np.float32)}]
template = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)


def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return status("VmRSS")
    except OSError:
        return None


def same(restored):
    leaves = jax.tree.leaves(restored)
    assert len(leaves) == len(saved)
    for a, b in zip(leaves, saved):
        a = np.asarray(a)
        assert a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes(), "restore differs"


if writer.startswith("orbax"):
    import orbax.checkpoint as ocp


def save_rljax(folder):
    checkpoints.save_checkpoint(folder, state, history, [1.0])
    return {}


def load_rljax(folder):
    return checkpoints.load_checkpoint(folder, template).state


def save_orbax(folder):
    with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as ckptr:
        ckptr.save(Path(folder) / "state", args=ocp.args.StandardSave(state))
    return {}


def load_orbax(folder):
    with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as ckptr:
        return ckptr.restore(Path(folder) / "state", args=ocp.args.StandardRestore(template))


def save_orbax_async(folder):
    with ocp.StandardCheckpointer() as ckptr:
        start = time.perf_counter()
        ckptr.save(Path(folder) / "state", state)
        returned = time.perf_counter() - start
        ckptr.wait_until_finished()
    return {"returned_s": returned}


def save_background(folder):
    writer = checkpoints.BackgroundCheckpoints(folder)
    start = time.perf_counter()
    writer.save(state, history, [1.0])
    returned = time.perf_counter() - start
    writer.wait()
    return {"returned_s": returned}


save, load = {
    "rljax": (save_rljax, load_rljax),
    "orbax": (save_orbax, load_orbax),
    "orbax_async": (save_orbax_async, load_orbax),
    "rljax_background": (save_background, load_rljax),
}[writer]


def du(folder):
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def largest(folder):
    return max((p for p in Path(folder).rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


root = Path(tempfile.mkdtemp(prefix="rljax-orbax-"))
rows = []
try:
    for i in range(repeats + 1):  # the first one warms up (thread pools, imports) and is not timed
        folder = root / f"r{i}"
        gc.collect()
        before = reset_peak()
        start = time.perf_counter()
        extra = save(folder)
        save_s = time.perf_counter() - start
        save_peak = max(0, status("VmHWM") - before) if before is not None else None
        size = du(folder)
        gc.collect()
        before = reset_peak()
        start = time.perf_counter()
        restored = load(folder)
        jax.block_until_ready(restored)
        load_s = time.perf_counter() - start
        load_peak = max(0, status("VmHWM") - before) if before is not None else None
        same(restored)
        del restored
        if i:
            rows.append({"save_s": save_s, "load_s": load_s, "bytes": size, "save_peak": save_peak,
                         "load_peak": load_peak, **extra})
        shutil.rmtree(folder)
    flipped = {}
    for k, where in enumerate((0.1, 0.3, 0.5, 0.7, 0.9)):  # one byte flipped in the largest file, 5 places
        folder = root / f"flipped{k}"
        save(folder)
        target = largest(folder)
        with open(target, "r+b") as f:
            f.seek(int(target.stat().st_size * where))
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))
        try:
            restored = load(folder)
            jax.block_until_ready(restored)
            try:
                same(restored)
                outcome = "same"
            except AssertionError:
                outcome = "silent"
        except Exception as err:
            outcome = "error"
            errors = flipped.setdefault("messages", [])
            errors.append(f"{type(err).__name__}: {str(err)[:200]}")
        flipped[outcome] = flipped.get(outcome, 0) + 1
        shutil.rmtree(folder)
finally:
    shutil.rmtree(root, ignore_errors=True)


def median(key):
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


print(json.dumps({
    "state_bytes": sum(x.nbytes for x in saved),
    "zero_bytes": sum(int(np.count_nonzero(np.ascontiguousarray(x).reshape(-1).view(np.uint8) == 0)) for x in saved),
    "leaves": len(saved),
    **{k: median(k) for k in ("save_s", "load_s", "bytes", "returned_s")},
    **{k: max((r[k] for r in rows if r[k] is not None), default=None) for k in ("save_peak", "load_peak")},
    "flipped": flipped,
    "largest_file": str(target.relative_to(folder)),
}))
"""

WRITERS = {
    "rljax": "rljax save_checkpoint / load_checkpoint",
    "orbax": "orbax Checkpointer(StandardCheckpointHandler)",
    "orbax_async": "orbax StandardCheckpointer (async)",
    "rljax_background": "rljax BackgroundCheckpoints",
}


def run_cell(seeds: int, writer: str, repeats: int, fill: str) -> dict:
    """One fresh process: trains, times one writer, prints its measurements as JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", CELL, str(seeds), writer, str(repeats), fill], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"the {seeds}-seed {writer} cell failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def get(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "missing"

    return ", ".join(f"{name} {get(name)}" for name in ("orbax-checkpoint", "jax", "jaxlib", "flax", "tensorstore"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="16,128", help="comma-separated seed counts")
    parser.add_argument("--repeats", type=int, default=3, help="timed saves per writer (after one untimed)")
    parser.add_argument("--writers", default=",".join(WRITERS), help="comma-separated, of: " + ", ".join(WRITERS))
    parser.add_argument(
        "--states",
        default="trained,random",
        help="trained: the state as training left it; random: its arrays filled with random bytes",
    )
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    print(versions())
    print()
    print(
        "| state | seeds | writer | state MiB (zero bytes) | on disk MiB | save s | save returns s | restore s "
        "| peak RSS added MiB save / restore | one flipped byte (5 tries) |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    rows = []
    mib = 2**20

    def num(x, fmt: str) -> str:
        return "" if x is None else format(x, fmt)

    seed_counts, writers = [int(s) for s in args.seeds.split(",")], args.writers.split(",")
    cells = [(fill, seeds, writer) for fill in args.states.split(",") for seeds in seed_counts for writer in writers]
    for fill, seeds, writer in cells:
        cell = run_cell(seeds, writer, args.repeats, fill)
        rows.append({"state": fill, "seeds": seeds, "writer": writer, **cell})
        peaks = " / ".join(
            num(cell[k] / mib if cell[k] is not None else None, ",.0f") for k in ("save_peak", "load_peak")
        )
        flips = ", ".join(f"{k} {cell['flipped'][k]}" for k in ("error", "silent", "same") if k in cell["flipped"])
        zeros = cell["zero_bytes"] / cell["state_bytes"]
        print(
            f"| {fill} | {seeds} | {WRITERS[writer]} | {cell['state_bytes'] / mib:,.0f} ({zeros:.0%}) | "
            f"{cell['bytes'] / mib:,.1f} | "
            f"{cell['save_s']:.2f} | {num(cell['returned_s'], '.2f')} | {cell['load_s']:.2f} | {peaks} | "
            f"{flips} |",
            flush=True,
        )
    if args.json:
        from rljax.runs.files import write_json_atomic

        write_json_atomic(args.json, rows)


if __name__ == "__main__":
    main()
