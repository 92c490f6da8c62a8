# Sourced by the bench-wrk scripts: CPU accounting of a running `offpay serve`.
#
# cpu_ticks PID: prints the CPU clock ticks (user + system) of the process, of its SQLite
# writer thread and of its WAL copy thread, separated by spaces. Take it before and after the
# timed part; the difference divided by `getconf CLK_TCK` is the CPU time spent in between.
cpu_ticks() {
  local pid=$1 proc writer=0 copier=0 comm
  proc=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  for task in /proc/"$pid"/task/*; do
    comm=$(cat "$task/comm")
    [ "$comm" = "offpay-sqlite-w" ] && writer=$(awk '{print $14 + $15}' "$task/stat")
    [ "$comm" = "offpay-wal-copy" ] && copier=$(awk '{print $14 + $15}' "$task/stat")
  done
  echo "$proc $writer $copier"
}
