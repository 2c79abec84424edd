#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (the image's
# /docker-entrypoint-initdb.d): Synapse's database (C collation, as Synapse
# requires) and the gateways' audit database, each with its own role.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v synapse_password="$SYNAPSE_DB_PASSWORD" \
    -v sectorgate_password="$SECTORGATE_DB_PASSWORD" <<'SQL'
CREATE ROLE synapse LOGIN PASSWORD :'synapse_password';
CREATE DATABASE synapse OWNER synapse ENCODING 'UTF8'
    LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE ROLE sectorgate LOGIN PASSWORD :'sectorgate_password';
CREATE DATABASE sectorgate OWNER sectorgate ENCODING 'UTF8';
SQL
