-- Orleans ADO.NET query catalogue.
--
-- The Orleans ADO.NET providers (clustering, grain persistence, reminders) ship no schema: at
-- start-up each one runs `SELECT QueryKey, QueryText FROM OrleansQuery` and from then on issues
-- only the SQL texts it finds there, binding its own @parameters and reading result columns by
-- name. This table is therefore the one name the Orleans code hard-wires; migrations 0002-0004
-- fill it with this project's implementation of that query contract for PostgreSQL.
-- Idempotent: safe to run any number of times.

CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  varchar(64) NOT NULL,
    QueryText text        NOT NULL,

    CONSTRAINT OrleansQuery_Key PRIMARY KEY (QueryKey)
);
