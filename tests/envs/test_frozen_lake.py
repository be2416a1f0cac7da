"""FrozenLake against Gymnasium's reference tables, plus map validation."""

from __future__ import annotations

from collections import defaultdict

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.envs.toy_text.frozen_lake import MAPS as GYM_MAPS

from rljax.envs import make
from rljax.envs.frozen_lake import MAPS, make_frozen_lake, make_frozen_lake_8x8
from rljax.envs.tabular import EnvState

# Not square, start away from the corner, two goals.
CUSTOM = ["FFHG", "SFFF", "HFGF"]

# (gymnasium id, gymnasium kwargs, rljax factory, rljax kwargs)
CASES = {
    "4x4-slippery": ("FrozenLake-v1", {}, make_frozen_lake, {}),
    "4x4-not-slippery": (
        "FrozenLake-v1",
        {"is_slippery": False},
        make_frozen_lake,
        {"is_slippery": False},
    ),
    "v1-8x8-slippery": (
        "FrozenLake-v1",
        {"map_name": "8x8"},
        make_frozen_lake,
        {"map_name": "8x8"},
    ),
    "8x8-v1": ("FrozenLake8x8-v1", {}, make_frozen_lake_8x8, {}),
    "custom-slippery": ("FrozenLake-v1", {"desc": CUSTOM}, make_frozen_lake, {"desc": CUSTOM}),
    "custom-not-slippery": (
        "FrozenLake-v1",
        {"desc": CUSTOM, "is_slippery": False},
        make_frozen_lake,
        {"desc": CUSTOM, "is_slippery": False},
    ),
}


@pytest.fixture(params=list(CASES), scope="module")
def case(request):
    gym_id, gym_kwargs, factory, kwargs = CASES[request.param]
    gym_env = gymnasium.make(gym_id, **gym_kwargs)
    env, params = factory(**kwargs)
    return gym_env, env, params


def _merge(outcomes):
    """{next_state: (total probability, {(reward, terminated), ...})}."""
    merged = defaultdict(lambda: [0.0, set()])
    for p, s_next, r, done in outcomes:
        if p > 0:
            merged[int(s_next)][0] += float(p)
            merged[int(s_next)][1].add((float(r), bool(done)))
    return dict(merged)


def _rljax_outcomes(model, s, a):
    """Gymnasium-style ``(prob, next_state, reward, terminated)`` list of the model's (s, a)."""
    outcomes = []
    for k in range(model.next_state.shape[2]):
        s_next = model.next_state[s, a, k]
        reward, terminated = model.reward[s, a, k], model.terminal[s_next]
        outcomes.append((model.prob[s, a, k], s_next, reward, terminated))
    return outcomes


def test_builtin_maps_match_gymnasium():
    assert set(MAPS) == set(GYM_MAPS)
    for name in MAPS:
        assert list(MAPS[name]) == list(GYM_MAPS[name])


def test_table_matches_gymnasium(case):
    gym_env, env, _ = case
    P, model = gym_env.unwrapped.P, env.model
    assert model.num_states == len(P) and model.num_actions == 4
    for s in range(len(P)):
        for a in range(4):
            ours = _merge(_rljax_outcomes(model, s, a))
            theirs = _merge(P[s][a])
            assert ours.keys() == theirs.keys(), (s, a)
            for s_next, (p, rewards_terminated) in theirs.items():
                assert ours[s_next][0] == pytest.approx(p, abs=1e-6), (s, a, s_next)
                assert ours[s_next][1] == rewards_terminated, (s, a, s_next)


def test_map_initial_state_and_time_limit_match_gymnasium(case):
    gym_env, env, params = case
    gym_desc = tuple(row.tobytes().decode() for row in gym_env.unwrapped.desc)
    assert env.desc == gym_desc
    assert (env.nrow, env.ncol) == gym_env.unwrapped.desc.shape
    np.testing.assert_array_equal(env.model.initial, gym_env.unwrapped.initial_state_distrib)
    start = "".join(env.desc).index("S")
    assert env.model.initial[start] == 1.0
    assert params.max_steps_in_episode == gym_env.spec.max_episode_steps


def test_time_limits_per_registration():
    assert make_frozen_lake()[1].max_steps_in_episode == 100
    assert make_frozen_lake(map_name="8x8")[1].max_steps_in_episode == 100
    assert make_frozen_lake_8x8()[1].max_steps_in_episode == 200
    for env_id, steps in (("FrozenLake-v1", 100), ("FrozenLake8x8-v1", 200)):
        assert gymnasium.make(env_id).spec.max_episode_steps == steps
        env, params = make(env_id)
        assert env.name == env_id and params.max_steps_in_episode == steps
    assert make("FrozenLake8x8-v1")[0].desc == MAPS["8x8"]


def _step_all_pairs(env, params, samples_per_pair, seed=0):
    """Steps every (state, action) ``samples_per_pair`` times in one jitted, vmapped call."""
    S = env.num_states
    s, a = np.meshgrid(np.arange(S), np.arange(4), indexing="ij")
    s = np.repeat(s.ravel(), samples_per_pair)
    a = np.repeat(a.ravel(), samples_per_pair)
    n = len(s)
    batch = EnvState(position=jnp.asarray(s, jnp.int32), time=jnp.zeros(n, jnp.int32))
    keys = jax.random.split(jax.random.key(seed), n)
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    obs, _, reward, terminated, _, info = step(keys, batch, jnp.asarray(a, jnp.int32), params)
    final = info["final_observation"]
    return tuple(np.asarray(x) for x in (s, a, obs, final, reward, terminated))


@pytest.mark.parametrize("desc", [None, CUSTOM])
def test_slippery_sampled_frequencies(desc):
    env, params = make_frozen_lake(desc=desc)
    P = gymnasium.make("FrozenLake-v1", desc=desc).unwrapped.P
    n = 400
    s, a, obs, final, reward, terminated = _step_all_pairs(env, params, n)
    cells = np.array(list("".join(env.desc)))
    # terminated exactly when the next cell is H or G; reward 1 exactly on entering G
    # from a non-terminal cell.
    np.testing.assert_array_equal(terminated, np.isin(cells[final], ["H", "G"]))
    np.testing.assert_array_equal(reward, (cells[final] == "G") & ~np.isin(cells[s], ["H", "G"]))
    # Auto-reset: a terminated step restarts at S.
    start = "".join(env.desc).index("S")
    np.testing.assert_array_equal(obs, np.where(terminated, start, final))
    # Each (s, a) block of n samples: frequency of each next state within 4.5
    # binomial standard deviations (+ 1/n) of Gymnasium's probability.
    final = final.reshape(env.num_states, 4, n)
    checked = 0
    for state in range(env.num_states):
        for action in range(4):
            expected = _merge(P[state][action])
            counts = np.bincount(final[state, action], minlength=env.num_states)
            assert set(np.flatnonzero(counts)) <= set(expected), (state, action)
            for s_next, (p, _) in expected.items():
                tol = 4.5 * np.sqrt(p * (1 - p) / n) + 1 / n
                assert abs(counts[s_next] / n - p) <= tol, (state, action, s_next)
                checked += 0 < p < 1
    assert checked > 0  # some outcomes were genuinely random


def test_not_slippery_steps_are_deterministic():
    env, params = make_frozen_lake(is_slippery=False)
    P = gymnasium.make("FrozenLake-v1", is_slippery=False).unwrapped.P
    s, a, _, final, reward, terminated = _step_all_pairs(env, params, 3)
    for i in range(len(s)):
        ((_, s_next, r, done),) = P[s[i]][a[i]]
        assert (final[i], reward[i], terminated[i]) == (s_next, r, done), (s[i], a[i])


def test_reset_starts_at_s():
    env, params = make_frozen_lake(desc=CUSTOM)
    keys = jax.random.split(jax.random.key(0), 16)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    np.testing.assert_array_equal(obs, 4)  # row 1, col 0 of a 4-wide map
    np.testing.assert_array_equal(state.time, 0)


def test_truncation_at_the_time_limit():
    env, params = make_frozen_lake(is_slippery=False)
    step = jax.jit(env.step)
    state = EnvState(position=jnp.int32(0), time=params.max_steps_in_episode - 1)
    *_, terminated, truncated, _ = step(jax.random.key(0), state, 0, params)
    assert bool(truncated) and not bool(terminated)
    state = EnvState(position=jnp.int32(0), time=params.max_steps_in_episode - 2)
    *_, truncated, _ = step(jax.random.key(0), state, 0, params)
    assert not bool(truncated)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"map_name": "5x5"}, r"unknown map_name '5x5'; allowed are '4x4', '8x8'"),
        ({"map_name": None}, r"unknown map_name None; allowed are '4x4', '8x8'"),
        ({"desc": ["FFFF", "FHFH", "FFFH", "HFFG"]}, r"no start cell 'S'"),
        ({"desc": ["SFFF", "FHFH", "FFSH", "HFFG"]}, r"2 start cells 'S'"),
        ({"desc": ["SFFF", "FHFH", "FFFH", "HFFF"]}, r"no goal cell 'G'"),
        (
            {"desc": ["SFFF", "FHF", "FFFH", "HFFG"]},
            r"row 1 \('FHF'\) has length 3, expected 4",
        ),
        (
            {"desc": ["SFFF", "FHxH", "FFFH", "HFFG"]},
            r"unknown characters 'x'; "
            r"allowed are S \(start\), F \(frozen\), H \(hole\), G \(goal\)",
        ),
        ({"desc": ["SFF.", "FHFH", "F FH", "HFFG"]}, r"unknown characters ' ', '\.'"),
        ({"desc": []}, r"empty map"),
        ({"desc": "SFFFFHFH"}, r"list of row strings"),
    ],
)
def test_bad_inputs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_frozen_lake(**kwargs)


def test_custom_map_overrides_map_name_and_accepts_char_lists():
    env, _ = make_frozen_lake_8x8(desc=[list("SH"), list("FG")])
    assert env.desc == ("SH", "FG") and env.num_states == 4
