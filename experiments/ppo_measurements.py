"""The measurements behind rljax/agents/ppo.py's docstring and presets.

    python experiments/ppo_measurements.py torso        # separate vs shared torso, CartPole-v1 preset
    python experiments/ppo_measurements.py gradients    # shared torso: value vs policy gradient on it
    python experiments/ppo_measurements.py bounds       # clip vs tanh Gaussian actions, Pendulum-v1 preset
    python experiments/ppo_measurements.py truncation   # bootstrapped vs terminal truncations, CartPole-v1
    python experiments/ppo_measurements.py truncation Pendulum-v1   # the same on Pendulum-v1, seeds 0-15

Each prints, per setting, how many seeds end solved (CartPole-v1: greedy mean >= 475 over 100
episodes) or the IQM and worst of the final returns (Pendulum-v1; with ``truncation``, also
the median env steps to the first evaluation at -200 or more and to the one from which
every later evaluation stayed there).
"""

from __future__ import annotations

import sys

import jax
import numpy as np
import optax

import rljax

rljax.use_cpu_devices()  # before anything uses JAX: 2 CPU devices, as the rljax command has


def final_returns(env_id: str, seeds, overrides) -> dict[str, np.ndarray]:
    """Final greedy returns per setting (one program per static setting)."""
    out = {}
    for label, override in overrides.items():
        result = rljax.train("ppo", env_id, seeds=seeds, overrides=override, progress=False)
        out[label] = result.final_eval_return
    return out


def report_solved(returns: dict[str, np.ndarray], threshold: float = 475.0) -> None:
    for label, r in returns.items():
        print(f"{label:40s} {int((r >= threshold).sum())}/{r.size} solved, worst {r.min():.1f}")


def report_iqm(returns: dict[str, np.ndarray]) -> None:
    for label, r in returns.items():
        q = np.sort(r)
        print(f"{label:40s} IQM {q[q.size // 4 : q.size - q.size // 4].mean():.1f}, worst {q[0]:.1f}")


def torso() -> None:
    settings = {"separate": {}, "shared": {"shared_torso": True}}
    settings.update(
        {
            f"shared lr={lr} value_coef={vc}": {"shared_torso": True, "learning_rate": lr, "value_coef": vc}
            for lr in (3e-3, 1e-2, 3e-2)
            for vc in (0.1, 0.5, 1.0)
        }
    )
    report_solved(final_returns("CartPole-v1", range(32), settings))


def gradients() -> None:
    """Over the shared-torso preset run of 8 seeds: the norm of each loss term's gradient on the
    torso (median over seeds), on one minibatch of each segment's next rollout."""
    from rljax.agents.ppo import Minibatch, advantages_and_targets, ppo_loss

    plan = rljax.build("ppo", "CartPole-v1", {"shared_torso": True}, eval_every=2560)
    loop, config = plan.loop, plan.configs[0]
    segment = jax.jit(jax.vmap(lambda s: loop.train_segment(s, config)[0]))
    rollout = jax.jit(jax.vmap(lambda s: loop._rollout(s, config)[1]))

    def torso_norms(agent_state, batch):
        adv, target = advantages_and_targets(agent_state, batch, batch.reward, config)
        n = batch.reward.size
        mb = Minibatch(batch.obs, batch.action, batch.extras["log_prob"], batch.extras["value"], adv, target)
        mb = jax.tree.map(lambda x: x.reshape((n,) + x.shape[2:])[: n // config.num_minibatches], mb)
        norms = {}
        for name, coef in (("policy_loss", 1.0), ("value_loss", config.value_coef)):
            grads = jax.grad(lambda p: coef * ppo_loss(p, agent_state, mb, config)[1][name])(agent_state.params)
            norms[name] = optax.tree.norm(grads["net"]["params"]["torso"])
        return norms

    state = jax.vmap(lambda k: loop.init(k, config))(jax.random.split(jax.random.PRNGKey(0), 8))
    for _ in range(loop.schedule.num_segments):
        norms = jax.jit(jax.vmap(torso_norms))(state.agent_state, rollout(state))
        value, policy = (float(np.median(norms[k])) for k in ("value_loss", "policy_loss"))
        print(f"{int(state.clock.env_steps[0]):6d} env steps: |grad value| {value:.3f}, |grad policy| {policy:.4f}")
        state = segment(state)


def bounds() -> None:
    settings = {
        f"{b} lr={lr}": {"action_bounds": b, "learning_rate": lr} for b in ("clip", "tanh") for lr in (5e-4, 1e-3)
    }
    report_iqm(final_returns("Pendulum-v1", range(16), settings))


def steps_to(curves: np.ndarray, steps: np.ndarray, threshold: float) -> tuple[list, list]:
    """Per seed, the env steps of the first evaluation >= ``threshold`` and of the first from
    which every later one stayed >= it (None where there is none)."""
    first, held = [], []
    for returns, at in zip(curves, steps):
        ok = returns >= threshold
        hits = np.flatnonzero(ok)
        first.append(float(at[hits[0]]) if hits.size else None)
        misses = np.flatnonzero(~ok)
        start = 0 if not misses.size else misses[-1] + 1
        held.append(float(at[start]) if start < ok.size else None)
    return first, held


def median_steps(steps: list) -> str:
    """The median over every seed (a seed that never got there counts as later than all others)."""
    x = np.sort([np.inf if s is None else s for s in steps])
    m = float(np.median(x))
    return "not reached" if not np.isfinite(m) else f"{m:,.0f}"


def truncation(env_id: str = "CartPole-v1") -> None:
    settings = {"bootstrapped": {}, "as terminal": {"truncation_as_terminal": True}}
    if env_id == "CartPole-v1":
        report_solved(final_returns("CartPole-v1", range(32), settings))
        return
    # Pendulum-v1: every episode ends by truncation at 200 steps (it has no terminal state).
    threshold = -200.0
    for label, override in settings.items():
        result = rljax.train("ppo", env_id, seeds=range(16), overrides=override, progress=False)
        curves = np.asarray(result.metrics["eval_return"], dtype=float)
        steps = np.asarray(result.metrics["env_steps"], dtype=float)
        report_iqm({label: curves[:, -1]})
        first, held = steps_to(curves, steps, threshold)
        print(
            f"{'':40s} >= {threshold:g} at the end {int((curves[:, -1] >= threshold).sum())}/{len(curves)}; "
            f"median env steps to {threshold:g}: first {median_steps(first)} "
            f"({sum(s is not None for s in first)}/{len(first)} reached), held {median_steps(held)}"
        )
        print(f"{'':40s} final returns {np.round(curves[:, -1], 1).tolist()}")


if __name__ == "__main__":
    modes = {"torso": torso, "gradients": gradients, "bounds": bounds, "truncation": truncation}
    modes[sys.argv[1]](*sys.argv[2:])
