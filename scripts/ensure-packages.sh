#!/usr/bin/env bash
# Makes sure the system packages Strata runs on are installed: PostgreSQL's server
# programs, redis-server and pgbackrest (physical backups and WAL archiving), and the optional ones named as arguments (`influxdb` for the
# factory benchmark's peer). Installs them with apt-get when run as root on Debian/Ubuntu,
# otherwise prints the exact command and fails.
set -euo pipefail

missing=()

have_postgres_server() {
    command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && return 0
    if command -v pg_config >/dev/null 2>&1; then
        local bindir
        bindir=$(pg_config --bindir 2>/dev/null || true)
        [ -x "$bindir/initdb" ] && [ -x "$bindir/postgres" ] && return 0
    fi
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
    return 1
}

have_postgres_server || missing+=(postgresql)
command -v pgbench >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/pgbench" >/dev/null || missing+=(postgresql-contrib)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest)
for package in "$@"; do
    case "$package" in
        influxdb) command -v influxd >/dev/null 2>&1 || missing+=(influxdb) ;;
        *) command -v "$package" >/dev/null 2>&1 || missing+=("$package") ;;
    esac
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

# postgresql-contrib is only needed for pgbench, which Debian ships in postgresql itself.
if [[ " ${missing[*]} " == *" postgresql "* ]]; then
    missing=("${missing[@]/postgresql-contrib}")
fi

command_line="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing missing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends ${missing[*]}
    # Strata runs its own servers; stop the ones the packages may have started.
    if command -v service >/dev/null 2>&1; then
        service redis-server stop >/dev/null 2>&1 || true
        service influxdb stop >/dev/null 2>&1 || true
    fi
else
    echo "Strata needs these system packages: ${missing[*]}" >&2
    echo "Install them with:  sudo sh -c '$command_line'" >&2
    exit 1
fi
