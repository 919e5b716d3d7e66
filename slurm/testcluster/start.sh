#!/usr/bin/env bash
# Bring up the ravejobs single-node SLURM (slurm-wlm 22.05, munge, slurmdbd on MariaDB) on this
# machine, as root and without systemd. Idempotent: daemons already running are left alone, and
# a cluster that is already up makes this a quick success. Exits non-zero with the reason when
# it cannot start. See README.md here for what each setting is for.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

NODE=localnode
TIMEOUT_S=${TESTCLUSTER_TIMEOUT_S:-60}
PACKAGES=(slurm-wlm munge slurmdbd mariadb-server)
DBPASS_FILE=/var/lib/slurm/ravejobs-dbpass

[ "$(id -u)" = 0 ] || die "must run as root (it writes /etc/slurm and starts daemons); you are $(id -un)"

# ---------------------------------------------------------------- packages
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "packages missing (${missing[*]}) and no apt-get to install them"
    say "installing ${missing[*]}"
    # Keep package scripts from starting the daemons: we start them ourselves, by PID file.
    policy_made=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        policy_made=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    ok=1
    (apt-get update -q && apt-get install -y -q --no-install-recommends "${PACKAGES[@]}") \
        >/var/tmp/ravejobs-testcluster-apt.log 2>&1 || ok=0
    [ "$policy_made" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$ok" = 1 ] || die "apt-get install ${PACKAGES[*]} failed; see /var/tmp/ravejobs-testcluster-apt.log"
fi

# ---------------------------------------------------------------- node name
# Multi-process jobs (one rank per task) rendezvous at the first node of the job by name, as on
# a real cluster: the node's name must resolve to this machine.
getent hosts "$NODE" >/dev/null || echo "127.0.0.1 $NODE" >>/etc/hosts

# ---------------------------------------------------------------- ready checks
node_line() { scontrol -o show node "$NODE" 2>/dev/null || true; }
node_state() { node_line | sed -n 's/.*\bState=\([^ ]*\).*/\1/p'; }
slurm_up() {
    scontrol ping 2>/dev/null | grep -q 'is UP' || return 1
    case "$(node_state)" in IDLE*|MIXED*|ALLOCATED*) ;; *) return 1 ;; esac
    case "$(node_state)" in *DRAIN*|*DOWN*|*NOT_RESPONDING*) return 1 ;; esac
    sacct -n -X -j 1 >/dev/null 2>&1
}

# wait_for WHAT CMD...: poll until CMD succeeds or the time runs out.
wait_for() {
    local what=$1 deadline=$((SECONDS + TIMEOUT_S))
    shift
    until "$@"; do
        [ $SECONDS -lt $deadline ] || die "$what not ready after ${TIMEOUT_S}s; see $LOG_DIR/"
        sleep 0.5
    done
}

all_running() {
    pid_alive "$MUNGE_PID" && pid_alive "$MARIADB_PID" && pid_alive "$SLURMDBD_PID" \
        && pid_alive "$SLURMCTLD_PID" && pid_alive "$SLURMD_PID"
}

# ---------------------------------------------------------------- configs
mkdir -p /etc/slurm "$LOG_DIR" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/lib/slurm/fakegpu
if [ ! -s "$DBPASS_FILE" ]; then
    (umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DBPASS_FILE")
fi
DBPASS=$(cat "$DBPASS_FILE")

changed=0
install_conf() {  # install_conf SRC DEST MODE [password]: copy when the content differs
    local tmp
    tmp=$(mktemp)
    sed "s/@DBPASS@/$DBPASS/" "$1" >"$tmp"
    if ! cmp -s "$tmp" "$2"; then
        install -m "$3" "$tmp" "$2"
        changed=1
    fi
    rm -f "$tmp"
}
install_conf "$HERE/slurm.conf" /etc/slurm/slurm.conf 644
install_conf "$HERE/gres.conf" /etc/slurm/gres.conf 644
install_conf "$HERE/slurmdbd.conf" /etc/slurm/slurmdbd.conf 600

if [ "$changed" = 0 ] && all_running && slurm_up; then
    say "already up: node $NODE $(node_state), sacct answers"
    exit 0
fi
if [ "$changed" = 1 ] && { pid_alive "$SLURMCTLD_PID" || pid_alive "$SLURMD_PID"; }; then
    say "configuration changed: restarting slurmctld and slurmd"
    stop_pid slurmd "$SLURMD_PID"
    stop_pid slurmctld "$SLURMCTLD_PID"
fi

# Fake GPUs: character devices, since gres rejects plain files.
for i in 0 1 2 3; do
    dev=/var/lib/slurm/fakegpu/gpu$i
    [ -c "$dev" ] || { rm -f "$dev"; mknod -m 666 "$dev" c 195 "$i"; } \
        || die "cannot create the fake GPU device $dev (mknod needs CAP_MKNOD)"
done

# ---------------------------------------------------------------- daemons, in order
if ! pid_alive "$MUNGE_PID"; then
    say "starting munged"
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        (command -v mungekey >/dev/null && mungekey -c -f -k /etc/munge/munge.key) \
            || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 status=none
        chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    fi
    runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGE_PID" >>"$LOG_DIR/munged.out" 2>&1 \
        || die "munged failed to start; see /var/log/munge/munged.log"
fi
wait_for munge sh -c 'munge -n | unmunge >/dev/null 2>&1'

if ! pid_alive "$MARIADB_PID"; then
    say "starting mariadbd"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOG_DIR/mariadbd.out" 2>&1 \
            || die "mariadb-install-db failed; see $LOG_DIR/mariadbd.out"
    fi
    setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --pid-file="$MARIADB_PID" \
        </dev/null >>"$LOG_DIR/mariadbd.out" 2>&1 &
fi
wait_for mariadb sh -c "mariadb-admin --silent ping >/dev/null 2>&1"
mariadb -uroot <<SQL || die "cannot create the accounting database in MariaDB"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL

if ! pid_alive "$SLURMDBD_PID"; then
    say "starting slurmdbd"
    /usr/sbin/slurmdbd || die "slurmdbd failed to start; see $LOG_DIR/slurmdbd.log"
fi
wait_for slurmdbd sh -c 'sacctmgr -n list cluster >/dev/null 2>&1'

if ! pid_alive "$SLURMCTLD_PID"; then
    say "starting slurmctld"
    /usr/sbin/slurmctld || die "slurmctld failed to start; see $LOG_DIR/slurmctld.log"
fi
wait_for slurmctld sh -c 'scontrol ping 2>/dev/null | grep -q "is UP"'

slurmd_started=$(date +%s)
if ! pid_alive "$SLURMD_PID"; then
    say "starting slurmd"
    slurmd_started=$(date +%s)
    /usr/sbin/slurmd -N "$NODE" || die "slurmd failed to start; see $LOG_DIR/slurmd.log"
else
    slurmd_started=0
fi

# The node must be idle AND registered by the slurmd just started (not a stale record).
registered() {
    local t
    t=$(node_line | sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p')
    [ -n "$t" ] && [ "$t" != None ] && [ "$(date -d "$t" +%s 2>/dev/null || echo 0)" -ge $((slurmd_started - 2)) ]
}
wait_for "slurmd registration" registered
case "$(node_state)" in
    *DRAIN*|*DOWN*) say "node $NODE was $(node_state); resuming"
        scontrol update nodename="$NODE" state=resume || true ;;
esac
wait_for "node $NODE idle and sacct" slurm_up
say "up: node $NODE $(node_state), $(scontrol show config | sed -n 's/^MaxArraySize *= */MaxArraySize=/p')"
