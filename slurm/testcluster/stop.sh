#!/usr/bin/env bash
# Stop the ravejobs test cluster: each daemon by the PID in its pid file, newest first.
# Stopping a cluster that is not running is a success.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || { echo "testcluster: stop.sh must run as root" >&2; exit 1; }

stop_pid slurmd "$SLURMD_PID"
stop_pid slurmctld "$SLURMCTLD_PID"
stop_pid slurmdbd "$SLURMDBD_PID"
stop_pid mariadbd "$MARIADB_PID"
stop_pid munged "$MUNGE_PID"
say "stopped"
