#!/usr/bin/env bash
# What `npm test` needs from the machine, made present: the programs the tests run (the fault tests start
# disposable PostgreSQL and MariaDB servers and a PgBouncer of their own; the observability tests a
# Prometheus, an Alertmanager and promtool), the databases' command-line clients (psql and mysql, used here; pg_dump,
# mysqldump and sqlite3) and the two main servers (PostgreSQL 127.0.0.1:5432, MariaDB 127.0.0.1:3306,
# each with a database `test`). Installs with apt only what is missing (root, or sudo), starts a server only
# when it does not answer, and says what it did. When everything is there it only checks, in well under
# two seconds, so it runs first on every `npm test`.
set -euo pipefail

started=$(date +%s%N)
did=()
elapsed() { echo $((($(date +%s%N) - started) / 1000000)); }
say() { echo "test:env: $*"; }

have() { # command, more places to look...
  command -v "$1" >/dev/null 2>&1 && return 0
  local place
  for place in "${@:2}"; do
    # shellcheck disable=SC2086 # the places are globs
    for found in $place; do [ -x "$found" ] && return 0; done
  done
  return 1
}

# The Debian package that brings each program the tests need.
missing=()
need() { # package, command, more places...
  have "${@:2}" && return 0
  case " ${missing[*]-} " in *" $1 "*) ;; *) missing+=("$1") ;; esac
}
need pgbouncer pgbouncer /usr/sbin/pgbouncer
need postgresql initdb "/usr/lib/postgresql/*/bin/initdb"
need postgresql pg_ctlcluster
need mariadb-server mariadb-install-db /usr/bin/mysql_install_db
need mariadb-server mariadbd /usr/sbin/mariadbd
need postgresql-client psql
need postgresql-client pg_dump
need postgresql-client pg_isready
need postgresql-client pg_basebackup "/usr/lib/postgresql/*/bin/pg_basebackup"
need mariadb-client mysqldump
need mariadb-client mysqladmin
need mariadb-client mysql
need sqlite3 sqlite3
# @dbpool/observability's tests run a real Prometheus and Alertmanager, and promtool (check and unit-test the
# rules file).
need prometheus prometheus /usr/bin/prometheus
need prometheus promtool /usr/bin/promtool
need prometheus-alertmanager prometheus-alertmanager /usr/bin/prometheus-alertmanager
# The SQLite drop-in test builds a one-function extension for SqliteClient.loadExtension.
need gcc cc
need_file() { # package, file
  [ -f "$2" ] && return 0
  case " ${missing[*]-} " in *" $1 "*) ;; *) missing+=("$1") ;; esac
}
need_file libsqlite3-dev /usr/include/sqlite3ext.h
# The dashboard's browser test drives Debian's chromium (playwright-core, no browser download).
need chromium chromium /usr/bin/chromium

as_root() { # installing packages and starting the servers need root: sudo when not root
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    say "needs root for: $* (run as root, or install sudo)" >&2
    return 1
  fi
}

if ((${#missing[@]})); then
  say "installing ${missing[*]} (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  did+=("installed ${missing[*]}")
fi

wait_for() { # name, seconds, command...
  local name=$1 seconds=$2
  shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  say "$name did not answer within ${seconds}s" >&2
  return 1
}

pg() { psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAqc "$1"; }
if ! pg "select 1" >/dev/null 2>&1; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    say "PostgreSQL does not answer on 127.0.0.1:5432 and there is no cluster in /etc/postgresql" >&2
    exit 1
  fi
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  if ! wait_for PostgreSQL 60 pg "select 1"; then
    say "the tests log in as postgres over TCP without a password: pg_hba.conf needs" \
      "'host all all 127.0.0.1/32 trust'" >&2
    exit 1
  fi
  did+=("started PostgreSQL")
fi
if [ "$(pg "select count(*) from pg_database where datname = 'test'")" != 1 ]; then
  pg "create database test" >/dev/null
  did+=("created PostgreSQL database test")
fi

my() { mysql -h 127.0.0.1 -P 3306 -uroot --connect-timeout=2 -NBe "$1"; }
if ! my "select 1" >/dev/null 2>&1; then
  say "starting MariaDB"
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  if ! wait_for MariaDB 60 my "select 1"; then
    say "the tests log in as root over TCP with an empty password: if MariaDB runs, run as root" \
      "mariadb -e \"ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('')\"" >&2
    exit 1
  fi
  did+=("started MariaDB")
fi
if [ -z "$(my "show databases like 'test'")" ]; then
  my "create database test"
  did+=("created MariaDB database test")
fi

if ((${#did[@]})); then
  say "$(IFS=,; echo "${did[*]}" | sed 's/,/; /g') ($(elapsed) ms)"
else
  say "everything the tests need is there ($(elapsed) ms)"
fi
