-- The cluster id of the broker each stored offset was consumed from. The materializer
-- compares it with the broker's at start: the embedded broker gets a new cluster id each
-- start (its topics die with it), so offsets of an older one are forgotten (rows are kept)
-- instead of skipping the new broker's first messages. NULL: stored before this column.
ALTER TABLE kafka_offsets ADD COLUMN IF NOT EXISTS cluster_id VARCHAR;
