-- botmon schema, version 4, PostgreSQL: what saw each record ('crawler' or 'sensor'); rows
-- stored before are a crawler's. A constant default adds the column without rewriting the
-- tables; the CHECK is NOT VALID so the old rows (all 'crawler' by the default) are not
-- scanned. See the DuckDB migration of the same number.
ALTER TABLE replies ADD COLUMN source_type text NOT NULL DEFAULT 'crawler';
ALTER TABLE failed_tries ADD COLUMN source_type text NOT NULL DEFAULT 'crawler';
ALTER TABLE edges ADD COLUMN source_type text NOT NULL DEFAULT 'crawler';
ALTER TABLE batches ADD COLUMN source_type text NOT NULL DEFAULT 'crawler';
ALTER TABLE replies ADD CONSTRAINT replies_source_type
    CHECK (source_type IN ('crawler', 'sensor')) NOT VALID;
ALTER TABLE failed_tries ADD CONSTRAINT failed_tries_source_type
    CHECK (source_type IN ('crawler', 'sensor')) NOT VALID;
ALTER TABLE edges ADD CONSTRAINT edges_source_type
    CHECK (source_type IN ('crawler', 'sensor')) NOT VALID;
