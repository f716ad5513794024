# MADDPG and QMIX baselines (Appendix C, Figure 5) with BenchMARL: one job per
# (env, method, sharing, seed) of config["baselines"]. Same outputs as `train` (so the
# `evaluate`, `aggregate` and figure rules take them as they are); the Snakefile's global
# method constraint keeps `train` off these method names. Resumable from <run>/.work.



def marl_spec(w):
    """Run spec of a MADDPG/QMIX baseline job (psmarl.marl.train_spec)."""
    from psmarl import marl

    return marl.train_spec(config, w.env, w.method, w.sharing, w.seed)


rule marl_train:
    output:
        progress=R(res.progress_csv("{env}", "{method}", "{sharing}", "{seed}")),
        checkpoint=directory(R(res.checkpoint_dir("{env}", "{method}", "{sharing}", "{seed}"))),
        summary=R(res.train_summary_json("{env}", "{method}", "{sharing}", "{seed}")),
    wildcard_constraints:
        method=MARL_METHODS,
    params:
        spec=lambda w: as_json(marl_spec(w)),
        run_dir=lambda w: R(res.run_dir(w.env, w.method, w.sharing, w.seed)),
    log:
        R(res.log_file("train", "{env}", "{method}", "{sharing}", "seed{seed}")),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    container:
        pscluster.image(config, "marl")
    shell:
        "OMP_NUM_THREADS={threads} psmarl marl-train --spec {params.spec:q} "
        "--run-dir {params.run_dir} 2> {log}"
