-- Shared expressions, defined once and used by the SQL models and the registry step (linkage/persons.py).
-- DuckDB macros (not Jinja): the model files stay plain SQL that DuckDB runs as written. The runner
-- (kodomo_pipeline/sqlmodels/macros.py) creates them on every connection before any model runs.

-- 満年齢: completed years on `day` of someone born on `born`; a birthday counts on the day itself
-- (also for 2/29: someone born on 2/29 becomes a year older on 3/1 of a common year).
CREATE OR REPLACE TEMP MACRO age_at(born, day) AS
    date_diff('year', born, day) - CASE WHEN strftime(born, '%m%d') > strftime(day, '%m%d') THEN 1 ELSE 0 END;

-- The nursery feed's record key in the crosswalk (toen has no single ID): facility and pupil number.
CREATE OR REPLACE TEMP MACRO nursery_key(facility, pupil_no) AS facility || ':' || pupil_no;
