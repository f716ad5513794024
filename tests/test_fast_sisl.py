"""psmarl's fast SISL envs against PettingZoo's own: every step equal, bit for bit.

Each test runs PettingZoo's ``parallel_env`` and psmarl's fast one side by side with one
seed and one action sequence, and compares every returned dict (keys in order, values
with their type, observations bitwise, rewards including the sign of zero), the live
agents after every step and the episode's end. The fast suite runs a few seeds to the end
of their episodes per game and setting; ``-m slow`` runs many more.
"""

from __future__ import annotations

import importlib
import inspect
import warnings

import numpy as np
import pymunk
import pytest
from pettingzoo.sisl import multiwalker_v9, pursuit_v4, waterworld_v4
from stepcheck import assert_same_dict, assert_same_step

from psmarl import envs
from psmarl.envs.fast_sisl import UnsupportedArgument
from psmarl.errors import ConfigError

PETTINGZOO = {"pursuit": pursuit_v4, "waterworld": waterworld_v4, "multiwalker": multiwalker_v9}
BASE_INIT = {
    "pursuit": "pettingzoo.sisl.pursuit.pursuit_base:Pursuit",
    "waterworld": "pettingzoo.sisl.waterworld.waterworld_base:WaterworldBase",
    "multiwalker": "pettingzoo.sisl.multiwalker.multiwalker_base:MultiWalkerEnv",
}


def fast(game):
    return importlib.import_module(f"psmarl.envs.fast_sisl.{game}")


def paper(game):
    return dict(envs.get(game).presets["paper"].kwargs)


# ------------------------------------------------------------------ action sequences
def policy(kind: str, seed: int):
    """A function (env, t) -> actions for the live agents. ``random``: uniform over each
    space; ``scripted``: a fixed pattern per agent and step; ``wild`` (Box only): actions
    beyond the bounds and in float64, through PettingZoo's clipping path."""
    rng = np.random.default_rng([seed, 77])

    def act(env, t):
        out = {}
        for i, agent in enumerate(env.agents):
            space = env.action_space(agent)
            if hasattr(space, "n"):
                if kind == "random":
                    out[agent] = int(rng.integers(space.n))
                else:  # each pursuer repeats its own short cycle of moves
                    out[agent] = np.int64((t // (i + 1) + i) % space.n)
                continue
            d = space.shape[0]
            if kind == "random":
                a = rng.uniform(space.low, space.high).astype(np.float32)
            elif kind == "scripted":  # a periodic gait / steering pattern
                phase = 0.3 * t + np.arange(d) * np.pi / 2 + i
                a = (0.6 * np.sin(phase)).astype(np.float32)
            else:
                a = rng.uniform(-1.6, 1.6, size=d)  # float64, partly out of bounds
            out[agent] = a
        return out

    return act


def assert_same_stream(ref, new, where):
    """PettingZoo's game and the fast env have drawn the same random numbers so far (their
    generators are in the same state)."""
    theirs = ref.unwrapped.env.np_random.bit_generator.state
    assert new.unwrapped.np_random.bit_generator.state == theirs, ("random stream", where)


class _Arbiter:
    """What PettingZoo's separate callback reads of a pymunk arbiter: its two shapes."""

    def __init__(self, shapes):
        self.shapes = shapes


def fix_separation_order(game) -> None:
    """Make waterworld's food separations of ``game`` (a ``WaterworldBase``) happen in one
    fixed order, after each physics step.

    pymunk calls the separate callbacks of one step in the order of Chipmunk's arbiter hash
    set, whose keys hash the shapes' memory addresses, so the order depends on what the
    process allocated before. With ``n_coop >= 2`` it decides which of two pursuers that
    leave one food in the same step is paid the food reward (the first sees the food's
    counter at ``n_coop``, the second at 0): two of PettingZoo's own envs, same seed and
    actions, differ there in about half of the memory layouts (paper preset, seed 101,
    ``wild`` actions, step 21). Neither env's code chooses that order, so the comparison
    fixes it in both games alike: every separation of a step is collected and then handed
    to the game's own callback sorted by (food, pursuer).
    """
    add_handlers = game.add_handlers
    separate = game.pursuer_evader_separate_callback

    def add_ordered_handlers():
        add_handlers()  # the game's reset made a new space and its handlers
        space, pending = game.space, []
        for handler in game.handlers:
            if handler.separate == separate:
                handler.separate = lambda arbiter, _space, _data: pending.append(arbiter.shapes)
        step = space.step

        def step_then_separate(dt):
            step(dt)
            order = sorted(pending, key=lambda s: (s[1].collision_type, s[0].collision_type))
            pending.clear()
            for shapes in order:
                separate(_Arbiter(shapes), space, None)

        space.step = step_then_separate

    game.add_handlers = add_ordered_handlers


def run_pair(
    game: str,
    kwargs: dict,
    seed: int,
    kind: str = "random",
    max_steps: int | None = None,
    reseed: bool = True,
) -> int:
    """Step PettingZoo's and the fast env together; return the episode's length. After the
    reset and after every step both have drawn the same random numbers. Waterworld's food
    separations happen in one fixed order in both (``fix_separation_order``)."""
    ref = PETTINGZOO[game].parallel_env(**kwargs)
    new = fast(game).parallel_env(**kwargs)
    if game == "waterworld":
        fix_separation_order(ref.unwrapped.env)
        fix_separation_order(new.unwrapped.env)
    assert ref.possible_agents == new.possible_agents
    for agent in ref.possible_agents:
        assert ref.observation_space(agent) == new.observation_space(agent)
        assert ref.action_space(agent) == new.action_space(agent)
    act = policy(kind, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # out-of-bound actions warn in both
        o1, i1 = ref.reset(seed=seed if reseed else None)
        o2, i2 = new.reset(seed=seed if reseed else None)
        assert_same_dict(o1, o2, "reset obs")
        assert i1 == i2
        assert_same_stream(ref, new, "reset")
        t = 0
        while ref.agents and (max_steps is None or t < max_steps):
            assert ref.agents == new.agents, t
            actions = act(ref, t)
            assert_same_step(ref.step(actions), new.step(actions), t)
            assert_same_stream(ref, new, t)
            t += 1
        assert ref.agents == new.agents
    ref.close()
    new.close()
    return t


# ------------------------------------------------------------------ settings
PURSUIT_VARIANTS = {
    "small-grid-catch-on-cell": dict(
        x_size=10,
        y_size=12,
        n_pursuers=5,
        n_evaders=10,
        obs_range=4,
        surround=False,
        n_catch=1,
        max_cycles=200,
    ),
    "shared-negative-rewards": dict(
        n_pursuers=12,
        n_evaders=5,
        obs_range=21,
        freeze_evaders=True,
        tag_reward=-0.5,
        catch_reward=-1.0,
        max_cycles=120,
    ),
    "window-and-odd-sizes": dict(
        x_size=12,
        y_size=9,
        n_pursuers=3,
        n_evaders=4,
        obs_range=3,
        constraint_window=0.8,
        max_cycles=150,
        shared_reward=False,
    ),
    "one-pursuer-two-catch": dict(
        x_size=8,
        y_size=8,
        n_pursuers=1,
        n_evaders=3,
        obs_range=5,
        surround=False,
        n_catch=2,
        max_cycles=60,
    ),
}
WATERWORLD_VARIANTS = {
    "one-pursuer-no-speed": dict(
        n_pursuers=1, n_sensors=8, speed_features=False, max_cycles=100, local_ratio=0.3
    ),
    "random-obstacles": dict(
        n_pursuers=3,
        n_obstacles=2,
        obstacle_coord=None,
        n_sensors=12,
        n_coop=1,
        max_cycles=150,
        thrust_penalty=-0.2,
        local_ratio=0.5,
    ),
    "crowded": dict(
        n_pursuers=6, n_evaders=9, n_poisons=4, n_coop=3, sensor_range=0.35, max_cycles=120
    ),
}
MULTIWALKER_VARIANTS = {
    "fall-removes-one": dict(
        n_walkers=4,
        terminate_on_fall=False,
        remove_on_fall=True,
        max_cycles=150,
        shared_reward=False,
    ),
    "fallen-stay": dict(
        n_walkers=2,
        terminate_on_fall=False,
        remove_on_fall=False,
        max_cycles=100,
        position_noise=0.01,
        angle_noise=0.0,
    ),
    "one-walker-short-terrain": dict(n_walkers=1, max_cycles=80, terrain_length=100),
}
VARIANTS = {
    "pursuit": PURSUIT_VARIANTS,
    "waterworld": WATERWORLD_VARIANTS,
    "multiwalker": MULTIWALKER_VARIANTS,
}
KINDS = {
    "pursuit": ("random", "scripted"),
    "waterworld": ("random", "scripted", "wild"),
    "multiwalker": ("random", "scripted", "wild"),
}


# ------------------------------------------------------------------ fast suite
@pytest.mark.parametrize("game", ["pursuit", "waterworld", "multiwalker"])
@pytest.mark.parametrize("preset", ["paper", "pettingzoo"])
def test_full_episode_equals_pettingzoo(game, preset):
    kwargs = paper(game) if preset == "paper" else {}
    seeds = (0,) if game != "multiwalker" else (0, 1, 2)  # multiwalker plays are short
    for seed in seeds:
        length = run_pair(game, kwargs, seed, "random")
        if game != "multiwalker":
            assert length == 500  # to max_cycles
        else:
            assert length >= 1


@pytest.mark.parametrize("game,variant", [(g, v) for g, vs in VARIANTS.items() for v in vs])
def test_non_default_arguments_equal_pettingzoo(game, variant):
    kind = KINDS[game][len(variant) % len(KINDS[game])]
    run_pair(game, VARIANTS[game][variant], seed=3, kind=kind)


@pytest.mark.parametrize("game", ["pursuit", "waterworld", "multiwalker"])
def test_scripted_and_out_of_bounds_actions_equal_pettingzoo(game):
    for kind in KINDS[game]:
        run_pair(game, paper(game), seed=11, kind=kind, max_steps=120)


def test_waterworld_pairs_agree_whatever_the_memory_layout():
    """Regression: the paper preset (n_coop 2), seed 101, ``wild`` actions: at step 21 two
    pursuers leave one food in the same physics step. Without ``fix_separation_order`` the
    pursuer paid for it depended on the shapes' memory addresses (pymunk's separate order),
    and this pair differed in about half of these layouts (so did two PettingZoo envs)."""
    kwargs, layouts = paper("waterworld"), []
    for _ in range(8):
        layouts += [pymunk.Circle(None, 1.0) for _ in range(5)]  # shifts later allocations
        assert run_pair("waterworld", kwargs, 101, "wild", max_steps=23) == 23


def test_pursuit_episode_that_ends_by_catching_every_evader():
    kwargs = PURSUIT_VARIANTS["small-grid-catch-on-cell"]
    lengths = [run_pair("pursuit", kwargs, seed) for seed in (0, 1)]
    assert min(lengths) < 200  # terminated before max_cycles: the end path is checked


def test_reset_without_seed_continues_the_same_stream():
    for game in ("pursuit", "waterworld", "multiwalker"):
        kwargs = dict(paper(game), max_cycles=30)
        ref = PETTINGZOO[game].parallel_env(**kwargs)
        new = fast(game).parallel_env(**kwargs)
        ref.reset(seed=9)
        new.reset(seed=9)
        for _ in range(2):  # later episodes draw on from the same generator
            o1, _ = ref.reset()
            o2, _ = new.reset()
            assert_same_dict(o1, o2, (game, "reset"))


def test_same_arguments_and_defaults_as_pettingzoo():
    for game, target in BASE_INIT.items():
        mod, cls = target.split(":")
        init = getattr(importlib.import_module(mod), cls).__init__
        params = inspect.signature(init).parameters
        theirs = {k: p.default for k, p in params.items() if k != "self"}
        assert fast(game).DEFAULTS == theirs, game


@pytest.mark.parametrize(
    "game,kwargs,name",
    [
        ("pursuit", {"evader_controller": object()}, "evader_controller"),
        ("pursuit", {"render_mode": "rgb_array"}, "render_mode"),
        ("pursuit", {"n_evaders": 0}, "n_evaders"),
        ("waterworld", {"render_mode": "human"}, "render_mode"),
        ("waterworld", {"n_poisons": 0}, "n_poisons"),
        ("multiwalker", {"render_mode": "rgb_array"}, "render_mode"),
    ],
)
def test_unsupported_arguments_are_refused_by_name(game, kwargs, name):
    with pytest.raises(UnsupportedArgument, match=name):
        fast(game).parallel_env(**kwargs)
    with pytest.raises(TypeError, match="bogus"):
        fast(game).parallel_env(bogus=1)


def test_invalid_actions_are_refused():
    env = fast("pursuit").parallel_env()
    env.reset(seed=0)
    bad = {a: 0 for a in env.agents}
    bad["pursuer_3"] = 5
    with pytest.raises(ValueError, match="pursuer_3"):
        env.step(bad)
    with pytest.raises(KeyError):
        env.step({"pursuer_0": 1})
    env = fast("waterworld").parallel_env()
    env.reset(seed=0)
    with pytest.raises(AssertionError, match="nan"):
        env.step({a: np.full(2, np.nan, np.float32) for a in env.agents})


# ------------------------------------------------------------------ the registry
def test_paper_preset_runs_the_fast_backend_and_pettingzoo_stays_selectable():
    for game in ("pursuit", "waterworld", "multiwalker"):
        s = envs.resolve(game, "paper")
        assert envs.backend_of(s) == "fast"
        raw = envs.make_parallel_env(s).unwrapped
        assert raw.metadata.get("psmarl_backend") == "fast"
        p = envs.resolve(game, "paper", backend="pettingzoo")
        assert envs.backend_of(p) == "pettingzoo" and p["kwargs"] == s["kwargs"]
        assert "psmarl_backend" not in envs.make_parallel_env(p).unwrapped.metadata
        assert envs.backend_of(envs.resolve(game, "pettingzoo")) == "pettingzoo"
        f = envs.resolve(game, "pettingzoo", backend="fast")
        assert envs.backend_of(f) == "fast"
        assert envs.make_parallel_env(f).unwrapped.metadata.get("psmarl_backend") == "fast"


def test_settings_name_the_backend_only_when_it_is_not_the_presets():
    """The preset's own backend leaves the settings as they were before backends existed,
    so runs made with PettingZoo's envs keep their params (Snakemake reruns nothing); a
    chosen other backend is recorded, and old settings build the preset's backend."""
    before_backends = {
        "name": "pursuit",
        "preset": "paper",
        "kwargs": dict(paper("pursuit")),
        "agent_indication": "scalar_over_n",
        "pad_actions": False,
        "pad_observations": False,
        "options": {},
    }
    assert envs.resolve("pursuit", "paper") == before_backends
    assert envs.resolve("pursuit", "paper", backend="fast") == before_backends
    chosen = envs.resolve("pursuit", "paper", backend="pettingzoo")
    assert chosen == dict(before_backends, backend="pettingzoo")
    assert "backend" not in envs.resolve("pursuit", "pettingzoo")
    assert envs.resolve("pursuit", "pettingzoo", backend="fast")["backend"] == "fast"
    assert "backend" not in envs.resolve("speaker_listener")
    raw = envs.make_parallel_env(before_backends).unwrapped
    assert raw.metadata.get("psmarl_backend") == "fast"


def test_backend_errors_name_the_key():
    with pytest.raises(ConfigError) as e:
        envs.resolve("speaker_listener", backend="fast")
    assert e.value.key == "envs.speaker_listener.backend"
    with pytest.raises(ConfigError) as e:
        envs.resolve("pursuit", backend="jax")
    assert e.value.key == "envs.pursuit.backend"
    with pytest.raises(ConfigError) as e:
        envs.resolve("pursuit", "paper", {"render_mode": "human"})
    assert e.value.key == "envs.pursuit.kwargs" and "render_mode" in str(e.value)
    assert "backend: pettingzoo" in str(e.value)
    # PettingZoo's own backend takes it (no silent switch either way)
    assert (
        envs.resolve("pursuit", "paper", {"render_mode": "human"}, backend="pettingzoo")["kwargs"][
            "render_mode"
        ]
        == "human"
    )


def test_config_key_reaches_the_settings(tiny_config):
    from psmarl import config as cfg

    c = dict(tiny_config)
    c["envs"] = {"pursuit": {"preset": "paper", "backend": "pettingzoo"}}
    cfg.schema_validate(c)
    assert cfg.env_settings(c, "pursuit")["backend"] == "pettingzoo"
    c["envs"] = {"pursuit": {"preset": "paper", "backend": "numba"}}
    with pytest.raises(ConfigError) as e:
        cfg.schema_validate(c)
    assert e.value.key == "envs.pursuit.backend"


# ------------------------------------------------------------------ psmarl's wrappers
def _wrapped_episode(settings, seed, steps):
    env = envs.make_parallel_env(settings)
    act = policy("random", seed)
    obs, _ = env.reset(seed=seed)
    rows = [obs]
    for t in range(steps):
        if not env.agents:
            break
        rows.append(env.step(act(env, t)))
    env.close()
    return rows


@pytest.mark.parametrize("game", ["pursuit", "waterworld", "multiwalker"])
def test_standard_wrappers_see_the_same_observations_on_both_backends(game):
    for indication in ("scalar_over_n", "onehot"):
        fast_s = envs.resolve(game, "paper", {"max_cycles": 40}, agent_indication=indication)
        pz_s = dict(fast_s, backend="pettingzoo")
        a, b = _wrapped_episode(fast_s, 4, 40), _wrapped_episode(pz_s, 4, 40)
        assert len(a) == len(b)
        assert_same_dict(a[0], b[0], "reset")
        for t, (ra, rb) in enumerate(zip(a[1:], b[1:])):
            assert_same_step(ra, rb, t)


def test_package_drop_reward_is_paid_identically_on_both_backends():
    """The paper preset's -100 when the package falls (envs/wrappers.PackageDropReward
    reads the game's game_over and package position): same steps, same payments. With
    terminate_on_fall (the preset) random plays end at a fall before the package lands;
    without it fallen walkers leave and the package drops in some plays (seeds 0 and 2)."""
    settings = envs.resolve("multiwalker", "paper", {"terminate_on_fall": False})
    plain = envs.resolve(
        "multiwalker", "paper", {"terminate_on_fall": False}, options={"package_drop_reward": 0.0}
    )
    paid = 0
    for seed in range(3):
        a = _wrapped_episode(settings, seed, 500)
        b = _wrapped_episode(dict(settings, backend="pettingzoo"), seed, 500)
        assert len(a) == len(b)
        for ra, rb in zip(a[1:], b[1:]):
            assert_same_step(ra, rb, seed)
        c = _wrapped_episode(plain, seed, 500)
        diff = {k: v - c[-1][1][k] for k, v in a[-1][1].items()}
        dropped = all(v == pytest.approx(-100.0) for v in diff.values())
        assert dropped or all(v == 0.0 for v in diff.values())
        paid += dropped
    assert paid >= 1  # the paid path was compared, not only plays without a drop


# ------------------------------------------------------------------ many seeds (slow)
@pytest.mark.slow
@pytest.mark.parametrize(
    "game,preset",
    [
        ("pursuit", "paper"),
        ("waterworld", "paper"),
        ("multiwalker", "paper"),
        ("pursuit", "pettingzoo"),
        ("waterworld", "pettingzoo"),
        ("multiwalker", "pettingzoo"),
    ],
)
def test_many_seeds_equal_pettingzoo(game, preset):
    kwargs = paper(game) if preset == "paper" else {}
    n = {"pursuit": 6, "waterworld": 6, "multiwalker": 40}[game]
    for seed in range(100, 100 + n):
        run_pair(game, kwargs, seed, KINDS[game][seed % len(KINDS[game])])


@pytest.mark.slow
@pytest.mark.parametrize("game,variant", [(g, v) for g, vs in VARIANTS.items() for v in vs])
def test_many_seeds_of_non_default_arguments_equal_pettingzoo(game, variant):
    for seed in range(20, 26):
        run_pair(game, VARIANTS[game][variant], seed, KINDS[game][seed % len(KINDS[game])])
