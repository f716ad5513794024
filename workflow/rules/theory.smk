# MAILP theory (Section 3, issue 7): the bounds of Theorems 1-3 over a grid of the
# centralization coefficient K_*, the simulated MAILP (eqs. 1-3) beside them, and Figure 1.
# Depends only on config["theory"] (psmarl.mailp.theory_spec), never on training runs.
from psmarl import mailp

THEORY_CSV = R("theory/mailp_bounds.csv")
THEORY_PNG = R("figures/figure1_mailp.png")
THEORY_PDF = R("figures/figure1_mailp.pdf")
THEORY_OUTPUTS = [THEORY_CSV, THEORY_PNG, THEORY_PDF]

try:
    THEORY_SPEC = mailp.theory_spec(config)
except ConfigError as e:
    raise WorkflowError(f"invalid config: {e}") from None


rule theory:
    output:
        csv=report(THEORY_CSV, caption="../report/theory.rst", category="Theory"),
        png=report(THEORY_PNG, caption="../report/theory.rst", category="Theory"),
        pdf=report(THEORY_PDF, caption="../report/theory.rst", category="Theory"),
    params:
        spec=as_json(THEORY_SPEC),
    log:
        R("logs/theory/theory.log"),
    resources:
        mem_mb=1000,
        runtime=10,
    container:
        pscluster.image(config, "analysis")
    shell:
        "psmarl theory --spec {params.spec:q} --csv {output.csv} --png {output.png} "
        "--pdf {output.pdf} 2> {log}"
