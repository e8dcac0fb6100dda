-- clean_queries and flattened without their PRIMARY KEY indexes. Keeping an ART index
-- current halved the materializer's append rate. The materializer now keeps the identity
-- itself: a clean record is (query_key, arrival_us), a flattened one (query_key, table_id,
-- access, arrival_us), both fixed by the source row, so a re-emitted record has the same
-- arrival and is found by an anti-join limited to its batch's arrival range (zone maps
-- skip the rest of the table). Rows are kept in arrival order so those ranges stay narrow.
CREATE TABLE clean_queries_v4 AS SELECT * FROM clean_queries ORDER BY arrival_us;
DROP TABLE clean_queries;
ALTER TABLE clean_queries_v4 RENAME TO clean_queries;
CREATE TABLE flattened_v4 AS SELECT * FROM flattened ORDER BY arrival_us;
DROP TABLE flattened;
ALTER TABLE flattened_v4 RENAME TO flattened;
