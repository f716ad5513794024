# MAILP theory (Section 3, issue 7): the bounds of Theorems 1-3 over a grid of the
# centralization coefficient K_*, the simulated MAILP (eqs. 1-3) beside them, and Figure 1.
# Depends only on config["theory"] (psmarl.theory.theory_spec), never on training runs.


rule theory:
    output:
        csv=report(theory_files()["csv"], caption="../report/theory.rst", category="Theory"),
        png=report(theory_files()["png"], caption="../report/theory.rst", category="Theory"),
        pdf=report(theory_files()["pdf"], caption="../report/theory.rst", category="Theory"),
    log:
        R(res.log_file("theory", "theory")),
    container:
        pscluster.image(config, "analysis")
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spec=as_json(THEORY_SPEC),
    shell:
        "psmarl theory --spec {params.spec:q} --csv {output.csv} --png {output.png} "
        "--pdf {output.pdf} 2> {log}"
