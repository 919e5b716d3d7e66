# Shared by start.sh and stop.sh: where each daemon keeps its PID, and how to stop one by it.
# Debian's default PID paths, so daemons started by a package's init script are found too.
MUNGE_PID=/run/munge/munged.pid
MARIADB_PID=/run/mysqld/mysqld.pid
SLURMDBD_PID=/run/slurmdbd.pid
SLURMCTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
LOG_DIR=/var/log/slurm

say() { printf 'testcluster: %s\n' "$*"; }
die() { printf 'testcluster: cannot start: %s\n' "$*" >&2; exit 1; }

# pid_alive PIDFILE: the PID in the file names a live process (not a stale file).
pid_alive() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# stop_pid NAME PIDFILE: TERM, wait up to 15 s, then KILL; only the process in the PID file.
stop_pid() {
    local name=$1 file=$2 pid i
    if ! pid_alive "$file"; then
        rm -f "$file"
        return 0
    fi
    pid=$(tr -dc '0-9' <"$file")
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name did not stop in 15 s; killing pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}
