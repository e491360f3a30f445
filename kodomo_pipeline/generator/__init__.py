"""Realistic sample data for the pipeline: each town's nightly exports as of a date, with the ground truth.

`generate_town(town, out_dir, truth_dir, asof)` writes one CSV per feed the town
has, in the town's own layout (through `kodomo_pipeline.layout.writer`), and
links/persons/planted_risk/planted_facts/defects CSVs that say what a correct pipeline should find.
"""

from kodomo_pipeline.generator.town import GenerationSummary, generate_town

__all__ = ["GenerationSummary", "generate_town"]
