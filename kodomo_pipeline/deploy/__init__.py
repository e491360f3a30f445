"""Deployment helpers for the town's closed network: an offline wheelhouse and its installer."""
