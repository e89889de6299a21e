-- botmon schema, version 6, DuckDB: monitors of others that users chose to leave out.
--
--   * excluded_monitors: per botnet, an ip:port a user judged to be someone else's crawler
--     or sensor (kind 'crawler', 'sensor' or NULL: not said), the detection's score and
--     evidence (JSON text) when it came from `botmon analyze detect`, who excluded it, when
--     (epoch microseconds, as store/exclusions.py shares its SQL between backends) and a
--     note. A read asked to exclude monitors (store/reads.RecordFilter) leaves out the
--     replies and failed tries from these addresses and the edges naming them at either
--     end; every other read, and every summary table, keeps them.
CREATE TABLE excluded_monitors (
    botnet_id   SMALLINT NOT NULL,
    ip          UHUGEINT NOT NULL,
    port        INTEGER NOT NULL,
    kind        VARCHAR CHECK (kind IN ('crawler', 'sensor')),
    score       DOUBLE,
    evidence    VARCHAR,
    excluded_us BIGINT NOT NULL,
    excluded_by VARCHAR NOT NULL,
    note        VARCHAR NOT NULL DEFAULT '',
    PRIMARY KEY (botnet_id, ip, port)
);
