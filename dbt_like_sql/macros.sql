-- Shared expressions, defined once and used by the SQL models and the registry step (linkage/persons.py).
-- DuckDB macros (not Jinja): the model files stay plain SQL that DuckDB runs as written. The runner
-- (kodomo_pipeline/sqlmodels/macros.py) creates them on every connection before any model runs.

-- 満年齢: completed years on `day` of someone born on `born`; a birthday counts on the day itself
-- (also for 2/29: someone born on 2/29 becomes a year older on 3/1 of a common year).
CREATE OR REPLACE TEMP MACRO age_at(born, day) AS
    date_diff('year', born, day) - CASE WHEN strftime(born, '%m%d') > strftime(day, '%m%d') THEN 1 ELSE 0 END;

-- The nursery feed's record key in the crosswalk (toen has no single ID): facility and pupil number.
CREATE OR REPLACE TEMP MACRO nursery_key(facility, pupil_no) AS facility || ':' || pupil_no;

-- An indicator row (the `indicator` contract of indicators/schema.yaml, which owns the columns and their types),
-- in two parts a model selects as `unnest(indicator_hit(...)), unnest(indicator_source(...))`: one column per field.
-- `subject` is a row with subject_resident_id and subject_type; `rule` a row with rule_id and points_ab/pp/dd
-- (a rule_set row, or the model's own with computed points); `hit` the hit number.
CREATE OR REPLACE TEMP MACRO indicator_hit(subject, rule, hit) AS {
    'subject_resident_id': subject.subject_resident_id,
    'subject_type': subject.subject_type,
    'rule_id': rule.rule_id,
    'hit': hit,
    'points_ab': rule.points_ab,
    'points_pp': rule.points_pp,
    'points_dd': rule.points_dd
};

-- Where the fact comes from: the feed, and the source row (a staging row with its _file, _sha256 and _row) with
-- the date the fact holds.
CREATE OR REPLACE TEMP MACRO indicator_source(feed, source, fact_date) AS {
    'feed': feed,
    'source_file': source._file,
    'source_sha256': source._sha256,
    'source_row': source._row,
    'fact_date': fact_date
};
