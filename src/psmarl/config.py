"""Workflow configuration: semantic validation and the per-rule slices of the config.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks shapes and types when the
Snakefile starts; :func:`validate` then checks what a schema cannot (registered envs,
presets and methods, a method's action space against an env's). Each rule's params come
from one of the ``*_spec`` functions below, which return plain, key-sorted values built
only from the slice of the config that job depends on, so a change reruns only what it
touches.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from psmarl import benchmarl_backend, envs, methods
from psmarl.defaults import get as setting
from psmarl.dicts import deep_merge, normalize
from psmarl.errors import ConfigError
from psmarl.methods import SHARING_MODES

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def load(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a dict; a syntax error is a ConfigError naming the file, line
    and column (Snakemake's own message names neither)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file not found: {p}")
    if not p.is_file():
        raise ConfigError(f"{p} is not a file")
    try:
        with open(p, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_message(p, e)) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping")
    return data


def load_merged(paths: Sequence[str | Path]) -> dict[str, Any]:
    """The config Snakemake builds from ``--configfile A B ...``: each file deep-merged on top
    of the one before (entries an overlay leaves out with null stay: :func:`drop_left_out`)."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged = deep_merge(merged, load(path))
    return merged


def check_yaml(path: str | Path) -> None:
    """For the Snakefile: a config file's YAML error as Snakemake's WorkflowError, naming
    file and line (Snakemake's own message names neither)."""
    try:
        load(path)
    except ConfigError as e:
        from snakemake.exceptions import WorkflowError

        raise WorkflowError(f"invalid config: {e}") from None


def _yaml_message(path: Path, e: yaml.YAMLError) -> str:
    """``file:line: YAML syntax error at line L, column C: problem (context at ...)``."""
    mark = getattr(e, "problem_mark", None)
    if mark is None:
        return f"{path}: YAML syntax error: {str(e).splitlines()[0] if str(e) else e!r}"
    msg = (
        f"{path}:{mark.line + 1}: YAML syntax error at line {mark.line + 1}, column "
        f"{mark.column + 1}: {getattr(e, 'problem', None) or 'invalid YAML'}"
    )
    context, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context and cmark is not None:
        msg += f" ({context} at line {cmark.line + 1}, column {cmark.column + 1})"
    return msg


def schema_validate(config: Mapping[str, Any], schema_path: str | Path = SCHEMA) -> None:
    """JSON-schema validation (what Snakemake's ``validate`` does), for use outside Snakemake."""
    import jsonschema

    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    v = jsonschema.Draft202012Validator(schema)
    errors = sorted(v.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        key = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ConfigError(e.message, key=key)


# ---------------------------------------------------------------- env and method settings
def env_settings(config: Mapping[str, Any], env: str) -> dict[str, Any]:
    entry = (config.get("envs") or {}).get(env)
    if entry is None:
        raise ConfigError(f"environment {env!r} is not in the config", key="envs")
    entry = entry or {}
    return envs.resolve(
        env,
        entry.get("preset"),
        entry.get("kwargs"),
        entry.get("agent_indication"),
        entry.get("pad_observations"),
        entry.get("pad_actions"),
        entry.get("options"),
        backend=entry.get("backend"),
    )


def _section(config: Mapping[str, Any], method: str) -> tuple[str, Mapping[str, Any]]:
    """A configured method's (config key, section): ``methods.<m>`` (or ``baselines.<m>``)."""
    found = methods.sections(config).get(method)
    if found is None:
        raise ConfigError(f"method {method!r} is not in the config", key="methods")
    return found


def method_settings(config: Mapping[str, Any], method: str, env: str) -> dict[str, Any]:
    """A configured method's settings on one env (its defaults with the config's on top)."""
    mcfg = _section(config, method)[1]
    if methods.backend(method) == "benchmarl":
        return benchmarl_backend.resolve(config, method, env)
    return methods.resolve(method, mcfg, env, network=config.get("network"))


def budget(config: Mapping[str, Any], env: str, method: str | None = None) -> dict[str, int]:
    """The training budget of ``method`` on ``env``: the first one given of
    ``methods.<m>.per_env.<env>.budget``, ``methods.<m>.budget``,
    ``training.per_env.<env>.budget``, ``training.budget`` (a method can need another unit:
    the paper's Ape-X budgets are env steps, docs/fidelity.md)."""
    training = config.get("training") or {}
    where, mcfg = (
        methods.sections(config).get(method, (f"methods.{method}", {}))
        if method
        else ("methods", {})
    )
    candidates = (
        (
            f"{where}.per_env.{env}.budget",
            ((mcfg.get("per_env") or {}).get(env) or {}).get("budget"),
        ),
        (f"{where}.budget", mcfg.get("budget")),
        (
            f"training.per_env.{env}.budget",
            ((training.get("per_env") or {}).get(env) or {}).get("budget"),
        ),
        ("training.budget", training.get("budget")),
    )
    key, b = next(((k, v) for k, v in candidates if v), ("training.budget", {}))
    b = dict(b)
    from psmarl.run_loop import check_budget

    try:
        check_budget(b)
    except ConfigError as e:
        raise ConfigError(str(e).split(": ", 1)[-1], key=key) from None
    return {k: v for k, v in b.items() if v is not None}


# ---------------------------------------------------------------- overlays
METHOD_SECTIONS = ("methods", "baselines")


def drop_left_out(config: MutableMapping[str, Any]) -> list[str]:
    """Remove what a config sets to null under ``envs`` or ``methods``, or in a
    ``budget``: how an overlay leaves out an env, a method or a budget unit of the config it
    is laid over (``--configfile config/paper.yaml overlay.yaml`` with ``envs:
    {speaker_listener: null}``). An env left out also leaves every method's ``envs`` list
    and ``per_env`` and ``training.per_env``; a method whose ``envs`` list it empties is left
    out too (an empty list would mean every env). Changes ``config`` in place (before any
    check) and returns the dotted keys removed."""
    removed: list[str] = []
    envs_ = config.get("envs")
    gone = set()
    if isinstance(envs_, MutableMapping):
        gone = {name for name, entry in envs_.items() if entry is None}
        if gone and len(gone) == len(envs_):
            raise ConfigError(
                f"every env is left out with null ({', '.join(sorted(gone))}): an overlay goes "
                "after the config it changes, e.g. --configfile config/paper.yaml "
                "config/learning_check.yaml",
                key="envs",
            )
        for name in sorted(gone):
            del envs_[name]
            removed.append(f"envs.{name}")
    for section in METHOD_SECTIONS:
        entries = config.get(section)
        if not isinstance(entries, MutableMapping):
            continue
        for name in list(entries):
            mcfg = entries[name]
            if mcfg is None:
                del entries[name]
                removed.append(f"{section}.{name}")
                continue
            if not gone or not isinstance(mcfg, MutableMapping):
                continue
            listed = mcfg.get("envs")
            if isinstance(listed, list) and gone & set(listed):
                mcfg["envs"] = [e for e in listed if e not in gone]
                removed += [f"{section}.{name}.envs: {e}" for e in listed if e in gone]
                if not mcfg["envs"]:
                    del entries[name]
                    removed.append(f"{section}.{name} (no env left)")
                    continue
            per_env = mcfg.get("per_env")
            if isinstance(per_env, MutableMapping):
                for e in sorted(gone & set(per_env)):
                    del per_env[e]
                    removed.append(f"{section}.{name}.per_env.{e}")
    per_env = (config.get("training") or {}).get("per_env")
    if gone and isinstance(per_env, MutableMapping):
        for e in sorted(gone & set(per_env)):
            del per_env[e]
            removed.append(f"training.per_env.{e}")
    for where, budget in _budgets(config):
        for unit in [u for u, v in budget.items() if v is None]:
            del budget[unit]
            removed.append(f"{where}.{unit}")
    return removed


def _budgets(config: Mapping[str, Any]) -> list[tuple[str, MutableMapping[str, Any]]]:
    """Every ``budget`` mapping of a config, with its dotted key: an overlay that counts in
    another unit sets the base's to null (``budget: {episodes: null, env_steps: 100000}``),
    as mappings merge key by key."""
    found: list[tuple[str, MutableMapping[str, Any]]] = []

    def look(where: str, section: Any) -> None:
        if not isinstance(section, Mapping):
            return
        if isinstance(section.get("budget"), MutableMapping):
            found.append((f"{where}.budget", section["budget"]))
        for env, entry in (section.get("per_env") or {}).items():
            if isinstance(entry, Mapping) and isinstance(entry.get("budget"), MutableMapping):
                found.append((f"{where}.per_env.{env}.budget", entry["budget"]))

    look("training", config.get("training"))
    for section in METHOD_SECTIONS:
        for name, mcfg in (config.get(section) or {}).items():
            look(f"{section}.{name}", mcfg)
    return found


# ---------------------------------------------------------------- jobs and per-rule specs
def env_names(config: Mapping[str, Any]) -> list[str]:
    return list((config.get("envs") or {}).keys())


def method_envs(config: Mapping[str, Any], method: str) -> list[str]:
    """The envs a method is trained on: its ``envs`` list, or every configured env."""
    listed = _section(config, method)[1].get("envs")
    return list(listed) if listed else env_names(config)


def method_sharing(config: Mapping[str, Any], method: str) -> list[str]:
    """The sharing modes a method is trained with: its ``sharing`` list, or the top-level
    ``sharing``."""
    listed = _section(config, method)[1].get("sharing")
    return list(listed) if listed else list(setting(config, "sharing"))


def job_backend(method: str) -> str:
    """What trains a method's jobs: ``rllib`` or ``benchmarl`` (its catalogue entry)."""
    return methods.backend(method)


def train_jobs(config: Mapping[str, Any]) -> list[tuple[str, str, str, int]]:
    """Every (env, method, sharing, seed) the config asks to train, both backends: the RLlib
    methods' jobs, then BenchMARL's, each env by env in config order."""
    out = []
    configured = list(methods.sections(config))
    for backend in methods.BACKENDS:
        for env in env_names(config):
            for method in configured:
                if job_backend(method) != backend or env not in method_envs(config, method):
                    continue
                for sharing in method_sharing(config, method):
                    for seed in setting(config, "seeds"):
                        out.append((env, method, sharing, int(seed)))
    return out


def sampled_eval_jobs(config: Mapping[str, Any]) -> list[tuple[str, str, str, int]]:
    """The runs also evaluated with sampled actions (``evaluation.sampled_actions``): those
    of the methods whose policy is a distribution psmarl samples (the policy-gradient
    family: a diagonal Gaussian or a categorical; ``psmarl.evaluate.CheckpointPolicy``)."""
    if not setting(config, "evaluation.sampled_actions"):
        return []
    return [j for j in train_jobs(config) if methods.get(j[1]).family == "policy_gradient"]


def train_spec(
    config: Mapping[str, Any], env: str, method: str, sharing: str, seed: int | str
) -> dict[str, Any]:
    """Everything one training run depends on (plain JSON; the ``train`` rule's params, read
    by ``psmarl train``, which picks the backend from the method's catalogue entry)."""
    if job_backend(method) == "benchmarl":
        return _benchmarl_train_spec(config, env, method, sharing, seed)
    training = config.get("training") or {}
    return normalize(
        {
            "env": env_settings(config, env),
            "method": method,
            "method_settings": method_settings(config, method, env),
            "sharing": sharing,
            "seed": int(seed),
            "budget": budget(config, env, method),
            "checkpoint_every": int(setting(config, "training.checkpoint_every")),
            "runtime": dict(training.get("runtime") or {}),
        }
    )


def _benchmarl_train_spec(
    config: Mapping[str, Any], env: str, method: str, sharing: str, seed: int | str
) -> dict[str, Any]:
    """A MADDPG/QMIX run's spec (read by
    :func:`psmarl.benchmarl_backend.train.build_experiment`)."""
    es = env_settings(config, env)
    settings = benchmarl_backend.resolve(config, method, env)
    return normalize(
        {
            "env": es,
            "method": method,
            "settings": settings,
            "action_adapter": benchmarl_backend.action_adapter(
                method, settings, es, where=_section(config, method)[0]
            ),
            "sharing": sharing,
            "seed": int(seed),
            "budget": budget(config, env, method),
            "checkpoint_every": int(setting(config, "training.checkpoint_every")),
        }
    )


def eval_spec(config: Mapping[str, Any], env: str) -> dict[str, Any]:
    """What an evaluation's results depend on. The number of worker processes is not part of
    it (a play's return does not depend on the split: ``psmarl.evaluate``), so changing
    ``evaluation.workers`` reruns nothing; see :func:`eval_workers`."""
    return normalize(
        {
            "env": env_settings(config, env),
            "episodes": int(setting(config, "evaluation.episodes")),
            "seed": int(setting(config, "evaluation.seed")),
            "envs_per_worker": int(setting(config, "evaluation.envs_per_worker")),
        }
    )


def results_root(config: Mapping[str, Any]) -> str:
    """The results folder (``results_dir``): every output of the workflow is under it."""
    return str(setting(config, "results_dir"))


def train_threads(config: Mapping[str, Any], method: str | None = None) -> int:
    """CPUs of one training job (its Snakemake ``threads``, passed to ``psmarl train
    --cores``): ``training.runtime.num_cpus`` for an RLlib method; 1 for a BenchMARL one (its
    torch threads; it steps its envs in lockstep in one process)."""
    if method is not None and job_backend(method) == "benchmarl":
        return 1
    return int(setting(config, "training.runtime.num_cpus"))


def figure_formats(config: Mapping[str, Any]) -> list[str]:
    """File formats of every figure (``figures.formats``)."""
    return list(setting(config, "figures.formats"))


def eval_workers(config: Mapping[str, Any]) -> int:
    """Processes per evaluation job (its Snakemake ``threads``; Snakemake lowers it to
    ``--cores`` on a smaller machine and passes the result to ``psmarl evaluate --workers``)."""
    return int(setting(config, "evaluation.workers"))


def random_spec(config: Mapping[str, Any], env: str) -> dict[str, Any]:
    spec = eval_spec(config, env)
    rb = config.get("random_baseline") or {}
    if "episodes" in rb:
        spec["episodes"] = int(rb["episodes"])
    return spec


def figure_spec(config: Mapping[str, Any]) -> dict[str, Any]:
    return normalize(dict(config.get("figures") or {}))


# ---------------------------------------------------------------- semantic validation
def _check_selection(config: Mapping[str, Any], where: str, mcfg: Mapping[str, Any]) -> None:
    """A method section's ``envs``, ``per_env`` and ``sharing`` name configured envs and known
    sharing modes."""
    env_list = env_names(config)
    for e in mcfg.get("envs") or []:
        if e not in env_list:
            raise ConfigError(f"names {e!r}, which is not in envs", key=f"{where}.envs")
    for e in mcfg.get("per_env") or {}:
        if e not in env_list:
            raise ConfigError(f"per_env names {e!r}, which is not in envs", key=f"{where}.per_env")
    for s in mcfg.get("sharing") or []:
        if s not in SHARING_MODES:
            raise ConfigError(f"unknown sharing mode {s!r}", key=f"{where}.sharing")


def _validate_benchmarl(
    config: Mapping[str, Any], method: str, where: str, mcfg: Mapping[str, Any]
) -> None:
    """A MADDPG/QMIX section (:mod:`psmarl.benchmarl_backend`): settings, and the action
    adapter each env needs (raises ConfigError)."""
    _check_selection(config, where, mcfg)
    for e in method_envs(config, method):
        settings = benchmarl_backend.resolve(config, method, e)
        has_per_env = "bins" in ((mcfg.get("per_env") or {}).get(e) or {})
        benchmarl_backend.action_adapter(
            method,
            settings,
            env_settings(config, e),
            where=f"{where}.per_env.{e}" if has_per_env else where,
        )
        budget(config, e, method)


def _validate_rllib(
    config: Mapping[str, Any],
    method: str,
    where: str,
    mcfg: Mapping[str, Any],
    settings: Mapping[str, Mapping[str, Any]],
    kinds: Mapping[str, set[str]],
) -> None:
    """An RLlib method's section: its settings, and each env's action kind, reward clipping,
    budget and runner CPUs (raises ConfigError)."""
    spec = methods.get(method)
    per_env = mcfg.get("per_env") or {}
    methods.check_settings(
        method, {k: v for k, v in mcfg.items() if k not in methods.STRUCTURE_KEYS}, where
    )
    _check_selection(config, where, mcfg)
    for e in per_env:
        methods.check_settings(
            method,
            {k: v for k, v in (per_env[e] or {}).items() if k != "budget"},
            f"{where}.per_env.{e}",
        )
    for e in method_envs(config, method):
        bad = kinds[e] - set(spec.action_kinds)
        if bad:
            raise ConfigError(
                f"method {method!r} handles {'/'.join(sorted(spec.action_kinds))} actions, "
                f"but {e!r} has {'/'.join(sorted(bad))} actions (list the envs it "
                f"fits under {where}.envs)",
                key=where,
            )
        check_reward_clipping(method_settings(config, method, e), settings[e], method, e)
        budget(config, e, method)
        check_runner_cpus(config, method, e)
        check_rounds(config, method, e)


def validate(config: Mapping[str, Any]) -> None:
    """Checks a schema cannot express. Raises ConfigError naming the key."""
    check_results_dir(config)
    env_list = env_names(config)
    if not env_list:
        raise ConfigError("no environment configured", key="envs")
    from psmarl.live_metrics import check_wandb

    check_wandb(config.get("wandb"))
    for sharing in config.get("sharing", []):
        if sharing not in SHARING_MODES:
            raise ConfigError(
                f"unknown sharing mode {sharing!r}; use one of {', '.join(SHARING_MODES)}",
                key="sharing",
            )
    settings = {e: env_settings(config, e) for e in env_list}  # unknown env / preset / kwargs
    probes = {e: _probe(s) for e, s in settings.items()}  # padding/indication that can't apply
    kinds = {e: {methods.action_kind(sp) for sp in p[1].values()} for e, p in probes.items()}
    if "shared" in setting(config, "sharing"):
        from psmarl.envs.wrappers import shared_policy_problem

        for e, (obs_spaces, act_spaces) in probes.items():
            problem = shared_policy_problem(obs_spaces, act_spaces, e)
            if problem is not None:
                raise problem
    sections = methods.sections(config)  # unknown names under baselines:, a method twice
    for method, (where, mcfg) in sections.items():
        if methods.backend(method) == "rllib":
            _validate_rllib(config, method, where, mcfg, settings, kinds)
    for e in env_list:
        budget(config, e)
    for method, (where, mcfg) in sections.items():
        if methods.backend(method) == "benchmarl":
            _validate_benchmarl(config, method, where, mcfg)
    for e in (config.get("training") or {}).get("per_env") or {}:
        if e not in settings:
            raise ConfigError(f"names {e!r}, which is not in envs", key="training.per_env")
    ev = config.get("evaluation") or {}
    for key in ("episodes", "workers", "envs_per_worker"):
        if key in ev and (not isinstance(ev[key], int) or ev[key] < 1):
            raise ConfigError(
                f"must be a positive integer, got {ev[key]!r}", key=f"evaluation.{key}"
            )
    rb = config.get("random_baseline") or {}
    if "episodes" in rb and (not isinstance(rb["episodes"], int) or rb["episodes"] < 1):
        raise ConfigError(
            f"must be a positive integer, got {rb['episodes']!r}", key="random_baseline.episodes"
        )


def check_reward_clipping(
    msettings: Mapping[str, Any], env_settings_: Mapping[str, Any], method: str, env: str
) -> None:
    """Reject sign clipping (``clip_rewards: true``) on an env whose spec says its rewards
    must not be sign-clipped (:attr:`psmarl.envs.EnvSpec.no_sign_clipping`)."""
    why = envs.get(env_settings_["name"]).no_sign_clipping
    if why and msettings.get("clip_rewards") is True:
        raise ConfigError(
            f"{method!r} sign-clips rewards (clip_rewards: true, its default), but on {env!r} "
            f"{why}: set methods.{method}.per_env.{env}.clip_rewards: false (or a bound, "
            f"e.g. 10.0)",
            key=f"methods.{method}.per_env.{env}.clip_rewards",
        )


def check_results_dir(config: Mapping[str, Any]) -> None:
    """``results_dir`` must be a folder or not exist yet (it is created)."""
    rd = results_root(config)
    p = Path(rd)
    for q in (p, *p.parents):
        if q.exists() and not q.is_dir():
            raise ConfigError(f"{rd!r}: {q} exists and is not a folder", key="results_dir")


def check_runner_cpus(config: Mapping[str, Any], method: str, env: str) -> None:
    """Every env runner process takes a CPU of the job's Ray session (one each, or the
    method's ``env_runners.num_cpus_per_env_runner``): more runners than
    ``training.runtime.num_cpus`` would wait for CPUs for ever."""
    rt = (config.get("training") or {}).get("runtime") or {}
    cpus = rt.get("num_cpus", 1)
    own = method_settings(config, method, env).get("env_runners") or {}
    runners = own.get("num_env_runners", rt.get("num_env_runners", "auto"))
    per = own.get("num_cpus_per_env_runner", 1)
    if not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in (cpus, runners, per)
    ):
        return  # 'auto' fits the cores by construction; wrong types are the schema's
    if runners * per > cpus:
        where = (
            "training.runtime.num_env_runners"
            if "num_env_runners" not in own
            else _method_key(config, method, env, "num_env_runners")
        )
        raise ConfigError(
            f"{runners} env runner process(es) need {runners * per:g} CPU(s), but "
            f"training.runtime.num_cpus is {cpus}: raise training.runtime.num_cpus to at least "
            f"{runners * per:g}, lower {where}, or set it to auto (training would otherwise "
            f"wait for CPUs for ever)",
            key=where,
        )


def check_rounds(config: Mapping[str, Any], method: str, env: str) -> None:
    """A synchronous on-policy method (its catalogue entry's ``batch_in_rounds``) with a
    numeric ``rollout_fragment_length`` samples its train batch in whole rounds of runners x
    envs x fragment; RLlib refuses a batch more than 10% off every such multiple, and only
    once the job has started. Checked here on the config's layout (``auto`` resolved as
    psmarl.train.resolve_runtime does with ``training.runtime.num_cpus``)."""
    if not methods.get(method).batch_in_rounds:
        return
    ms = method_settings(config, method, env)
    own = ms.get("env_runners") or {}
    fragment = own.get("rollout_fragment_length", "auto")
    batch = (ms.get("training") or {}).get("train_batch_size_per_learner")
    rt = (config.get("training") or {}).get("runtime") or {}
    cpus = rt.get("num_cpus", setting(config, "training.runtime.num_cpus"))
    runners = own.get("num_env_runners", rt.get("num_env_runners", "auto"))
    envs_per = own.get("num_envs_per_env_runner", rt.get("num_envs_per_env_runner", "auto"))
    if runners == "auto" and isinstance(cpus, int):
        runners = cpus if cpus > 1 else 0
    if envs_per == "auto":
        envs_per = 8
    values: tuple[Any, ...] = (fragment, batch, runners, envs_per)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return  # "auto" fits any batch; wrong types are the schema's
    fragment, batch, runners, envs_per = values
    per_round = max(runners, 1) * envs_per * fragment
    rounds = -(-batch // per_round)  # RLlib samples whole rounds until it has the batch
    if rounds * per_round - batch > 0.1 * batch:
        raise ConfigError(
            f"train_batch_size_per_learner {batch} is not (within 10%) whole sampling rounds "
            f"of {max(runners, 1)} runner(s) x {envs_per} envs x rollout_fragment_length "
            f"{fragment} = {per_round} env steps (RLlib would refuse it when the job starts): "
            f"set {_method_key(config, method, env, 'rollout_fragment_length')} to auto or "
            f"to a divisor of {batch // max(runners, 1) // envs_per or 1}, or change the batch "
            "or training.runtime",
            key=_method_key(config, method, env, "rollout_fragment_length"),
        )


def _method_key(config: Mapping[str, Any], method: str, env: str, key: str) -> str:
    per_env = (((config.get("methods") or {}).get(method) or {}).get("per_env") or {}).get(
        env
    ) or {}
    if key in (per_env.get("env_runners") or {}):
        return f"methods.{method}.per_env.{env}.env_runners.{key}"
    return f"methods.{method}.env_runners.{key}"


def _probe(settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each agent's (wrapped) observation and action space."""
    env = envs.make_parallel_env(settings)
    try:
        agents = list(env.possible_agents)
        return (
            {a: env.observation_space(a) for a in agents},
            {a: env.action_space(a) for a in agents},
        )
    finally:
        env.close()
