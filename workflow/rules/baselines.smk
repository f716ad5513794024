# The baselines: the evaluator with a uniform random policy, and with every agent idle (the
# idle baseline: what a policy that keeps still scores; not in the default targets, asked
# for by the learning check), per env.


rule random_baseline:
    output:
        episodes=R(res.random_episodes_csv("{env}")),
        summary=R(res.random_summary_json("{env}")),
    log:
        R(res.log_file("random", "{env}")),
    priority: EVALUATION_PRIORITY
    container:
        pscluster.image(config, "rl")
    threads: pscfg.eval_workers(config)
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        spec=lambda w: as_json(pscfg.random_spec(config, w.env)),
        out_dir=lambda w: R(res.random_dir(w.env)),
    shell:
        "psmarl random-baseline --spec {params.spec:q} --out-dir {params.out_dir} "
        "--workers {threads} 2> {log}"


rule idle_baseline:
    output:
        episodes=R(res.baseline_episodes_csv("idle", "{env}")),
        summary=R(res.baseline_summary_json("idle", "{env}")),
    log:
        R(res.log_file("idle", "{env}")),
    priority: EVALUATION_PRIORITY
    container:
        pscluster.image(config, "rl")
    threads: pscfg.eval_workers(config)
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        spec=lambda w: as_json(pscfg.eval_spec(config, w.env)),
        out_dir=lambda w: R(res.baseline_dir("idle", w.env)),
    shell:
        "psmarl idle-baseline --spec {params.spec:q} --out-dir {params.out_dir} "
        "--workers {threads} 2> {log}"
