#!/usr/bin/env bash
# Prove the stage images: build containers/{rl,marl,analysis}.def with podman (their %post
# unchanged, on a debootstrap'ed Debian bookworm standing in for the digest-pinned From:),
# run the tiny workflow's rl, marl and analysis jobs inside them through
# `snakemake --sdm apptainer` (tests/cluster/bin/apptainer: a podman stand-in), and compare
# with a local run of the same commit and seeds. Writes docs/data/prove_images.{json,md}.
#
#   sudo scripts/prove_images.sh                      # about 1 h on 2 cores, ~25 GB of disk
#   sudo scripts/prove_images.sh --workdir /scratch/p  # work folder (default /var/tmp/psmarl-prove)
#
# NOT part of ./test.sh or CI: it downloads and builds several GB (the rl and marl images
# carry the CUDA build of torch 2.13.0). tests/test_containers.py checks statically, in CI,
# that this script, its config overlay and the recipes agree. Needs root (apt-get, podman),
# Debian 12, and PyPI. Images are cached by content in podman's storage; remove them with
# `podman rmi` (CONTAINERS_CONF=/var/tmp/psmarl-cache/containers.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "prove_images.sh: needs root (podman, apt-get)" >&2; exit 2; }
scripts/setup.sh >/dev/null
CONTAINERS_CONF=$(bash tests/cluster/podman_base.sh | tail -1)
export CONTAINERS_CONF
exec .venv/bin/python scripts/prove_images.py "$@"
