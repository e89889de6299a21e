-- botmon schema, version 6, PostgreSQL: monitors of others that users chose to leave out.
-- See the DuckDB migration of the same number for what the table holds. Times are epoch
-- microseconds (bigint) so both backends share the SQL of store/exclusions.py.
CREATE TABLE excluded_monitors (
    botnet_id   smallint NOT NULL,
    ip          inet NOT NULL,
    port        integer NOT NULL CHECK (port BETWEEN 0 AND 65535),
    kind        text CHECK (kind IN ('crawler', 'sensor')),
    score       double precision,
    evidence    text,
    excluded_us bigint NOT NULL,
    excluded_by text NOT NULL,
    note        text NOT NULL DEFAULT '',
    PRIMARY KEY (botnet_id, ip, port)
);
