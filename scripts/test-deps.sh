#!/usr/bin/env bash
# What the tests need from the system, installed and started: gdb (gcore),
# SoftHSM2, clang with libFuzzer, util-linux tools, qemu-user with arm64
# libraries, and running PostgreSQL
# and RabbitMQ (Redis and NATS when installed). Debian 12; as root.
# `.ci/run` runs it, and so does `npm test` when it runs as root and
# something is missing (test/setup/system-deps.ts); otherwise run:
#
#   sudo bash scripts/test-deps.sh
set -euo pipefail

die() {
  echo "test-deps: ERROR: $*" >&2
  exit 1
}

export DEBIAN_FRONTEND=noninteractive
missing=()
command -v gcore >/dev/null 2>&1 || missing+=(gdb)  # gcore, for the core dump tests
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)  # the pkcs11 L1 provider tests
command -v clang++ >/dev/null 2>&1 || missing+=(clang)
command -v clang-format-14 >/dev/null 2>&1 || missing+=(clang-format-14)  # npm run lint (native/)
# clang alone lacks the libFuzzer runtime (libclang_rt.fuzzer-x86_64.a).
if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  missing+=(libclang-rt-14-dev)
fi
# An arm64 user-mode emulator and arm64 libraries: the client package is run
# on an arm64 Node (test/client/other-platforms.test.ts).
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || missing+=(libstdc++6-arm64-cross)
# The servers the storage and broker tests talk to.
[ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql 2>/dev/null)" ] || missing+=(postgresql)
[ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)
for tool in python3 make g++ setpriv prlimit; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# Map tool names to their Debian packages.
pkgs=()
for m in "${missing[@]+"${missing[@]}"}"; do
  case "$m" in
    setpriv | prlimit) pkgs+=(util-linux) ;;
    *) pkgs+=("$m") ;;
  esac
done
if [ "${#pkgs[@]}" -gt 0 ]; then
  [ "$(id -u)" = "0" ] || die "missing packages (${pkgs[*]}) and not root; install them first"
  echo "installing: ${pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  # A PostgreSQL installed here: the tests connect as postgres over loopback
  # without a password (trust for 127.0.0.1 and ::1 only).
  for m in "${pkgs[@]}"; do
    if [ "$m" = postgresql ]; then
      for hba in /etc/postgresql/*/main/pg_hba.conf; do
        sed -i -E 's#^(host\s+all\s+all\s+(127\.0\.0\.1/32|::1/128)\s+)\S+#\1trust#' "$hba"
      done
    fi
  done
else
  echo "all present (gdb/gcore, softhsm2, clang, clang-format-14, libFuzzer runtime, qemu-aarch64 with arm64 libraries, python3, make, g++, setpriv, prlimit)"
fi

# ---------------------------------------------------------------------------
echo "--- services"
port_open() {
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}
wait_port() {  # name port seconds
  local i
  for ((i = 0; i < $3; i++)); do
    port_open "$2" && return 0
    sleep 1
  done
  return 1
}
# ensure NAME PORT REQUIRED BINARY START-COMMAND...
ensure() {
  local name="$1" port="$2" required="$3" bin="$4"
  shift 4
  if port_open "$port"; then
    echo "$name: already up on :$port"
    return 0
  fi
  if [ ! -x "$bin" ]; then
    if [ "$required" = yes ]; then
      echo "ci: WARNING: $name is not installed ($bin); later features need it" >&2
    else
      echo "$name: not installed, skipped"
    fi
    return 0
  fi
  echo "$name: starting"
  "$@" || die "$name failed to start: $*"
  if wait_port "$port" 60; then
    echo "$name: up on :$port"
  elif [ "$required" = yes ]; then
    die "$name did not open :$port within 60 s"
  else
    echo "ci: WARNING: $name did not open :$port within 60 s" >&2
  fi
}

if [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
  PG_VERSION="$(ls /etc/postgresql | sort -V | tail -n 1)"
  ensure PostgreSQL 5432 yes /usr/bin/pg_ctlcluster \
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start
else
  echo "ci: WARNING: PostgreSQL is not installed (/etc/postgresql is empty); later features need it" >&2
fi
ensure RabbitMQ 5672 yes /usr/sbin/rabbitmq-server rabbitmq-server -detached
mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
ensure Redis 6379 no /usr/bin/redis-server \
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log
mkdir -p /var/lib/nats-server 2>/dev/null || true
ensure NATS 4222 no /usr/sbin/nats-server \
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
  -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log

echo "--- ready"
