-- botmon schema, version 8, DuckDB: dashboard views an admin made public.
--
--   * public_views: per botnet, the name of a view (botmon.analysis.public.VIEWS) served
--     without a token under /api/v1/public and /public, who made it public and when (epoch
--     microseconds, as store/public_views.py shares its SQL between backends). Only the
--     marking is stored: the public answers are aggregates computed from the records.
CREATE TABLE public_views (
    botnet_id   SMALLINT NOT NULL,
    view        VARCHAR NOT NULL,
    added_us    BIGINT NOT NULL,
    added_by    VARCHAR NOT NULL,
    PRIMARY KEY (botnet_id, view)
);
