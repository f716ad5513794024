# Helpers shared by the rule files (functions only; rules live in their own files).


def R(path):
    """A path under the results folder."""
    return f"{ROOT}/{path}"


def as_json(obj):
    """Params as one canonical JSON string (stable for Snakemake's params check)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _train_threads(w):
    rt = (config.get("training") or {}).get("runtime") or {}
    return int(rt.get("num_cpus", 1))


def _env_jobs(env):
    """The training jobs of one env, as lists (for JSON params)."""
    return [list(j) for j in JOBS if j[0] == env]
