#!/bin/sh
# Meta's entry point name: wait for the MySQL server of db.env, then run the given command.
exec /opt/whatsapp/bin/wait_on_db.sh 3306 MySQL "$@"
