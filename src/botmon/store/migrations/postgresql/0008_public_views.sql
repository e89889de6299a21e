-- botmon schema, version 8, PostgreSQL: dashboard views an admin made public.
-- See the DuckDB migration of the same number for what the table holds. Times are epoch
-- microseconds (bigint) so both backends share the SQL of store/public_views.py.
CREATE TABLE public_views (
    botnet_id   smallint NOT NULL,
    view        text NOT NULL,
    added_us    bigint NOT NULL,
    added_by    text NOT NULL,
    PRIMARY KEY (botnet_id, view)
);
