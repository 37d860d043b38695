# Shared by bin/mqnamesrv, bin/mqbroker, bin/mqshutdown and bin/mqadmin (sourced, not run).
# Finds the binaries: $ROCKETMQ_RS_BIN if set, else this checkout's target/release, then
# target/debug, then $PATH. Pid files go to $ROCKETMQ_PID_DIR (default ~/logs/rocketmqlogs).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
find_bin() {
  local name=$1 d
  for d in "${ROCKETMQ_RS_BIN:-}" "$here/../target/release" "$here/../target/debug"; do
    if [ -n "$d" ] && [ -x "$d/$name" ]; then echo "$d/$name"; return 0; fi
  done
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  echo "$name not found: run 'cargo build --release --bins' or set ROCKETMQ_RS_BIN" >&2
  return 1
}
pid_dir=${ROCKETMQ_PID_DIR:-$HOME/logs/rocketmqlogs}
