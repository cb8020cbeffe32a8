#!/usr/bin/env bash
# Installs what scripts/netns-cluster.sh (and the tests that stand in for several machines with
# network namespaces) needs, idempotently: iproute2 (`ip`, `tc`), and procps (`ps`, which the tests'
# leftover-process checks read). A minimal Debian image lacks both (their priority is "important",
# not "required"); nsenter and flock come with util-linux, which every Debian system has.
# scripts/slurm-cluster.sh (a real Slurm cluster, one slurmd per namespace) adds slurm-wlm (22.05 on
# bookworm: slurmctld, slurmd, sbatch, srun, scontrol) and munge, Slurm's authentication daemon.
set -euo pipefail

source "$(dirname "$0")/lib/install-packages.sh"
install_packages setup-cluster "the network-namespace tests" iproute2 procps slurm-wlm munge || exit 0
command -v tc >/dev/null || { echo "setup-cluster: iproute2 installed but tc is not on PATH" >&2; exit 1; }
command -v ps >/dev/null || { echo "setup-cluster: procps installed but ps is not on PATH" >&2; exit 1; }
for t in slurmctld slurmd sbatch munged; do
  command -v $t >/dev/null || { echo "setup-cluster: slurm-wlm and munge installed but $t is not on PATH" >&2; exit 1; }
done
echo "setup-cluster: done ($(ip -V); $(sbatch --version))."
