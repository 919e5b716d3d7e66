#!/usr/bin/env bash
# Before the tests: the single-node SLURM test cluster up when this runs as root, otherwise one
# clear note that the SLURM tests will be skipped and why. Never fails the caller.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if command -v sinfo >/dev/null && [ "$(sinfo -h -n localnode -o %t 2>/dev/null)" != "" ] &&
    sacct -n -X -j 1 >/dev/null 2>&1; then
    echo "testcluster: SLURM test cluster is up (node localnode)"
elif [ "$(id -u)" = 0 ]; then
    echo "testcluster: starting the SLURM test cluster (slurm/testcluster/start.sh)"
    bash slurm/testcluster/start.sh ||
        echo "NOTE: the SLURM test cluster did not start (above); the SLURM tests will be skipped"
else
    echo "NOTE: the SLURM tests will be skipped: the test cluster is not running and starting it"
    echo "      needs root (it writes /etc/slurm and starts daemons). To run them:"
    echo "      sudo bash slurm/testcluster/start.sh && make test"
fi
