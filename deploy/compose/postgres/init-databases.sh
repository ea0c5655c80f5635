#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# One database and one login role per service; each role owns its database and nothing else.
# Passwords come from the environment (deploy/compose/.env), never from this file.
set -euo pipefail

create() {
  local name="$1" password="$2"
  if [ -z "$password" ]; then
    echo "init-databases: no password for $name" >&2
    exit 1
  fi
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v name="$name" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
  echo "init-databases: created database and role $name"
}

create records      "${RECORDS_DB_PASSWORD:-}"
create immunization "${IMMUNIZATION_DB_PASSWORD:-}"
create growth       "${GROWTH_DB_PASSWORD:-}"
create reporting    "${REPORTING_DB_PASSWORD:-}"
