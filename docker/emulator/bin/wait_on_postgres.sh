#!/bin/sh
# Meta's entry point name: wait for the PostgreSQL server of db.env, then run the given command.
exec /opt/whatsapp/bin/wait_on_db.sh 5432 PostgreSQL "$@"
