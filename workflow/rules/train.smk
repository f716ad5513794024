# Training: one job per (env, method, sharing, seed) of every method, RLlib's and
# BenchMARL's (MADDPG, QMIX): `psmarl train` picks the backend from the method's catalogue
# entry (psmarl.methods). Resumable: an interrupted job started again continues from
# <run>/.work (not an output, so Snakemake keeps it) when its checkpoint has the job's
# settings; one of other settings is kept aside and the run trains afresh (psmarl.run_loop).
# A finished run keeps its state in <run>/.final: a raised training.budget reruns the job,
# which continues the run from there instead of training it again from zero.


rule train:
    output:
        progress=R(res.progress_csv("{env}", "{method}", "{sharing}", "{seed}")),
        checkpoint=directory(R(res.checkpoint_dir("{env}", "{method}", "{sharing}", "{seed}"))),
        summary=R(res.train_summary_json("{env}", "{method}", "{sharing}", "{seed}")),
    log:
        R(res.log_file("train", "{env}", "{method}", "{sharing}", "seed{seed}")),
    container:
        lambda w: pscluster.image_for_method(config, w.method)
    threads: train_threads
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        spec=lambda w: as_json(pscfg.train_spec(config, w.env, w.method, w.sharing, w.seed)),
        run_dir=lambda w: R(res.run_dir(w.env, w.method, w.sharing, w.seed)),
    shell:
        "psmarl train --spec {params.spec:q} --run-dir {params.run_dir} --cores {threads} "
        "2> {log}"
