-- botmon schema, version 1, DuckDB.
--
-- Conventions (read these before writing queries for the dashboard or analyses):
--   * Times are TIMESTAMP holding UTC (never local time). epoch(ts) gives epoch seconds.
--   * IP addresses are UHUGEINT: the 128-bit integers of botmon.ipaddr. IPv4 addresses sit in
--     the IPv4-mapped range, so IPv4 value a is stored as 281470681743360 + a (::ffff:0:0 | a);
--     `ip >> 32 = 65535` selects IPv4. Store.query() turns UHUGEINT result columns into text.
--   * botnet_id and source_id are small integer ids into botnets and sources. A source is the
--     name of the crawler or sensor (the monitor) that reported a record.
--   * The big tables (replies, failed_tries, edges) carry no ART index and no foreign key on
--     purpose: both would slow bulk ingest several times. Rows arrive roughly in time order,
--     so DuckDB's per-row-group min/max (zonemaps) on ts and botnet_id prune time-range scans.
CREATE TABLE schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TIMESTAMP NOT NULL
);

CREATE SEQUENCE botnets_id_seq START 1;
CREATE TABLE botnets (
    id          SMALLINT PRIMARY KEY DEFAULT nextval('botnets_id_seq'),
    name        VARCHAR NOT NULL UNIQUE,
    description VARCHAR NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL
);

-- Names that reported records, heartbeats or receive commands (usually monitor names).
CREATE SEQUENCE sources_id_seq START 1;
CREATE TABLE sources (
    id   INTEGER PRIMARY KEY DEFAULT nextval('sources_id_seq'),
    name VARCHAR NOT NULL UNIQUE
);

-- Token holders. Only a hash of the token is kept; token_prefix tells tokens apart.
-- botnets: names of the botnets a crawler may write (empty list = all).
CREATE SEQUENCE monitors_id_seq START 1;
CREATE TABLE monitors (
    id           INTEGER PRIMARY KEY DEFAULT nextval('monitors_id_seq'),
    name         VARCHAR NOT NULL UNIQUE,
    role         VARCHAR NOT NULL CHECK (role IN ('admin', 'crawler', 'viewer')),
    token_hash   VARCHAR NOT NULL UNIQUE,
    token_prefix VARCHAR NOT NULL,
    botnets      VARCHAR[] NOT NULL,
    revoked      BOOLEAN NOT NULL DEFAULT false,
    created_at   TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP
);

-- A crawl or sensor run; settings is the run's configuration as JSON.
CREATE SEQUENCE campaigns_id_seq START 1;
CREATE TABLE campaigns (
    id         INTEGER PRIMARY KEY DEFAULT nextval('campaigns_id_seq'),
    botnet_id  SMALLINT NOT NULL,
    source_id  INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at   TIMESTAMP,
    settings   JSON
);

-- Any interaction with a bot. country/asn come from enrichment at ingest (NULL = unknown).
CREATE TABLE replies (
    botnet_id SMALLINT NOT NULL,
    source_id INTEGER NOT NULL,
    ts        TIMESTAMP NOT NULL,
    ip        UHUGEINT NOT NULL,
    port      USMALLINT NOT NULL,
    bot_id    VARCHAR,
    data      JSON,
    country   VARCHAR,
    asn       UINTEGER
);

CREATE TABLE failed_tries (
    botnet_id SMALLINT NOT NULL,
    source_id INTEGER NOT NULL,
    ts        TIMESTAMP NOT NULL,
    ip        UHUGEINT NOT NULL,
    port      USMALLINT NOT NULL,
    bot_id    VARCHAR,
    reason    VARCHAR,
    data      JSON
);

-- Bot src listed bot dst as a peer.
CREATE TABLE edges (
    botnet_id SMALLINT NOT NULL,
    source_id INTEGER NOT NULL,
    ts        TIMESTAMP NOT NULL,
    src_ip    UHUGEINT NOT NULL,
    src_port  USMALLINT NOT NULL,
    src_id    VARCHAR,
    dst_ip    UHUGEINT NOT NULL,
    dst_port  USMALLINT NOT NULL,
    dst_id    VARCHAR
);

-- Autonomous systems named by enrichment (replies.asn refers here).
CREATE TABLE ases (
    asn  UINTEGER PRIMARY KEY,
    name VARCHAR NOT NULL
);

-- One row per stored batch: the idempotency key (source_id, batch_id) and what it held.
CREATE TABLE batches (
    source_id    INTEGER NOT NULL,
    batch_id     VARCHAR NOT NULL,
    botnet_id    SMALLINT NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    replies      INTEGER NOT NULL,
    failed_tries INTEGER NOT NULL,
    edges        INTEGER NOT NULL,
    PRIMARY KEY (source_id, batch_id)
);

-- The latest status each source reported.
CREATE TABLE heartbeats (
    source_id   INTEGER PRIMARY KEY,
    reported_at TIMESTAMP NOT NULL,
    status      JSON NOT NULL
);

-- Commands queued for a source; delivered_at is set when a heartbeat hands them out.
CREATE SEQUENCE commands_id_seq START 1;
CREATE TABLE commands (
    id           BIGINT PRIMARY KEY DEFAULT nextval('commands_id_seq'),
    source_id    INTEGER NOT NULL,
    command      VARCHAR NOT NULL,
    args         JSON NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
