#!/bin/bash
# Entrypoint of onprem/mysql:8.0 (MariaDB), following the official mysql image's contract:
#  - arguments starting with '-' are server options; `mysqld` means the server;
#  - an empty datadir is initialised, with the root password from MYSQL_ROOT_PASSWORD_FILE (or
#    MYSQL_ROOT_PASSWORD, or none with MYSQL_ALLOW_EMPTY_PASSWORD) for 'root'@'localhost' and
#    'root'@'%' (mysql_native_password); optional MYSQL_DATABASE, MYSQL_USER + MYSQL_PASSWORD[_FILE];
#  - MySQL 8 options MariaDB rejects (--default-authentication-plugin) are dropped;
#  - the server runs as the mysql user and is exec'd, so it receives the container's signals.
# Passwords go to the server over stdin of the client, never through argv or a file on disk.
set -euo pipefail

log() { printf '%s [Entrypoint]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# file_env VAR: the value of $VAR, or the contents of the file named by ${VAR}_FILE.
file_env() {
  local var=$1 file_var=${1}_FILE
  local val=${!var:-} file=${!file_var:-}
  if [ -n "$val" ] && [ -n "$file" ]; then die "both $var and $file_var are set (they are exclusive)"; fi
  if [ -n "$file" ]; then
    [ -r "$file" ] || die "$file_var names $file, which is not a readable file"
    val=$(<"$file")
  fi
  printf '%s' "$val"
}

# SQL string literal body: backslashes and quotes doubled.
sql_escape() { local s=${1//\\/\\\\}; printf '%s' "${s//\'/\'\'}"; }
sql_ident() { printf '%s' "${1//\`/\`\`}"; }

[ $# -gt 0 ] || set -- mariadbd
if [ "${1:0:1}" = '-' ]; then set -- mariadbd "$@"; fi
case "$1" in
  mysqld|mariadbd) ;;
  *) exec "$@" ;;
esac
shift
args=()
datadir=/var/lib/mysql
drop_next=0
for arg in "$@"; do
  if [ "$drop_next" = 1 ]; then drop_next=0; continue; fi
  case "$arg" in
    --default-authentication-plugin=*|--default_authentication_plugin=*) continue ;;
    --default-authentication-plugin|--default_authentication_plugin) drop_next=1; continue ;;
    --datadir=*) datadir=${arg#--datadir=} ;;
    --help|--verbose|--version|-V|-\?) exec mariadbd "$@" ;;
  esac
  args+=("$arg")
done
set -- "${args[@]}"

socket=/run/mysqld/mysqld.sock
as_mysql=()
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$datadir" /run/mysqld
  chown mysql:mysql /run/mysqld
  # A volume created elsewhere may belong to another uid; only what is not already ours is touched.
  find "$datadir" \! -user mysql -exec chown mysql:mysql '{}' +
  as_mysql=(--user=mysql)
fi

init_datadir() {
  local root_pw user_pw database user
  root_pw=$(file_env MYSQL_ROOT_PASSWORD)
  user_pw=$(file_env MYSQL_PASSWORD)
  database=${MYSQL_DATABASE:-}
  user=${MYSQL_USER:-}
  if [ -z "$root_pw" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]; then
    die "database is uninitialised and no root password is given: set MYSQL_ROOT_PASSWORD_FILE (or MYSQL_ROOT_PASSWORD, or MYSQL_ALLOW_EMPTY_PASSWORD=yes)"
  fi
  [ "$user" != root ] || die "MYSQL_USER=root: root is configured by MYSQL_ROOT_PASSWORD[_FILE]"

  log "initialising $datadir"
  local out
  out=$(mariadb-install-db "${as_mysql[@]}" --datadir="$datadir" --skip-test-db --skip-name-resolve \
        --auth-root-authentication-method=socket 2>&1) || { printf '%s\n' "$out" >&2; die "mariadb-install-db failed"; }

  # A temporary server on the socket only: nothing can connect over TCP before root has its password.
  mariadbd "${as_mysql[@]}" --datadir="$datadir" --skip-networking --socket="$socket" "$@" &
  local pid=$!
  for _ in $(seq 1 60); do
    if mariadb-admin --socket="$socket" ping --silent >/dev/null 2>&1; then break; fi
    kill -0 "$pid" 2>/dev/null || die "the temporary server exited during initialisation"
    sleep 0.5
  done
  mariadb-admin --socket="$socket" ping --silent >/dev/null 2>&1 || die "the temporary server did not start"

  local pw auth
  pw=$(sql_escape "$root_pw")
  if [ -n "$root_pw" ]; then auth="IDENTIFIED VIA mysql_native_password USING PASSWORD('$pw')"
  else auth="IDENTIFIED VIA mysql_native_password USING ''"; fi
  {
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    # As in the official image: root is the only account; no anonymous or OS-socket (mysql@localhost)
    # account, and no grants for the build-time host name (it differs in every container).
    echo "DROP USER IF EXISTS ''@'localhost', 'root'@'127.0.0.1', 'root'@'::1', 'mysql'@'localhost';"
    printf '%s\n' "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS \\'\\'@\\'', @@hostname, '\\', \\'root\\'@\\'', @@hostname, '\\'');"
    echo "DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '%');"
    echo "ALTER USER 'root'@'localhost' $auth;"
    echo "CREATE USER 'root'@'%' $auth;"
    echo "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "$database" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$(sql_ident "$database")\`;"; fi
    if [ -n "$user" ] && [ -n "$user_pw" ]; then
      echo "CREATE USER '$(sql_escape "$user")'@'%' IDENTIFIED BY '$(sql_escape "$user_pw")';"
      if [ -n "$database" ]; then
        echo "GRANT ALL PRIVILEGES ON \`$(sql_ident "$database")\`.* TO '$(sql_escape "$user")'@'%';"
      fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --protocol=socket --socket="$socket" -uroot --batch >/dev/null \
    || { kill "$pid"; wait "$pid" || true; die "setting the root password failed"; }

  kill "$pid"
  wait "$pid" || die "the temporary server did not shut down cleanly"
  log "initialised $datadir; root may log in from other containers"
}

if [ ! -d "$datadir/mysql" ]; then
  init_datadir "$@"
fi
unset MYSQL_ROOT_PASSWORD MYSQL_PASSWORD

# Listen on loopback and the container's own addresses, not on the wildcard: the same reach (the healthcheck,
# other containers, the published port) without a socket on any address the container gains later. An
# explicit --bind-address wins.
case " $* " in
  *" --bind-address"*|*" --bind_address"*) ;;
  *) set -- "$@" "--bind-address=$(printf '127.0.0.1'; for ip in $(hostname -I); do printf ',%s' "$ip"; done)" ;;
esac

if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=mysql --regid=mysql --init-groups mariadbd "$@"
fi
exec mariadbd "$@"
