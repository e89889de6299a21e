-- botmon schema, version 4, DuckDB: what saw each record.
--
--   * replies, failed_tries and edges get source_type: 'crawler' (a crawler asked the bot) or
--     'sensor' (the bot contacted a sensor). Every record stored before this version came
--     from a crawler, and a batch of an older client that does not say is a crawler's.
--     Every write path writes it; reads filter on it when a caller asks for one kind only.
--   * The summaries (seen, day, week and hour tables) keep both kinds together: a read
--     filtered to one kind is answered from the records (store/reads.py).
ALTER TABLE replies ADD COLUMN source_type VARCHAR DEFAULT 'crawler';
ALTER TABLE failed_tries ADD COLUMN source_type VARCHAR DEFAULT 'crawler';
ALTER TABLE edges ADD COLUMN source_type VARCHAR DEFAULT 'crawler';
-- A batch holds one kind's records: its row says which, so the first and last reply of one
-- kind are found by time range inside the spans of its first and last batches, not a scan.
ALTER TABLE batches ADD COLUMN source_type VARCHAR DEFAULT 'crawler';
