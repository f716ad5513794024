"""The three SISL environments of the paper, with a `paper` and a `pettingzoo` preset.

Every choice of the `paper` preset is explained in docs/environments.md. Each game has two
backends: PettingZoo's own module and psmarl's fast one (``psmarl.envs.fast_sisl``: same
arguments, equal steps); the `paper` preset runs the fast one, the `pettingzoo` preset
PettingZoo's (``envs.<name>.backend`` picks either for any preset).
"""

from psmarl.envs.spec import EnvOption, EnvSpec, Preset

PURSUIT = EnvSpec(
    name="pursuit",
    module="pettingzoo.sisl.pursuit_v4",
    fast_module="psmarl.envs.fast_sisl.pursuit",
    description="8 pursuers surround 30 random evaders on a 16x16 grid (discrete actions)",
    paper_random_return=31.04,
    idle_action=4,  # "stay" (actions: left, right, up, down, stay)
    presets={
        "paper": Preset(
            kwargs=dict(
                x_size=16,
                y_size=16,
                n_pursuers=8,
                n_evaders=30,
                obs_range=7,
                n_catch=2,
                catch_reward=5.0,
                tag_reward=0.01,
                urgency_reward=0.0,
                shared_reward=False,
                max_cycles=500,
            ),
            agent_indication="scalar_over_n",
            backend="fast",
            description="Appendix B + the paper's code: local rewards, no urgency penalty, "
            "agent id i/8 appended",
        ),
        "pettingzoo": Preset(kwargs={}, description="pursuit_v4 defaults"),
    },
)


def _waterworld_options(env, options):
    from psmarl.envs.wrappers import SquaredThrustPenalty

    coef = float(options.get("squared_thrust_penalty", 0.0))
    return SquaredThrustPenalty(env, coef) if coef else env


WATERWORLD = EnvSpec(
    name="waterworld",
    module="pettingzoo.sisl.waterworld_v4",
    fast_module="psmarl.envs.fast_sisl.waterworld",
    description="5 pursuers eat food together and avoid poison (continuous actions)",
    paper_random_return=-6.82,
    presets={
        "paper": Preset(
            kwargs=dict(
                n_pursuers=5,
                n_evaders=5,
                n_poisons=10,
                n_coop=2,
                n_sensors=30,
                food_reward=10.0,
                poison_reward=-1.0,
                encounter_reward=0.01,
                thrust_penalty=0.0,
                local_ratio=1.0,
                max_cycles=500,
            ),
            agent_indication="scalar_plus_one",
            backend="fast",
            options={"squared_thrust_penalty": -5e-5},
            description="Appendix B + the paper's code: local rewards, the paper's tiny "
            "squared control penalty instead of v4's thrust penalty, agent id "
            "i+1 appended (docs/environments.md)",
        ),
        "pettingzoo": Preset(kwargs={}, description="waterworld_v4 defaults"),
    },
    options={
        "squared_thrust_penalty": EnvOption(
            0.0,
            "added to each pursuer's reward per step: value * sum(action ** 2) (the paper's "
            "control_penalty -0.5 on actions scaled by 0.01: -5e-5)",
        )
    },
    wrap_options=_waterworld_options,
)


def _multiwalker_options(env, options):
    from psmarl.envs.wrappers import PackageDropReward, PaperMultiwalkerBodies

    if options.get("paper_bodies", False):
        env = PaperMultiwalkerBodies(env)
    drop = float(options.get("package_drop_reward", 0.0))
    return PackageDropReward(env, drop) if drop else env


MULTIWALKER = EnvSpec(
    name="multiwalker",
    module="pettingzoo.sisl.multiwalker_v9",
    fast_module="psmarl.envs.fast_sisl.multiwalker",
    description="3 bipedal walkers carry a package to the right (continuous actions)",
    paper_random_return=-102.05,
    presets={
        "paper": Preset(
            kwargs=dict(
                n_walkers=3,
                forward_reward=1.0,
                fall_reward=-100.0,
                terminate_reward=0.0,
                shared_reward=False,
                terminate_on_fall=True,
                max_cycles=500,
                # the paper's copy: int(200 * n_walkers / 8) terrain steps
                terrain_length=75,
            ),
            agent_indication="scalar_over_n",
            options={"package_drop_reward": -100.0, "paper_bodies": True},
            backend="fast",
            description="Appendix B + the paper's code: -100 for a fall, -100 to every walker "
            "when the package drops, agent id i/3 appended, the paper's copy of the game's "
            "collisions, lidar and 75-step course (docs/environments.md)",
        ),
        "pettingzoo": Preset(kwargs={}, description="multiwalker_v9 defaults"),
    },
    options={
        "package_drop_reward": EnvOption(
            0.0,
            "added to every walker's reward when the package falls (the paper's drop_reward)",
        ),
        "paper_bodies": EnvOption(
            False,
            "the paper's copy of the game's collisions (legs touch the ground only), lidar "
            "(the ground only) and course end (the last walker past terrain_length - 10 "
            "steps), and its reset (one zero-action step): psmarl.envs.wrappers."
            "PaperMultiwalkerBodies",
        ),
    },
    wrap_options=_multiwalker_options,
)
