# Evaluation: N deterministic plays of each trained checkpoint, recorded seeds. Evaluations go
# before any training that is ready to start (priority): a trained run is measured, and can be
# kept (psmarl keep-runs), minutes after it finishes, not after every other run has trained.


rule evaluate:
    input:
        checkpoint=R(res.checkpoint_dir("{env}", "{method}", "{sharing}", "{seed}")),
    output:
        episodes=R(res.eval_episodes_csv("{env}", "{method}", "{sharing}", "{seed}")),
        summary=R(res.eval_summary_json("{env}", "{method}", "{sharing}", "{seed}")),
    log:
        R(res.log_file("evaluate", "{env}", "{method}", "{sharing}", "seed{seed}")),
    priority: EVALUATION_PRIORITY
    container:
        lambda w: pscluster.image_for_method(config, w.method)
    threads: pscfg.eval_workers(config)
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        spec=lambda w: as_json(pscfg.eval_spec(config, w.env)),
        out_dir=lambda w: R(res.eval_dir(w.env, w.method, w.sharing, w.seed)),
    shell:
        "OMP_NUM_THREADS=1 psmarl evaluate --spec {params.spec:q} "
        "--checkpoint {input.checkpoint} --out-dir {params.out_dir} --workers {threads} 2> {log}"


# The same plays with actions sampled from the policy, as training acts (config
# evaluation.sampled_actions; the policy-gradient methods: psmarl.config.sampled_eval_jobs).
rule evaluate_sampled:
    input:
        checkpoint=R(res.checkpoint_dir("{env}", "{method}", "{sharing}", "{seed}")),
    output:
        episodes=R(res.sampled_eval_episodes_csv("{env}", "{method}", "{sharing}", "{seed}")),
        summary=R(res.sampled_eval_summary_json("{env}", "{method}", "{sharing}", "{seed}")),
    log:
        R(res.log_file("evaluate_sampled", "{env}", "{method}", "{sharing}", "seed{seed}")),
    priority: EVALUATION_PRIORITY
    container:
        lambda w: pscluster.image_for_method(config, w.method)
    threads: pscfg.eval_workers(config)
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        spec=lambda w: as_json(pscfg.eval_spec(config, w.env)),
        out_dir=lambda w: R(res.sampled_eval_dir(w.env, w.method, w.sharing, w.seed)),
    shell:
        "OMP_NUM_THREADS=1 psmarl evaluate-sampled --spec {params.spec:q} "
        "--checkpoint {input.checkpoint} --out-dir {params.out_dir} --workers {threads} 2> {log}"
