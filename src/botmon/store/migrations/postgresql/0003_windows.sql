-- botmon schema, version 3, PostgreSQL: summaries that answer windows ending in the past.
-- Per UTC day: every address and bot ID with a 24-bit mask of its hours, and (addresses) the
-- country and AS of the day's latest located reply and whether they varied that day; per
-- hour: distinct counts and addresses per country; per ISO week, the same sets without hour
-- masks (only whole weeks are read from them). Kept by the refresh that keeps the seen tables;
-- see the DuckDB migration of the same number for how windows use them.
CREATE TABLE day_ips (
    botnet_id  smallint NOT NULL,
    day        integer NOT NULL,
    ip         inet NOT NULL,
    hours      integer NOT NULL,
    country    text,
    country_ts timestamptz,
    asn        bigint,
    asn_ts     timestamptz,
    mixed      boolean NOT NULL,
    PRIMARY KEY (botnet_id, day, ip)
);

CREATE TABLE day_ids (
    botnet_id smallint NOT NULL,
    day       integer NOT NULL,
    bot_id    text NOT NULL,
    hours     integer NOT NULL,
    PRIMARY KEY (botnet_id, day, bot_id)
);

CREATE TABLE week_ips (
    botnet_id  smallint NOT NULL,
    week       integer NOT NULL,
    ip         inet NOT NULL,
    country    text,
    country_ts timestamptz,
    asn        bigint,
    asn_ts     timestamptz,
    PRIMARY KEY (botnet_id, week, ip)
);

CREATE TABLE week_ids (
    botnet_id smallint NOT NULL,
    week      integer NOT NULL,
    bot_id    text NOT NULL,
    PRIMARY KEY (botnet_id, week, bot_id)
);

CREATE TABLE hour_counts (
    botnet_id smallint NOT NULL,
    hour      integer NOT NULL,
    ips       bigint NOT NULL,
    ids       bigint NOT NULL,
    ip_ports  bigint NOT NULL,
    replies   bigint NOT NULL,
    PRIMARY KEY (botnet_id, hour)
);

CREATE TABLE hour_countries (
    botnet_id smallint NOT NULL,
    hour      integer NOT NULL,
    country   text,
    ips       bigint NOT NULL
);
CREATE INDEX hour_countries_hour ON hour_countries (botnet_id, hour);

UPDATE summary_state SET watermark = NULL WHERE name = 'seen';
