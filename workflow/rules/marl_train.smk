# MADDPG and QMIX baselines (Appendix C, Figure 5) with BenchMARL: one job per
# (env, method, sharing, seed) of config["baselines"]. Same outputs as `train` (so the
# `evaluate`, `aggregate` and figure rules take them as they are); the method wildcard
# constraints (common.smk) keep `train` off these method names. Resumable from <run>/.work.


rule marl_train:
    output:
        progress=R(res.progress_csv("{env}", "{method}", "{sharing}", "{seed}")),
        checkpoint=directory(R(res.checkpoint_dir("{env}", "{method}", "{sharing}", "{seed}"))),
        summary=R(res.train_summary_json("{env}", "{method}", "{sharing}", "{seed}")),
    log:
        R(res.log_file("train", "{env}", "{method}", "{sharing}", "seed{seed}")),
    wildcard_constraints:
        method=MARL_METHODS,
    container:
        pscluster.image(config, "marl")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        spec=lambda w: as_json(marl_train_spec(w)),
        run_dir=lambda w: R(res.run_dir(w.env, w.method, w.sharing, w.seed)),
    shell:
        "OMP_NUM_THREADS={threads} psmarl marl-train --spec {params.spec:q} "
        "--run-dir {params.run_dir} 2> {log}"
