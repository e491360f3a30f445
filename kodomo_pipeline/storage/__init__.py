"""The town's own DuckDB database: the only place the town's personal data is kept."""
