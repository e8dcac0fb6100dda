"""The per-row logic of the stages, pure: no Kafka, no Quix, no DuckDB (tested without a broker)."""
