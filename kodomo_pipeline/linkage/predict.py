"""Splink's predict, keeping what the assignment reads (levels and weights), not the compared values.

Splink's `linker.inference.predict()` writes the gamma_* levels out only together with every matching column of
both sides (`retain_matching_columns`). At 1,000,000 residents that materialised 4.7 M pairs carrying each
household's lists of adult names twice over: a third of the predict time and most of the linkage step's memory.
This builds the same pipeline as Splink's own predict — its blocked pairs, its comparison-vector SQL, its
match-weight SQL — from Splink's SQL builders with the levels kept as in training, and reads the pairs out of it
in the same query, so that the wide prediction table is never written.
"""

from __future__ import annotations

import pyarrow as pa
from splink import Linker
from splink.internals.comparison_vector_values import compute_comparison_vector_values_from_id_pairs_sqls
from splink.internals.dialects import SplinkDialect
from splink.internals.pipeline import CTEPipeline
from splink.internals.predict import predict_from_comparison_vectors_sqls
from splink.internals.settings import Settings
from splink.internals.vertically_concatenate import enqueue_df_concat_with_tf

from kodomo_pipeline.storage.faults import crash_point

PREDICTIONS = "__splink__df_predict"  # the name Splink's predict SQL gives its output, read by `select_pairs`


def scored_pairs(linker: Linker, select_pairs: str) -> pa.Table:
    """Every blocked pair scored with the linker's model: `select_pairs` (SQL reading PREDICTIONS) applied to
    rows with unique ids, match_weight, match_probability, match_key, gamma_* and mw_* of each comparison."""
    settings = linker._settings_obj
    info = settings.column_info_settings
    comparisons = settings.core_model_settings.comparisons
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    crash_point("scoring")  # test-only (KODOMO_FAULT_AT): a kill -9 with Splink's tables in the town database
    pipeline = CTEPipeline([blocked])
    enqueue_df_concat_with_tf(linker, pipeline)
    pipeline.enqueue_list_of_sqls(
        compute_comparison_vector_values_from_id_pairs_sqls(
            settings._columns_to_select_for_blocking,
            Settings.columns_to_select_for_comparison_vector_values(
                unique_id_input_columns=info.unique_id_input_columns,
                comparisons=comparisons,
                retain_matching_columns=False,
                additional_columns_to_retain=[],
            ),
            input_tablename_l="__splink__df_concat_with_tf",
            input_tablename_r="__splink__df_concat_with_tf",
            source_dataset_input_column=info.source_dataset_input_column,
            unique_id_input_column=info.unique_id_input_column,
            link_type=settings._link_type,
            sql_dialect_str=linker._sql_dialect_str,
        )
    )
    pipeline.enqueue_list_of_sqls(
        predict_from_comparison_vectors_sqls(
            unique_id_input_columns=info.unique_id_input_columns,
            core_model_settings=settings.core_model_settings,
            sql_dialect=SplinkDialect.from_string(linker._sql_dialect_str),
            retain_matching_columns=False,
            retain_intermediate_calculation_columns=True,  # the mw_* weights of each comparison
            training_mode=True,  # keeps gamma_* without the matching columns
        )
    )
    pipeline.enqueue_sql(select_pairs, "__splink__kodomo_pairs")
    table = linker._db_api.sql_pipeline_to_splink_dataframe(pipeline)
    try:
        return table.as_duckdbpyrelation().to_arrow_table()
    finally:
        table.drop_table_from_database_and_remove_from_cache()
        blocked.drop_table_from_database_and_remove_from_cache()
