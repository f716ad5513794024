"""Training of one MADDPG or QMIX run with BenchMARL, in psmarl's run layout.

The env is psmarl's own (``psmarl.envs.make_parallel_env``, the same presets and wrappers
as the RLlib runs), plus the action adapter the method needs, handed to TorchRL as
``PettingZooWrapper(env=<parallel env>)`` with every agent in one group (``agents``).
``sharing: shared`` is BenchMARL's ``share_policy_params=True`` (one policy network for the
group), ``independent`` is ``False`` (one network per agent).

Outputs (``psmarl.results``): ``progress.csv`` (one row per BenchMARL iteration),
``checkpoint/`` (``benchmarl.pt``: BenchMARL's own experiment state without the replay
buffer, plus ``psmarl_run.json``), ``train_summary.json``. ``avg_total_reward`` is the
paper's measure: the mean over the last 100 finished training episodes of the SUM over
agents of each agent's episode reward. BenchMARL's logged return is the MEAN over agents
(``collection/reward/episode_reward_mean``); it is kept as ``benchmarl_return_mean`` and
:func:`psmarl.benchmarl_backend.task.total_from_agent_mean` converts it (times the number of
agents).

Budget, progress rows, checkpoint cadence, resume and publishing are psmarl's run loop's
(:mod:`psmarl.run_loop`, the same as for the RLlib methods); :class:`BenchmarlBackend` is
BenchMARL under it. A resumed run restores BenchMARL's state (``restore_file``). The replay
memory is not in checkpoints (small checkpoints, bounded disk), so a resumed run refills it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from psmarl.benchmarl_backend import CHECKPOINT_FILE, GROUP, POLICY_KIND
from psmarl.errors import ConfigError
from psmarl.run_loop import RunLoop

UNBOUNDED_ITERATIONS = 10**9


# ---------------------------------------------------------------- BenchMARL experiment
def _make_task(spec: Mapping[str, Any]):
    from psmarl.benchmarl_backend.task import PsmarlTask

    env_settings = spec["env"]
    adapter = spec.get("action_adapter")
    return PsmarlTask(
        env_settings["name"].upper(),
        {
            "env": dict(env_settings),
            "action_adapter": adapter,
            "action_kind": _adapted_kind(env_settings, adapter),
            "max_steps": int(env_settings.get("kwargs", {}).get("max_cycles", 500)),
        },
    )


def _adapted_kind(env_settings, adapter) -> str:
    from psmarl.benchmarl_backend import action_kind

    if adapter is None:
        return action_kind(env_settings)
    return {"bins": "discrete", "argmax": "continuous"}[adapter["kind"]]


def build_experiment(
    spec: Mapping[str, Any],
    save_folder: str | os.PathLike,
    restore_file: str | os.PathLike | None = None,
    callbacks=(),
):
    """A BenchMARL Experiment for a run spec (see :func:`psmarl.config.train_spec`)."""
    import torch
    from benchmarl.algorithms import MaddpgConfig, QmixConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    s = spec["settings"]
    method = spec["method"]
    if spec["sharing"] not in ("shared", "independent"):
        raise ConfigError(f"unknown sharing mode {spec['sharing']!r}", key="sharing")
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[s["activation"]]
    model = MlpConfig(
        num_cells=list(s["hidden"]), layer_class=torch.nn.Linear, activation_class=act
    )
    if method == "maddpg":
        algo = MaddpgConfig(
            share_param_critic=bool(s["share_param_critic"]),
            loss_function=s["loss_function"],
            delay_value=bool(s["delay_value"]),
            use_tanh_mapping=bool(s["use_tanh_mapping"]),
        )
    elif method == "qmix":
        algo = QmixConfig(
            mixing_embed_dim=int(s["mixing_embed_dim"]),
            delay_value=bool(s["delay_value"]),
            loss_function=s["loss_function"],
        )
    else:
        raise ConfigError(f"unknown baseline {method!r}", key="baselines")

    c = ExperimentConfig.get_from_yaml()  # BenchMARL's defaults, then ours
    c.sampling_device = c.train_device = c.buffer_device = "cpu"
    c.share_policy_params = spec["sharing"] == "shared"
    c.prefer_continuous_actions = True
    c.gamma = float(s["gamma"])
    c.lr = float(s["lr"])
    c.clip_grad_norm = True
    c.clip_grad_val = float(s["clip_grad_norm"])
    c.soft_target_update = True
    c.polyak_tau = float(s["polyak_tau"])
    c.exploration_eps_init = float(s["exploration_eps_init"])
    c.exploration_eps_end = float(s["exploration_eps_end"])
    c.exploration_anneal_frames = int(s["exploration_anneal_frames"])
    c.max_n_iters = UNBOUNDED_ITERATIONS  # psmarl's run loop stops the run (task.LoopHook)
    c.max_n_frames = None
    c.off_policy_collected_frames_per_batch = int(s["frames_per_batch"])
    c.off_policy_n_envs_per_worker = int(s["n_envs"])
    c.off_policy_n_optimizer_steps = int(s["optimizer_steps"])
    c.off_policy_train_batch_size = int(s["train_batch_size"])
    c.off_policy_memory_size = int(s["memory_size"])
    c.off_policy_init_random_frames = int(s["init_random_frames"])
    # the prioritized sampler needs TorchRL's C++ extension, which does not load with
    # torch 2.13 (field notes, section 4): uniform replay only
    c.off_policy_use_prioritized_replay_buffer = False
    c.evaluation = False  # psmarl evaluates with its own N-play protocol
    c.render = False
    c.loggers = []
    c.create_json = False
    c.save_folder = str(save_folder)
    c.restore_file = None if restore_file is None else str(restore_file)
    c.checkpoint_interval = 0  # psmarl checkpoints itself (.work, atomically)
    c.checkpoint_at_end = False
    c.keep_checkpoints_num = None
    c.exclude_buffer_from_checkpoint = True  # a full buffer made a 9.85 GB checkpoint
    c.parallel_collection = False
    c.adam_eps = float(s["optim_eps"])
    cls = Experiment if s["optimizer"] == "adam" else _rmsprop_experiment(float(s["optim_alpha"]))
    return cls(
        task=_make_task(spec),
        algorithm_config=algo,
        model_config=model,
        critic_model_config=model,
        seed=int(spec["seed"]),
        config=c,
        callbacks=list(callbacks),
    )


def _rmsprop_experiment(alpha: float):
    """BenchMARL's Experiment with RMSprop (smoothing ``alpha``, BenchMARL's ``lr`` and
    ``adam_eps`` as its epsilon) in place of the Adam it always builds: pymarl's optimiser,
    which the paper's QMIX runs used. Set before a checkpoint is restored, so a resumed run
    restores RMSprop's state."""
    import torch
    from benchmarl.experiment import Experiment

    class RMSpropExperiment(Experiment):
        def _setup_algorithm(self):
            super()._setup_algorithm()
            self.optimizers = {
                group: {
                    name: torch.optim.RMSprop(
                        [p for g in opt.param_groups for p in g["params"]],
                        lr=self.config.lr,
                        alpha=alpha,
                        eps=self.config.adam_eps,
                    )
                    for name, opt in optimizers.items()
                }
                for group, optimizers in self.optimizers.items()
            }

    return RMSpropExperiment


def _quiet() -> None:
    """No progress bar (BenchMARL's tqdm) and no warnings that are expected here."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torchrl  # noqa: F401  (installs its own warning filters; ours go in front)

    warnings.filterwarnings("ignore", message=".*PettingZoo in TorchRL is tested.*")
    warnings.filterwarnings("ignore", message=".*No episode terminated this iteration.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("torchrl").setLevel(logging.WARNING)


class BenchmarlBackend:
    """A BenchMARL experiment as a backend of psmarl's run loop (:mod:`psmarl.run_loop`).

    ``restore``: a checkpoint folder of this run to continue from (BenchMARL's
    ``restore_file``), or None for a fresh run. Its scratch folder lives in ``work``.
    """

    def __init__(self, spec: Mapping[str, Any], work: Path, restore: Path | None = None):
        from psmarl.benchmarl_backend.task import LoopHook

        self.spec = spec
        self.hook = LoopHook()
        self.folder = tempfile.TemporaryDirectory(prefix="benchmarl.", dir=work)
        self.experiment = build_experiment(
            spec,
            self.folder.name,
            callbacks=[self.hook],
            restore_file=None if restore is None else restore / CHECKPOINT_FILE,
        )

    def run(self, record) -> None:
        from psmarl.benchmarl_backend.task import BudgetReached

        self.hook.record = record
        try:
            # BenchMARL prints "Experiment failed" to stdout on the stop signal
            with contextlib.redirect_stdout(io.StringIO()):
                self.experiment.run()
        except BudgetReached:
            pass

    def save(self, folder: Path) -> None:
        import torch

        torch.save(self.experiment.state_dict(), folder / CHECKPOINT_FILE)

    def meta(self) -> dict[str, Any]:
        agents = list(self.experiment.group_map[GROUP])
        return {
            "policy_kind": POLICY_KIND,
            "method": self.spec["method"],
            "agents": agents,
            "group": GROUP,
            "agent_to_module": {a: GROUP for a in agents},
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.experiment.close()
        self.folder.cleanup()


def train(
    spec: Mapping[str, Any],
    run_dir: str | os.PathLike,
    log: Callable[[str], None] | None = None,
    cores: int | None = None,
) -> dict[str, Any]:
    """Train until the budget is reached; resume from ``<run>/.work`` if a run was cut off.
    ``cores``: torch's threads (default ``OMP_NUM_THREADS``, else 1)."""
    _quiet()
    import torch

    torch.set_num_threads(cores or max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    from psmarl.envs import backend_of

    loop = RunLoop(spec, run_dir, log, summary={"backend": backend_of(spec["env"])})
    if (done := loop.published()) is not None:
        return done
    restore = loop.start()
    return loop.train(BenchmarlBackend(spec, loop.work, restore))
