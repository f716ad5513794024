# Figures: one learning-curve figure per env (its own runs only, so a change to one env
# redraws only that env's figure).


rule learning_curve:
    input:
        progress=lambda w: [R(res.progress_csv(*j)) for j in _env_jobs(w.env)],
        random=R(res.random_summary_json("{env}")),
    output:
        report(
            expand(R(res.learning_curve_figure("{{env}}", "{ext}")), ext=FIG_FORMATS),
            caption="../report/learning_curve.rst",
            category="Figures",
        ),
    params:
        root=ROOT,
        runs=lambda w: as_json(_env_jobs(w.env)),
        spec=as_json(pscfg.figure_spec(config)),
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
