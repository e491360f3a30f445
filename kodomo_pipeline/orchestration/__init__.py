"""Dagster at the edge: turns the domain functions into per-town assets, checks, jobs, schedules and sensors."""
