"""The risk rule set as data (rules/risk_rules_v1.yaml), per-town overrides, and its version."""
