# Tables: every run, evaluation and random baseline into tidy tables (psmarl aggregate);
# statistics over seeds and the comparison with the paper's numbers (psmarl statistics).
# Both read the results folder's layout (psmarl.results) under the root of their files.


rule aggregate:
    input:
        progress=[R(res.progress_csv(*j)) for j in JOBS],
        summaries=[R(res.train_summary_json(*j)) for j in JOBS],
        evals=[R(res.eval_summary_json(*j)) for j in JOBS],
        randoms=[R(res.random_summary_json(e)) for e in ENVS],
    output:
        summary=report(
            R(res.SUMMARY_TABLE),
            caption="../report/summary.rst",
            category="Tables",
            labels={"table": "runs (summary.csv)"},
        ),
        curves=report(
            R(res.CURVES_TABLE),
            caption="../report/learning_curves.rst",
            category="Tables",
            labels={"table": "learning curves"},
        ),
    log:
        R(res.log_file("aggregate", "all")),
    container:
        pscluster.image(config, "analysis")
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        root=lambda w, output: root_of(output.summary, res.SUMMARY_TABLE),
        jobs=as_json([list(j) for j in JOBS]),
        envs=ENVS,
    shell:
        "psmarl aggregate --root {params.root} --jobs {params.jobs:q} --envs {params.envs} 2> {log}"


rule marl_eval_export:
    input:
        summaries=[R(res.train_summary_json(*j)) for j in JOBS],
        evals=[R(res.eval_episodes_csv(*j)) for j in JOBS],
    output:
        R(res.MARL_EVAL_JSON),
    log:
        R(res.log_file("aggregate", "marl_eval")),
    container:
        pscluster.image(config, "analysis")
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        root=lambda w, output: root_of(output[0], res.MARL_EVAL_JSON),
        jobs=as_json([list(j) for j in JOBS]),
    shell:
        "psmarl marl-eval-export --root {params.root} --jobs {params.jobs:q} --out {output} 2> {log}"


rule statistics:
    input:
        summary=R(res.SUMMARY_TABLE),
    output:
        stats=report(
            R(res.STATISTICS_TABLE),
            caption="../report/statistics.rst",
            category="Tables",
            labels={"table": "IQM and CIs over seeds"},
        ),
        diffs=report(
            R(res.DIFFERENCES_TABLE),
            caption="../report/sharing_differences.rst",
            category="Tables",
            labels={"table": "shared minus independent"},
        ),
        improvement=report(
            R(res.IMPROVEMENT_TABLE),
            caption="../report/probability_of_improvement.rst",
            category="Tables",
            labels={"table": "probability of improvement"},
        ),
        paper=report(
            R(res.PAPER_TABLE),
            caption="../report/paper_comparison.rst",
            category="Tables",
            labels={"table": "comparison with the paper"},
        ),
    log:
        R(res.log_file("statistics", "all")),
    container:
        pscluster.image(config, "analysis")
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        root=lambda w, input: root_of(input.summary, res.SUMMARY_TABLE),
        spec=as_json(REPORT_SPEC),
    shell:
        "psmarl statistics --root {params.root} --spec {params.spec:q} 2> {log}"
