"""A heterogeneous cooperative environment: PettingZoo MPE ``simple_speaker_listener``.

The speaker sees the goal colour (3 numbers) and says one of 3 words; the listener sees
its velocity, the 3 landmarks and the word (11 numbers) and moves (5 discrete actions).
Both get the same reward (minus the listener's squared distance to the goal landmark).
The paper did not run it; it is here to show Section 5 / Appendix A.2 at work: one
shared policy over both agents needs padded observations, padded actions and an agent
indication (docs/heterogeneous.md).
"""

from psmarl.envs.spec import EnvSpec, Preset

SPEAKER_LISTENER = EnvSpec(
    name="speaker_listener",
    module="pettingzoo.mpe.simple_speaker_listener_v4",
    description="MPE speaker (obs 3, 3 words) guides a listener (obs 11, 5 moves) to a "
    "landmark; heterogeneous agents, shared reward (discrete actions)",
    default_preset="padded",
    no_sign_clipping="every reward is minus a squared distance, so sign clipping makes "
    "all of them -1",
    presets={
        "padded": Preset(
            kwargs=dict(max_cycles=25, continuous_actions=False),
            agent_indication="scalar",
            pad_observations=True,
            pad_actions=True,
            description="observations padded to 11 + a scalar agent index (12), actions "
            "padded to Discrete(5): one shared policy can serve both agents",
        ),
        "pettingzoo": Preset(
            kwargs={},
            description="simple_speaker_listener_v4 defaults, "
            "no padding (independent policies only)",
        ),
    },
)
