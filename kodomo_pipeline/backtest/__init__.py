"""効果検証 (effect validation): replay rule sets over a town's history and compare alerts with outcomes.

`engine.run_backtest` replays and writes the result folder (alerts.csv, outcomes.csv, replays.csv,
backtest.json); `outcomes` reads the outcome definitions (rules/outcomes_v1.yaml); `replay` holds the scratch
database and the per-date steps; `period` parses "6M"-style periods and `result_files` reads the folder for
`metrics` (every figure, the CLI's and the asset's headline included) and `report`. Imports stay lazy here so
that the report module can be used on its own.
"""
