-- botmon schema, version 3, DuckDB: summaries that answer windows ending in the past.
--
-- The seen tables answer windows that reach the newest data. A window that ends in the past
-- (last month, an older week) needs distinct sets over that window; these tables hold them
-- per UTC day and hour, kept by the same refresh as the seen tables (Store.refresh_summaries,
-- same watermark), so a window is a union of a few day sets plus at most two partial hours
-- read from the replies. Days and hours are whole UTC epoch days/hours (epoch // 86400 and
-- // 3600); a week is seven days from a Monday.
--
--   * day_ips / day_ids: per botnet and day, every address and bot ID seen that day, with
--     `hours` a 24-bit mask of the hours of that day it was seen in (bit h: hour h UTC), so
--     a partial day at a window's edge is the rows whose mask meets the window's hours.
--     day_ips also keeps the country and AS of the day's latest located reply (country_ts,
--     asn_ts: when), and `mixed`: the day's replies of that address do not all carry the
--     same country and AS. A partial day takes an unmixed row's country and AS as they are;
--     only mixed rows are looked up in the replies.
--   * week_ips / week_ids: the same sets per ISO week (week 0 starts on Monday 1970-01-05,
--     epoch day 4), without hour masks: only whole weeks are read from them, so a month is
--     four week sets and a few days instead of thirty day sets.
--   * hour_counts: per botnet and hour, distinct addresses, bot IDs, ip:port pairs and the
--     replies; hour_countries: distinct addresses per reply country (the hour-of-day
--     profile). Hours touched by new batches are recounted from their replies.
CREATE TABLE day_ips (
    botnet_id  SMALLINT NOT NULL,
    day        INTEGER NOT NULL,
    ip         UHUGEINT NOT NULL,
    hours      INTEGER NOT NULL,
    country    VARCHAR,
    country_ts TIMESTAMP,
    asn        UINTEGER,
    asn_ts     TIMESTAMP,
    mixed      BOOLEAN NOT NULL
);

CREATE TABLE day_ids (
    botnet_id SMALLINT NOT NULL,
    day       INTEGER NOT NULL,
    bot_id    VARCHAR NOT NULL,
    hours     INTEGER NOT NULL
);

CREATE TABLE week_ips (
    botnet_id  SMALLINT NOT NULL,
    week       INTEGER NOT NULL,
    ip         UHUGEINT NOT NULL,
    country    VARCHAR,
    country_ts TIMESTAMP,
    asn        UINTEGER,
    asn_ts     TIMESTAMP
);

CREATE TABLE week_ids (
    botnet_id SMALLINT NOT NULL,
    week      INTEGER NOT NULL,
    bot_id    VARCHAR NOT NULL
);

CREATE TABLE hour_counts (
    botnet_id SMALLINT NOT NULL,
    hour      INTEGER NOT NULL,
    ips       BIGINT NOT NULL,
    ids       BIGINT NOT NULL,
    ip_ports  BIGINT NOT NULL,
    replies   BIGINT NOT NULL
);

CREATE TABLE hour_countries (
    botnet_id SMALLINT NOT NULL,
    hour      INTEGER NOT NULL,
    country   VARCHAR,
    ips       BIGINT NOT NULL
);

-- The new tables start empty: the next refresh is a full build.
UPDATE summary_state SET watermark = NULL WHERE name = 'seen';
