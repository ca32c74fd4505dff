#!/usr/bin/env bash
# A throw-away single-node Slurm 22.05 (Debian 12) with accounting, for tests/test_slurm.py.
#   tests/slurm/cluster.sh start   install if needed, configure, start munge, MariaDB, slurmdbd,
#                                  slurmctld, slurmd; wait until the node is idle
#   tests/slurm/cluster.sh stop    stop every daemon that `start` started, by its pid file
# Exit code 77: this machine cannot run one (not root, no apt, install failed); the test skips.
# Facts behind the settings: ../shared/notes/slurm-single-node.md.
set -euo pipefail
CLUSTER=wavezoom
PACKAGES="slurmctld slurmd slurm-client munge slurmdbd mariadb-server"

skip() { echo "cannot start a Slurm cluster here: $*" >&2; exit 77; }

wait_for() {  # wait_for <seconds> <command...>
    local n=$(($1 * 5)); shift
    for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}

install() {
    command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null && return
    [ "$(id -u)" = 0 ] || skip "installing Slurm needs root"
    command -v apt-get >/dev/null || skip "no apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends $PACKAGES >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $PACKAGES >/dev/null 2>&1; } \
        || skip "apt-get install $PACKAGES failed"
}

configure() {
    local host mem node
    host=$(hostname -s)
    mem=$(awk '/MemAvailable/ {print int($2 / 1024 * 0.7)}' /proc/meminfo)
    node=$(slurmd -C | head -1 | sed -E "s/RealMemory=[0-9]+/RealMemory=$mem/")
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    chown slurm:slurm /var/spool/slurmctld /var/log/slurm
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=$CLUSTER
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=pmi2
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
$node
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
CONF
    chown slurm:slurm /etc/slurm/slurmdbd.conf
    chmod 600 /etc/slurm/slurmdbd.conf
}

start() {
    install
    configure
    mkdir -p /run/munge && chown munge:munge /run/munge
    [ -S /run/munge/munge.socket.2 ] && pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
    wait_for 10 test -S /run/munge/munge.socket.2 || skip "munged did not start"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    if ! pgrep -x mariadbd >/dev/null; then
        (setsid /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/wavezoom-mariadbd.pid >/var/log/slurm/mariadb.log 2>&1 &)
        wait_for 30 mysqladmin ping || skip "MariaDB did not start (see /var/log/slurm/mariadb.log)"
    fi
    mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
    pgrep -x slurmdbd >/dev/null || /usr/sbin/slurmdbd
    wait_for 30 timeout 5 sacctmgr -n list cluster || skip "slurmdbd did not answer (see /var/log/slurm/slurmdbd.log)"
    timeout 10 sacctmgr -n list cluster format=cluster | grep -qw "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
    pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
    pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
    idle() { sinfo -h -o %T | grep -qx idle; }
    wait_for 60 idle || skip "the node did not become idle (see /var/log/slurm/)"
    echo "slurm: node $(hostname -s) idle, cluster $CLUSTER"
}

stop_pid() {  # stop_pid <pid file>
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
}

stop() {
    stop_pid /run/slurmd.pid
    stop_pid /run/slurmctld.pid
    stop_pid /run/slurmdbd.pid
    stop_pid /run/mysqld/wavezoom-mariadbd.pid
    stop_pid /run/munge/munged.pid
    echo "slurm: stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
