import numpy as np
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode

from psmarl.connectors import ClipRewards


def _episode():
    ep = MultiAgentEpisode(observations=[{"a": 0, "b": 0}], agent_module_ids={"a": "m", "b": "m"})
    for t, (ra, rb) in enumerate([(0.01, -3.0), (5.0, 0.0), (-0.2, 2.5)]):
        ep.add_env_step(
            observations={"a": t + 1, "b": t + 1},
            actions={"a": 0, "b": 0},
            rewards={"a": ra, "b": rb},
        )
    return ep


def test_clip_rewards_sign_and_does_not_touch_the_original():
    ep = _episode()
    episodes = [ep]
    ClipRewards(clip=True)(rl_module=None, batch={}, episodes=episodes)
    assert episodes[0] is not ep
    np.testing.assert_allclose(episodes[0].agent_episodes["a"].get_rewards(), [1, 1, -1])
    np.testing.assert_allclose(episodes[0].agent_episodes["b"].get_rewards(), [-1, 0, 1])
    # the env runner's copy (used for the logged returns) keeps the real rewards
    np.testing.assert_allclose(ep.agent_episodes["a"].get_rewards(), [0.01, 5.0, -0.2])
    assert abs(ep.get_return() - 4.31) < 1e-5


def test_clip_rewards_to_bound():
    episodes = [_episode()]
    ClipRewards(clip=1.0)(rl_module=None, batch={}, episodes=episodes)
    np.testing.assert_allclose(episodes[0].agent_episodes["b"].get_rewards(), [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(
        episodes[0].agent_episodes["a"].get_rewards(), [0.01, 1.0, -0.2], rtol=1e-6
    )
