"""The paper's copy of multiwalker's bodies, lidar and course end (env option
``paper_bodies``, :class:`psmarl.envs.wrappers.PaperMultiwalkerBodies`) against
``multiwalker_v9``'s, on both backends."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("Box2D")

from pettingzoo.sisl.multiwalker.multiwalker_base import (  # noqa: E402
    LIDAR_RANGE,
    TERRAIN_GRASS,
    TERRAIN_STEP,
)

from psmarl import envs  # noqa: E402
from psmarl.envs import make_parallel_env  # noqa: E402
from psmarl.envs.wrappers import GROUND, HULL_AND_UPPER_LEG, LOWER_LEG  # noqa: E402

LIDAR = slice(14, 24)  # the 10 lidar fractions in a walker's own 24 readings


def make(paper_bodies: bool, backend: str = "fast", **kwargs):
    settings = envs.resolve(
        "multiwalker",
        "paper",
        kwargs={"terrain_length": 75, **kwargs} if paper_bodies else kwargs or None,
        options={"paper_bodies": paper_bodies},
        backend=backend,
    )
    return make_parallel_env(settings)


def game(env):
    base = env.unwrapped
    return getattr(base, "env", base)


def nearest_ground(world_game, walker) -> list[float]:
    """Each lidar ray's fraction to the nearest ground (terrain) fixture, by hand."""
    import math

    from Box2D import b2RayCastInput, b2RayCastOutput

    pos = walker.hull.position
    out = []
    for i in range(10):
        p2 = (
            pos[0] + math.sin(1.5 * i / 10.0) * LIDAR_RANGE,
            pos[1] - math.cos(1.5 * i / 10.0) * LIDAR_RANGE,
        )
        best = 1.0
        for body in world_game.terrain:
            for fixture in body.fixtures:
                res = b2RayCastOutput()
                if fixture.RayCast(res, b2RayCastInput(p1=pos, p2=p2, maxFraction=1.0), 0):
                    best = min(best, res.fraction)
        out.append(best)
    return out


def random_play(env, steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        if not env.agents:
            obs, _ = env.reset(seed=seed + 1)
        acts = {a: np.clip(rng.normal(0, 1, 4), -1, 1).astype(np.float32) for a in env.agents}
        obs, *_ = env.step(acts)
        yield obs


def test_the_paper_lidar_sees_the_ground_only_where_v9_s_sees_the_walkers_own_legs():
    paper, v9 = make(True), make(False)
    for env, sees_ground in ((paper, True), (v9, False)):
        g = game(env)
        equal, rows = 0, 0
        for obs in random_play(env, 60):
            for k, o in obs.items():
                walker = g.walkers[int(k.rsplit("_", 1)[1])]
                if walker.hull is None:
                    continue
                want = nearest_ground(g, walker)
                rows += 1
                equal += np.allclose(o[LIDAR], want, atol=1e-5)
        assert rows > 100
        if sees_ground:
            assert equal == rows  # every ray: the nearest ground
        else:
            assert equal < rows / 2  # v9's rays mostly stop on the walker's own legs


def test_legs_touch_the_ground_only_and_hulls_keep_colliding():
    env = make(True)
    g = game(env)
    for _ in random_play(env, 200):
        for contact in g.world.contacts:
            if not contact.touching:
                continue
            bodies = {contact.fixtureA.body, contact.fixtureB.body}
            legs = {leg for w in g.walkers for leg in w.legs} & bodies
            if legs:  # a leg's only partner is the ground
                assert (bodies - legs) <= set(g.terrain), bodies
    env.reset(seed=3)
    for w in g.walkers:
        hull = w.hull.fixtures[0].filterData
        assert (hull.categoryBits, hull.maskBits, hull.groupIndex) == (
            HULL_AND_UPPER_LEG,
            0xFFFF,
            0,
        )
        cats = [leg.fixtures[0].filterData.categoryBits for leg in w.legs]
        assert cats == [HULL_AND_UPPER_LEG, LOWER_LEG] * 2
        assert {leg.fixtures[0].filterData.maskBits for leg in w.legs} == {GROUND}


@pytest.mark.parametrize("paper_bodies", [True, False])
def test_the_course_ends_with_the_last_walker_in_the_paper_s_copy(paper_bodies):
    env = make(paper_bodies)
    env.reset(seed=0)
    g = game(env)
    line = (g.terrain_length - TERRAIN_GRASS) * TERRAIN_STEP
    walker = g.walkers[-1]  # carried past the line, legs and all; the package is not
    dx = line + 0.5 - walker.hull.position.x
    for body in (walker.hull, *walker.legs):
        body.position = (body.position.x + dx, body.position.y)
    assert g.package.position.x < line
    zero = {a: np.zeros(4, np.float32) for a in env.agents}
    _, _, terms, _, _ = env.step(zero)
    assert all(terms.values()) == paper_bodies
    assert (env.agents == []) == paper_bodies


def test_reset_takes_one_uncounted_zero_step():
    env = make(True, max_cycles=5)
    obs, _ = env.reset(seed=0)
    g = game(env)
    assert g.frames == 0
    assert any(abs(w.hull.linearVelocity.y) > 0 for w in g.walkers)  # the world has moved
    steps = 0
    while env.agents:
        env.step({a: np.zeros(4, np.float32) for a in env.agents})
        steps += 1
    assert steps == 5


def test_both_backends_play_the_same_with_the_paper_s_bodies():
    a, b = make(True, "fast"), make(True, "pettingzoo")
    for oa, ob in zip(random_play(a, 150, seed=4), random_play(b, 150, seed=4)):
        assert oa.keys() == ob.keys()
        for k in oa:
            np.testing.assert_allclose(oa[k], ob[k], rtol=0, atol=1e-5)


def test_the_option_must_be_a_boolean_naming_its_key():
    from psmarl.errors import ConfigError

    with pytest.raises(ConfigError, match="must be true or false") as e:
        envs.resolve("multiwalker", "paper", options={"paper_bodies": "no"})
    assert e.value.key == "envs.multiwalker.options.paper_bodies"
