# The config and its checks, the targets, and the helpers of the rule files (functions
# only: every rule lives in the file named after it). Paths come from psmarl.results.
import json
import os
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir).parent / "src"))  # without `pip install -e .`
from psmarl import aggregate as agg  # noqa: E402
from psmarl import cluster as pscluster  # noqa: E402
from psmarl import config as pscfg  # noqa: E402
from psmarl import figures as psfig  # noqa: E402
from psmarl import theory  # noqa: E402
from psmarl import results as res  # noqa: E402
from psmarl.defaults import get as setting  # noqa: E402
from psmarl.errors import ConfigError  # noqa: E402
from psmarl.live_metrics import WANDB_ENV, check_wandb  # noqa: E402

# Snakemake starts ready jobs of a higher priority first: evaluations (and the random
# baselines) before more training, so results come as each run finishes.
EVALUATION_PRIORITY = 10

# Shapes and types against the schema; its `default:`s are psmarl.defaults, which the code
# applies itself, so the config stays as given (set_default=False). Then what a schema
# cannot check (registries, action spaces, budgets), and each stage's settings.
# An overlay leaves out an env or a method of the config under it with null (first).
try:
    pscfg.drop_left_out(config)
except ConfigError as e:
    raise WorkflowError(f"invalid config: {e}") from None
validate(config, "../schemas/config.schema.yaml", set_default=False)
try:
    pscfg.validate(config)
    ROOT = pscfg.results_root(config)
    ENVS = pscfg.env_names(config)
    JOBS = pscfg.train_jobs(config)  # every method's runs, RLlib's and BenchMARL's
    SHARING = setting(config, "sharing")
    FIG_FORMATS = pscfg.figure_formats(config)
    FIG_SPEC = pscfg.figure_spec(config)
    psfig.check_spec(FIG_SPEC)
    REPORT_SPEC = agg.report_spec(config)  # report.* (bootstrap) + per-env presets
    THEORY_SPEC = theory.theory_spec(config)
    # W&B (psmarl.live_metrics): the training jobs inherit it from the environment, so that
    # switching it changes no rule's params and reruns nothing
    WANDB = check_wandb(config.get("wandb"))
    if WANDB is not None:
        os.environ[WANDB_ENV] = json.dumps(WANDB)
except ConfigError as e:
    raise WorkflowError(f"invalid config: {e}") from None
try:  # under --sdm apptainer: every stage image the jobs need exists (containers: key)
    pscluster.check_workflow_images(workflow, config, JOBS)
except ValueError as e:
    raise WorkflowError(str(e)) from None


wildcard_constraints:
    env="[A-Za-z0-9_\-]+",
    method="[A-Za-z0-9_\-]+",
    sharing="shared|independent",
    seed="[0-9]+",


# ---------------------------------------------------------------- paths and params
def R(path):
    """A path under the results folder."""
    return f"{ROOT}/{path}"


def figure_files(path_of_ext):
    """One figure in every format of figures.formats."""
    return [R(path_of_ext(ext)) for ext in FIG_FORMATS]


def root_of(path, rel):
    """The results root of a job's own file (psmarl.results.root_of)."""
    return res.root_of(path, rel)


def as_json(obj):
    """Params as one canonical JSON string (stable for Snakemake's params check)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def env_jobs(env):
    """The training jobs of one env, as lists (for JSON params)."""
    return [list(j) for j in JOBS if j[0] == env]


def env_progress(w):
    """progress.csv of every run of an env (the figures' inputs)."""
    return [R(res.progress_csv(*j)) for j in env_jobs(w.env)]


def train_threads(w):
    return pscfg.train_threads(config, w.method)


# ---------------------------------------------------------------- targets
def statistics_tables():
    """The tables of `psmarl statistics`, by output name."""
    return {
        "stats": R(res.STATISTICS_TABLE),
        "diffs": R(res.DIFFERENCES_TABLE),
        "improvement": R(res.IMPROVEMENT_TABLE),
        "paper": R(res.PAPER_TABLE),
    }


def paper_figure_files():
    """The paper's Figures 3-5 of every env that the sharing modes allow
    (psmarl.figures.paper_figures), and the shared-vs-independent summary."""
    out = [
        R(res.paper_figure(f, env, ext))
        for f in psfig.paper_figures(SHARING)
        for env in ENVS
        for ext in FIG_FORMATS
    ]
    if psfig.draws_sharing_summary(SHARING):
        out += figure_files(res.sharing_summary_figure)
    return out


def theory_files():
    return {
        "csv": R(res.THEORY_TABLE),
        "png": R(res.theory_figure("png")),
        "pdf": R(res.theory_figure("pdf")),
    }


def all_targets():
    """Every output of the study."""
    return [
        R(res.SUMMARY_TABLE),
        R(res.CURVES_TABLE),
        R(res.MARL_EVAL_JSON),
        *[R(res.learning_curve_figure(env, ext)) for env in ENVS for ext in FIG_FORMATS],
        *theory_files().values(),
        *statistics_tables().values(),
        R(res.CONFIG_RECORD),
        *paper_figure_files(),
        *[R(res.sampled_eval_summary_json(*j)) for j in pscfg.sampled_eval_jobs(config)],
    ]
