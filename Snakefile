# psmarl: "Revisiting Parameter Sharing in Multi-Agent Deep RL" as one workflow.
#   snakemake --cores all                                   (laptop default, ~1 hour)
#   snakemake --profile profiles/slurm --configfile config/paper.yaml   (paper budgets)
# Rules are thin: each calls the `psmarl` CLI; the logic lives in src/psmarl.
import json
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # works without `pip install -e .`
from psmarl import cluster as pscluster  # noqa: E402
from psmarl import config as pscfg  # noqa: E402
from psmarl import results as res  # noqa: E402
from psmarl.errors import ConfigError  # noqa: E402


# config/config.yaml is the default; a --configfile replaces it (no silent merge of the
# laptop settings into e.g. config/paper.yaml). --config KEY=VALUE still overrides keys.
if not workflow.overwrite_configfiles:
    try:  # a YAML error names file and line (Snakemake's own message names neither)
        pscfg.load("config/config.yaml")
    except ConfigError as e:
        raise WorkflowError(f"invalid config: {e}") from None

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")
try:
    pscfg.validate(config)
except ConfigError as e:
    raise WorkflowError(f"invalid config: {e}") from None

ROOT = config.get("results_dir", "results")
ENVS = pscfg.env_names(config)
JOBS = pscfg.all_jobs(config)  # RLlib runs + MADDPG/QMIX baselines (workflow/rules/marl.smk)
# method names of the two training rules: RLlib's `train` never matches a BenchMARL
# baseline (`marl_train`, workflow/rules/marl.smk) and vice versa
MARL_METHODS = "|".join(pscfg.marl_methods())
RLLIB_METHOD = f"(?!(?:{MARL_METHODS})(?![A-Za-z0-9_\-]))[A-Za-z0-9_\-]+"
FIG_FORMATS = (config.get("figures") or {}).get("formats", ["png", "pdf"])
try:  # under --sdm apptainer: every stage image the jobs need exists (containers: key)
    pscluster.check_workflow_images(workflow, config, JOBS)
except ValueError as e:
    raise WorkflowError(str(e)) from None


wildcard_constraints:
    env="[A-Za-z0-9_\-]+",
    method="[A-Za-z0-9_\-]+",
    sharing="shared|independent",
    seed="[0-9]+",


include: "workflow/rules/common.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/marl.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/theory.smk"


rule all:
    default_target: True
    input:
        R(res.SUMMARY_TABLE),
        R(res.CURVES_TABLE),
        expand(R(res.learning_curve_figure("{env}", "{ext}")), env=ENVS, ext=FIG_FORMATS),
        THEORY_OUTPUTS,
        STATS_TABLES,
        CONFIG_RECORD,
        FIGURE_OUTPUTS,
