#!/usr/bin/env bash
# Install a local SLURM (slurm-wlm) and MUNGE from Debian packages, so that
# tests/workflow/test_slurm_cluster.py can start a throw-away one-node cluster.
#
# Idempotent and quick when everything is already installed: it then exits 0
# without touching apt. `apt-get update` runs only when the package lists do
# not know the packages, or when an install from the current lists fails
# (stale lists -> 404). Exits non-zero with a clear message otherwise.
#
# Usage: .ci/install-slurm.sh        (as root, or with passwordless sudo)
set -euo pipefail

PACKAGES=(slurm-wlm munge)
# Binaries the test harness needs; slurm-wlm pulls in slurmctld, slurmd and
# slurm-client (sbatch, srun, squeue, sinfo, scontrol, scancel).
BINARIES=(munged slurmctld slurmd sbatch srun squeue sinfo scontrol scancel)

die() { echo "install-slurm: ERROR: $*" >&2; exit 1; }
log() { echo "install-slurm: $*" >&2; }

missing_binaries() {
    local b out=()
    for b in "${BINARIES[@]}"; do
        command -v "$b" >/dev/null 2>&1 || [[ -x /usr/sbin/$b ]] || out+=("$b")
    done
    echo "${out[*]:-}"
}

missing="$(missing_binaries)"
if [[ -z "$missing" ]]; then
    log "already installed: ${BINARIES[*]}"
    exit 0
fi
log "missing: $missing"

command -v apt-get >/dev/null 2>&1 \
    || die "apt-get not found; this script supports Debian/Ubuntu only. Install ${PACKAGES[*]} by other means."

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        die "need root (or passwordless sudo) to install ${PACKAGES[*]}"
    fi
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

have_candidates() {
    local p cand
    for p in "${PACKAGES[@]}"; do
        cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
        [[ -n "$cand" && "$cand" != "(none)" ]] || return 1
    done
}

apt_update() {
    log "apt-get update"
    "${SUDO[@]}" apt-get update -q || die "apt-get update failed (no network to the Debian mirror?)"
}

apt_install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install "${APT_OPTS[@]}" "${PACKAGES[@]}"
}

updated=0
if ! have_candidates; then
    apt_update
    updated=1
    have_candidates || die "packages ${PACKAGES[*]} not available from the configured apt sources"
fi

log "apt-get install ${PACKAGES[*]}"
if ! apt_install; then
    if [[ $updated -eq 0 ]]; then
        log "install failed with the current package lists; refreshing and retrying"
        apt_update
        apt_install || die "apt-get install ${PACKAGES[*]} failed"
    else
        die "apt-get install ${PACKAGES[*]} failed"
    fi
fi

# Debian's postinst may try to start the system munge/slurm services; in a
# container there is usually no init system, so nothing runs. The test harness
# starts its own daemons with private config, so nothing else is needed here.
missing="$(missing_binaries)"
[[ -z "$missing" ]] || die "installed ${PACKAGES[*]} but still missing: $missing"
log "ok: $(slurmctld -V 2>/dev/null || echo slurm), $(munged --version 2>&1 | head -n1)"
