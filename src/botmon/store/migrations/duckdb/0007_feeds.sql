-- botmon schema, version 7, DuckDB: network-owner (feed) tokens and the feed delivery log.
--
--   * monitors: role 'feed' is allowed, and a token carries the networks it covers
--     (feed_asns, feed_cidrs in normalised CIDR text, feed_countries as ISO alpha-2; all
--     empty for every other role). DuckDB cannot change a CHECK constraint in place, so the
--     table is rebuilt with the same ids (the sequence keeps counting).
--   * feed_deliveries: one row per feed answer (botmon.feeds.delivery): when (epoch
--     microseconds, so the SQL is shared with PostgreSQL), the token holder, format,
--     parameters as JSON text, rows and bytes sent, HTTP status.
CREATE TABLE monitors_v7 (
    id             INTEGER PRIMARY KEY DEFAULT nextval('monitors_id_seq'),
    name           VARCHAR NOT NULL UNIQUE,
    role           VARCHAR NOT NULL CHECK (role IN ('admin', 'crawler', 'viewer', 'feed')),
    token_hash     VARCHAR NOT NULL UNIQUE,
    token_prefix   VARCHAR NOT NULL,
    botnets        VARCHAR[] NOT NULL,
    revoked        BOOLEAN NOT NULL DEFAULT false,
    created_at     TIMESTAMP NOT NULL,
    revoked_at     TIMESTAMP,
    feed_asns      BIGINT[] NOT NULL DEFAULT [],
    feed_cidrs     VARCHAR[] NOT NULL DEFAULT [],
    feed_countries VARCHAR[] NOT NULL DEFAULT []
);
INSERT INTO monitors_v7
    (id, name, role, token_hash, token_prefix, botnets, revoked, created_at, revoked_at)
SELECT id, name, role, token_hash, token_prefix, botnets, revoked, created_at, revoked_at
FROM monitors;
DROP TABLE monitors;
ALTER TABLE monitors_v7 RENAME TO monitors;

CREATE SEQUENCE feed_deliveries_id_seq START 1;
CREATE TABLE feed_deliveries (
    id           BIGINT PRIMARY KEY DEFAULT nextval('feed_deliveries_id_seq'),
    delivered_us BIGINT NOT NULL,
    monitor      VARCHAR NOT NULL,
    role         VARCHAR NOT NULL,
    format       VARCHAR NOT NULL,
    parameters   VARCHAR NOT NULL,
    row_count    BIGINT NOT NULL,
    byte_count   BIGINT NOT NULL,
    status       INTEGER NOT NULL
);
