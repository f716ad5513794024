#!/usr/bin/env bash
# Set up and run the study on config/config.yaml (laptop default, about an hour on 2 cores).
# Extra arguments go to snakemake, e.g. ./run.sh --configfile config/paper.yaml -n
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" SDL_VIDEODRIVER=dummy
# a lock left by a killed run is removed when no process still works here, and every
# --configfile is checked for YAML errors (file and line named): psmarl preflight
psmarl preflight -- "$@"
exec snakemake --cores all "$@"
