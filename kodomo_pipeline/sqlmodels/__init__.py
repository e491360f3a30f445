"""SQL models (dbt_like_sql/): one model per file, dependencies read from the SQL itself with sqlglot."""
