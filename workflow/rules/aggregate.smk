# Aggregation: every run, evaluation and baseline into tidy tables; statistics over seeds
# and the comparison with the paper's numbers (psmarl.aggregate, psmarl.stats).
from psmarl import aggregate as agg


report: "../report/workflow.rst"


try:
    REPORT_SPEC = agg.report_spec(config)  # report.* (bootstrap) + per-env presets
except ConfigError as e:
    raise WorkflowError(f"invalid config: {e}") from None

STATS_TABLES = [R(t) for t in (agg.STATISTICS_TABLE, agg.DIFFERENCES_TABLE,
                               agg.IMPROVEMENT_TABLE, agg.PAPER_TABLE)]
CONFIG_RECORD = R("report/config.yaml")


rule aggregate:
    input:
        progress=[R(res.progress_csv(*j)) for j in JOBS],
        summaries=[R(res.train_summary_json(*j)) for j in JOBS],
        evals=[R(res.eval_summary_json(*j)) for j in JOBS],
        randoms=[R(res.random_summary_json(e)) for e in ENVS],
    output:
        summary=report(R(res.SUMMARY_TABLE), caption="../report/summary.rst",
                       category="Tables", labels={"table": "runs (summary.csv)"}),
        curves=report(R(res.CURVES_TABLE), caption="../report/learning_curves.rst",
                      category="Tables", labels={"table": "learning curves"}),
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


rule statistics:
    input:
        R(res.SUMMARY_TABLE),
    output:
        stats=report(STATS_TABLES[0], caption="../report/statistics.rst", category="Tables",
                     labels={"table": "IQM and CIs over seeds"}),
        diffs=report(STATS_TABLES[1], caption="../report/sharing_differences.rst",
                     category="Tables", labels={"table": "shared minus independent"}),
        improvement=report(STATS_TABLES[2], caption="../report/probability_of_improvement.rst",
                           category="Tables", labels={"table": "probability of improvement"}),
        paper=report(STATS_TABLES[3], caption="../report/paper_comparison.rst",
                     category="Tables", labels={"table": "comparison with the paper"}),
    params:
        root=ROOT,
        spec=as_json(REPORT_SPEC),
    log:
        R(res.log_file("statistics", "all")),
    resources:
        mem_mb=1000,
        runtime=10,
    container:
        pscluster.image(config, "analysis")
    shell:
        "psmarl statistics --root {params.root} --spec {params.spec:q} 2> {log}"


rule config_record:
    output:
        report(CONFIG_RECORD, caption="../report/config.rst", category="Configuration",
               labels={"file": "config"}),
    params:
        config=as_json(config),
    log:
        R(res.log_file("report", "config")),
    localrule: True
    container:
        pscluster.image(config, "analysis")
    shell:
        "psmarl dump-config --config {params.config:q} --out {output} 2> {log}"
