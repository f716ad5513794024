# Figures (psmarl.figures; settings: figures.* of the config). Per env: the learning curves
# of every run, and the paper's Figures 3 (shared), 4 (independent) and 5 (best shared method
# vs MADDPG vs QMIX); each uses only its env's runs, so a change to one env redraws only that
# env's figures. One summary figure of shared vs independent per method from the statistics.
from psmarl import figures as psfig

try:
    FIG_SPEC = pscfg.figure_spec(config)
    psfig.check_spec(FIG_SPEC)
except ConfigError as e:
    raise WorkflowError(f"invalid config: {e}") from None

SHARING = config.get("sharing", ["shared", "independent"])
# Figure 3 needs shared runs, 4 independent ones, 5 shared ones (best shared method).
PAPER_FIGURES = [n for n, need in ((3, "shared"), (4, "independent"), (5, "shared"))
                 if need in SHARING]
FIGURE_OUTPUTS = expand(R("figures/figure{figure}_{env}.{ext}"), figure=PAPER_FIGURES,
                        env=ENVS, ext=FIG_FORMATS)
if {"shared", "independent"} <= set(SHARING):
    FIGURE_OUTPUTS += expand(R("figures/sharing_summary.{ext}"), ext=FIG_FORMATS)


rule learning_curve:
    input:
        progress=lambda w: [R(res.progress_csv(*j)) for j in _env_jobs(w.env)],
        random=R(res.random_summary_json("{env}")),
    output:
        report(
            expand(R(res.learning_curve_figure("{{env}}", "{ext}")), ext=FIG_FORMATS),
            caption="../report/learning_curve.rst",
            category="Learning curves",
            labels={"env": "{env}"},
        ),
    params:
        root=ROOT,
        runs=lambda w: as_json(_env_jobs(w.env)),
        spec=as_json(FIG_SPEC),
    log:
        R(res.log_file("figures", "learning_curve_{env}")),
    resources:
        mem_mb=1000,
        runtime=10,
    container:
        pscluster.image(config, "analysis")
    shell:
        "psmarl figures --root {params.root} --env {wildcards.env} --runs {params.runs:q} "
        "--spec {params.spec:q} --out {output} 2> {log}"


rule paper_figure:
    input:
        progress=lambda w: [R(res.progress_csv(*j)) for j in _env_jobs(w.env)],
        random=R(res.random_summary_json("{env}")),
    output:
        report(
            expand(R("figures/figure{{figure}}_{{env}}.{ext}"), ext=FIG_FORMATS),
            caption="../report/paper_figure.rst",
            category="Paper figures 3-5",
            subcategory="Figure {figure}",
            labels={"figure": "Figure {figure}", "env": "{env}"},
        ),
    wildcard_constraints:
        figure="3|4|5",
    params:
        root=ROOT,
        runs=lambda w: as_json(_env_jobs(w.env)),
        spec=as_json(FIG_SPEC),
    log:
        R(res.log_file("figures", "figure{figure}_{env}")),
    resources:
        mem_mb=1000,
        runtime=10,
    container:
        pscluster.image(config, "analysis")
    shell:
        "psmarl paper-figure --root {params.root} --figure {wildcards.figure} "
        "--env {wildcards.env} --runs {params.runs:q} --spec {params.spec:q} "
        "--out {output} 2> {log}"


rule sharing_summary:
    input:
        STATS_TABLES,
        R(res.SUMMARY_TABLE),
    output:
        report(
            expand(R("figures/sharing_summary.{ext}"), ext=FIG_FORMATS),
            caption="../report/sharing_summary.rst",
            category="Shared vs independent",
            labels={"figure": "summary"},
        ),
    params:
        root=ROOT,
        spec=as_json(FIG_SPEC),
    log:
        R(res.log_file("figures", "sharing_summary")),
    resources:
        mem_mb=1000,
        runtime=10,
    container:
        pscluster.image(config, "analysis")
    shell:
        "psmarl sharing-figure --root {params.root} --spec {params.spec:q} --out {output} 2> {log}"
