-- botmon schema, version 5, DuckDB: the configurations bots carry, and the alerts they raise.
--
--   * configs: every distinct configuration per botnet (named by the digest of its bytes:
--     for Mozi the SHA-256 of the 624-byte blob) with its version, tags (JSON text), the
--     signature status ('valid', 'invalid' or 'unchecked'; 'invalid' wins once reported),
--     whether it orders the bots to stop, and its first and last sighting. bots counts the
--     bots listed in config_bots (at most store/configs.MAX_CONFIG_BOTS per configuration);
--     unlisted counts sightings by bots beyond that cap (sightings, not distinct bots).
--   * config_bots: which bots carried a configuration (bot ID, or ip:port for a bot without
--     one), first and last sighting.
--   * config_alerts: new_config, new_version, stop_order, bad_signature, each raised once
--     (per configuration; per version for new_version), acknowledged by an admin.
--   Times are epoch microseconds (BIGINT) so both backends share the SQL of
--   store/configs.py. Rows are written in the ingest transaction of the batch that carried
--   the configuration; batches without one cost a scan of their data column, nothing more.
CREATE SEQUENCE configs_id_seq START 1;
CREATE TABLE configs (
    id         BIGINT PRIMARY KEY DEFAULT nextval('configs_id_seq'),
    botnet_id  SMALLINT NOT NULL,
    digest     VARCHAR NOT NULL,
    version    BIGINT NOT NULL,
    tags       VARCHAR NOT NULL,
    signatures VARCHAR NOT NULL,
    stop       BOOLEAN NOT NULL,
    first_us   BIGINT NOT NULL,
    last_us    BIGINT NOT NULL,
    bots       BIGINT NOT NULL DEFAULT 0,
    unlisted   BIGINT NOT NULL DEFAULT 0,
    UNIQUE (botnet_id, digest)
);

CREATE TABLE config_bots (
    config_id BIGINT NOT NULL,
    bot       VARCHAR NOT NULL,
    first_us  BIGINT NOT NULL,
    last_us   BIGINT NOT NULL
);

CREATE SEQUENCE config_alerts_id_seq START 1;
CREATE TABLE config_alerts (
    id         BIGINT PRIMARY KEY DEFAULT nextval('config_alerts_id_seq'),
    botnet_id  SMALLINT NOT NULL,
    at_us      BIGINT NOT NULL,
    kind       VARCHAR NOT NULL,
    severity   VARCHAR NOT NULL,
    digest     VARCHAR NOT NULL,
    version    BIGINT NOT NULL,
    acked_us   BIGINT,
    acked_by   VARCHAR
);
