-- botmon schema, version 2, PostgreSQL: what the dashboard reads instead of scanning replies.
--
--   * batches.seq is the id of the transaction that stored the batch (pg_current_xact_id());
--     batches.first_ts/last_ts span every record of the batch. A summary refresh takes the
--     batches with seq at or above its watermark, and moves the watermark to the oldest
--     transaction still running (pg_snapshot_xmin), so a batch committed late is never
--     skipped. Batches stored before this version have NULLs: older than every summary.
--   * seen_ips / seen_ids: per botnet, every address and bot ID with its first and last
--     reply, and the country and AS of its latest located reply (see the DuckDB migration
--     of the same number for how the dashboard uses them). A NULL watermark in
--     summary_state asks for a full build.
ALTER TABLE batches ADD COLUMN seq bigint;
ALTER TABLE batches ADD COLUMN first_ts timestamptz;
ALTER TABLE batches ADD COLUMN last_ts timestamptz;
CREATE INDEX batches_seq ON batches (seq);
CREATE INDEX batches_span ON batches (botnet_id, last_ts);

CREATE TABLE seen_ips (
    botnet_id smallint NOT NULL,
    ip        inet NOT NULL,
    first_ts  timestamptz NOT NULL,
    last_ts   timestamptz NOT NULL,
    country   text,
    asn       bigint,
    PRIMARY KEY (botnet_id, ip)
);
CREATE INDEX seen_ips_last ON seen_ips (botnet_id, last_ts);

CREATE TABLE seen_ids (
    botnet_id smallint NOT NULL,
    bot_id    text NOT NULL,
    first_ts  timestamptz NOT NULL,
    last_ts   timestamptz NOT NULL,
    PRIMARY KEY (botnet_id, bot_id)
);
CREATE INDEX seen_ids_last ON seen_ids (botnet_id, last_ts);

CREATE TABLE summary_state (
    name      text PRIMARY KEY,
    watermark bigint
);
INSERT INTO summary_state VALUES ('seen', NULL);
