# The config the report was made from, exactly as the workflow received it.


rule config_record:
    output:
        report(
            R(res.CONFIG_RECORD),
            caption="../report/config.rst",
            category="Configuration",
            labels={"file": "config"},
        ),
    log:
        R(res.log_file("report", "config")),
    localrule: True
    container:
        pscluster.image(config, "analysis")
    params:
        config=as_json(config),
    shell:
        "psmarl config-record --config {params.config:q} --out {output} 2> {log}"
