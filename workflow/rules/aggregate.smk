# Aggregation: every run, evaluation and baseline into tidy tables.


rule aggregate:
    input:
        progress=[R(res.progress_csv(*j)) for j in JOBS],
        summaries=[R(res.train_summary_json(*j)) for j in JOBS],
        evals=[R(res.eval_summary_json(*j)) for j in JOBS],
        randoms=[R(res.random_summary_json(e)) for e in ENVS],
    output:
        summary=report(R(res.SUMMARY_TABLE), caption="../report/summary.rst",
                       category="Tables"),
        curves=R(res.CURVES_TABLE),
    params:
        root=ROOT,
        jobs=as_json([list(j) for j in JOBS]),
        envs=ENVS,
    log:
        R(res.log_file("aggregate", "all")),
    resources:
        mem_mb=1000,
        runtime=10,
    container:
        pscluster.image(config, "analysis")
    shell:
        "psmarl aggregate --root {params.root} --jobs {params.jobs:q} --envs {params.envs} 2> {log}"
