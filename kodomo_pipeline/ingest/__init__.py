"""Ingestion: inbox snapshots → decoded rows with provenance → contract → valid rows or quarantine."""
