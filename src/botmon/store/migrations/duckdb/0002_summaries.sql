-- botmon schema, version 2, DuckDB: what the dashboard reads instead of scanning replies.
--
--   * batches.seq numbers stored batches in commit order (writes are serialised), and
--     batches.first_ts/last_ts span every record of the batch. Together they say which time
--     spans changed since a summary or a cached answer was made. Batches stored before this
--     version have NULLs: they are older than every summary.
--   * seen_ips / seen_ids: per botnet, every address and bot ID with its first and last
--     reply, and the country and AS of its latest located reply. Distinct counts over any
--     window that reaches the newest data ("the last 7 days") are counts of last_ts >= start
--     here, and "new bots" are counts of first_ts, instead of DISTINCT over every reply.
--     They are merged from replies by Store.refresh_summaries(), idempotently (min/max), for
--     the spans of the batches numbered at or after summary_state.watermark; a NULL
--     watermark asks for a full build (after this migration, or rows loaded behind botmon).
--     One row per (botnet_id, ip) and (botnet_id, bot_id), kept by the refresh (which runs
--     under the write lock) rather than by a primary key: the ART index would make every
--     merge about three times slower.
CREATE SEQUENCE batches_seq START 1;
ALTER TABLE batches ADD COLUMN seq BIGINT;
ALTER TABLE batches ADD COLUMN first_ts TIMESTAMP;
ALTER TABLE batches ADD COLUMN last_ts TIMESTAMP;

CREATE TABLE seen_ips (
    botnet_id SMALLINT NOT NULL,
    ip        UHUGEINT NOT NULL,
    first_ts  TIMESTAMP NOT NULL,
    last_ts   TIMESTAMP NOT NULL,
    country   VARCHAR,
    asn       UINTEGER
);

CREATE TABLE seen_ids (
    botnet_id SMALLINT NOT NULL,
    bot_id    VARCHAR NOT NULL,
    first_ts  TIMESTAMP NOT NULL,
    last_ts   TIMESTAMP NOT NULL
);

CREATE TABLE summary_state (
    name      VARCHAR PRIMARY KEY,
    watermark BIGINT
);
INSERT INTO summary_state VALUES ('seen', NULL);
