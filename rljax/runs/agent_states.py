"""The final agent states of a run: what a trained policy needs (``agent_state.msgpack``), and
optionally the whole states, replay included (``agent_state_full.msgpack``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from rljax._errors import ValidationError
from rljax.runs.files import _damaged, _pack, _unpack, write_bytes_atomic

AGENT_STATE_FILE = "agent_state.msgpack"  # what a trained policy needs (Agent.policy_part)
FULL_STATE_FILE = "agent_state_full.msgpack"  # the whole final states, replay included (if asked)


def save_agent_states(run_dir: str | os.PathLike, agent_states: Any, file: str = AGENT_STATE_FILE) -> None:
    """Atomically saves every run's final agent state (unpacked: leading axis = run)."""
    import jax

    leaves = {str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(agent_states))}
    write_bytes_atomic(Path(run_dir) / file, _pack(leaves))


def load_agent_state(
    run_dir: str | os.PathLike, template: Any, run_index: int, whole: Any = None, file: str = AGENT_STATE_FILE
) -> Any:
    """Run ``run_index``'s agent state from :func:`save_agent_states`.

    ``template`` is the pytree of ONE run's agent state (shapes only are used).
    ``whole``: the template of the whole state, for folders written before
    ``agent_state.msgpack`` left the replay buffer out (their file matches it; the
    whole state is returned then).
    """
    import jax

    path = Path(run_dir) / file
    payload = _unpack(path)
    if not isinstance(payload, dict) or not all(
        str(i) in payload and isinstance(payload[str(i)], np.ndarray) for i in range(len(payload))
    ):
        raise _damaged(path, "not rljax agent states (corrupted?)")
    stacked = [payload[str(i)] for i in range(len(payload))]

    def matches(spec: list[Any]) -> bool:
        return len(stacked) == len(spec) and all(
            a.ndim == b.ndim + 1 and a.shape[0] > run_index and tuple(a.shape[1:]) == tuple(b.shape)
            for a, b in zip(stacked, spec)
        )

    spec, treedef = jax.tree.flatten(template)
    if not matches(spec) and whole is not None and matches(jax.tree.leaves(whole)):
        spec, treedef = jax.tree.flatten(whole)
    if not matches(spec):
        raise ValidationError(f"{run_dir}/{file} does not match this agent's state")
    leaves = [a[run_index] for a in stacked]
    return jax.tree.unflatten(treedef, [jax.numpy.asarray(x) for x in leaves])
