"""kodomo_pipeline: こどもデータ連携 — per-town ingestion, 名寄せ, risk judgment and alerts."""

__version__ = "0.1.0"
