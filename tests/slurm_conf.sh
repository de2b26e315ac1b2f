# shellcheck shell=bash
# The slurm.conf of the Slurm tests (tests/slurm_test.sh: one node on localhost;
# tests/cluster/slurm_test.sh: two hosts of the namespace cluster). Sourced, not run.
#
# write_slurm_conf D CLUSTER CTLD_HOST CTLD_PORT SLURMD_PORT SLURMD LINE...
#   D: the test's Slurm directory (munge/, state/, spool/, run/, log/ in it); CTLD_HOST as
#   SlurmctldHost takes it ("name(address)"); SLURMD: the slurmd's file name and spool
#   subdirectory ("slurmd" and "" for one, "slurmd-%n" and "/%n" for one per node: give
#   "slurmd-%n /%n"); each LINE (the NodeName and PartitionName lines) is added as it is.
# cred_expire=5: a requeued job waits for its credential to expire before it may start again
# (120 s by default). sched_interval=2: the scheduler looks at pending (requeued, eligible
# again) jobs every 2 s instead of 60.
write_slurm_conf() {
  local d=$1 name=$2 ctld=$3 ctld_port=$4 slurmd_port=$5 file spool
  read -r file spool <<<"$6"
  shift 6
  {
    cat <<EOF
ClusterName=$name
SlurmctldHost=$ctld
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.sock,cred_expire=5
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool$spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/$file.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/$file.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
InactiveLimit=0
KillWait=5
MinJobAge=300
EOF
    printf '%s\n' "$@"
  } >"$d/slurm.conf"
}
