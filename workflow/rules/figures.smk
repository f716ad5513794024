# Figures (psmarl.figures; settings: figures.* of the config). Per env: the learning curves
# of every run, and the paper's Figures 3 (shared), 4 (independent) and 5 (best shared method
# vs MADDPG vs QMIX); each uses only its env's runs, so a change to one env redraws only that
# env's figures. One summary figure of shared vs independent per method from the statistics.
# Which figures a config's sharing modes allow: common.smk's targets (psmarl.figures).


rule learning_curve:
    input:
        progress=env_progress,
        random=R(res.random_summary_json("{env}")),
    output:
        report(
            figure_files(lambda ext: res.learning_curve_figure("{env}", ext)),
            caption="../report/learning_curve.rst",
            category="Learning curves",
            labels={"env": "{env}"},
        ),
    log:
        R(res.log_file("figures", "learning_curve_{env}")),
    container:
        pscluster.image(config, "analysis")
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        root=lambda w, input: root_of(input.random, res.random_summary_json(w.env)),
        runs=lambda w: as_json(env_jobs(w.env)),
        spec=as_json(FIG_SPEC),
    shell:
        "psmarl learning-curve --root {params.root} --env {wildcards.env} "
        "--runs {params.runs:q} --spec {params.spec:q} --out {output} 2> {log}"


rule paper_figure:
    input:
        progress=env_progress,
        random=R(res.random_summary_json("{env}")),
    output:
        report(
            figure_files(lambda ext: res.paper_figure("{figure}", "{env}", ext)),
            caption="../report/paper_figure.rst",
            category="Paper figures 3-5",
            subcategory="Figure {figure}",
            labels={"figure": "Figure {figure}", "env": "{env}"},
        ),
    log:
        R(res.log_file("figures", "figure{figure}_{env}")),
    wildcard_constraints:
        figure="3|4|5",
    container:
        pscluster.image(config, "analysis")
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        root=lambda w, input: root_of(input.random, res.random_summary_json(w.env)),
        runs=lambda w: as_json(env_jobs(w.env)),
        spec=as_json(FIG_SPEC),
    shell:
        "psmarl paper-figure --root {params.root} --figure {wildcards.figure} "
        "--env {wildcards.env} --runs {params.runs:q} --spec {params.spec:q} "
        "--out {output} 2> {log}"


rule sharing_summary:
    input:
        rules.statistics.output,
        summary=R(res.SUMMARY_TABLE),
    output:
        report(
            figure_files(res.sharing_summary_figure),
            caption="../report/sharing_summary.rst",
            category="Shared vs independent",
            labels={"figure": "summary"},
        ),
    log:
        R(res.log_file("figures", "sharing_summary")),
    container:
        pscluster.image(config, "analysis")
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        root=lambda w, input: root_of(input.summary, res.SUMMARY_TABLE),
        spec=as_json(FIG_SPEC),
    shell:
        "psmarl sharing-summary --root {params.root} --spec {params.spec:q} --out {output} 2> {log}"
