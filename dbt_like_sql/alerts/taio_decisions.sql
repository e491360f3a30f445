-- The review meeting's decisions (taio_kekka) in force at T, each tied to the alert state the meeting saw.
--   One row per valid decision row dated on or before T (rows dated after the file's extract date are already
--   in quarantine: date_after_extract). A decision is tied to the alert's state in the newest earlier run
--   (before T) on or before its 検討日 in which the alert was on the list (not hidden): that run's level, score
--   and indicators are what the meeting judged.
--   problem    NULL when tied; otherwise the reason code (rules/alert_lifecycle.yaml, decision_problems):
--              unknown_alert (no alert of the town has this ID) or decision_before_alert (no list on or before
--              the 検討日 showed it: a mistyped date, or a database rebuilt without its history). An untied
--              decision hides nothing; sqlmodels/lifecycle.py puts its row in quarantine.
WITH decided AS (
    SELECT alert_id, decision, reviewed_on, _file, _sha256, _extract_date, _row
    FROM stg_taio_kekka
    WHERE reviewed_on <= getvariable('as_of')
),
seen AS (
    SELECT d._sha256, d._row, h.as_of AS seen_as_of, h.level, h.score, h.indicators
    FROM decided AS d
    JOIN alert_history AS h
      ON h.alert_id = d.alert_id AND h.as_of <= d.reviewed_on AND h.as_of < getvariable('as_of') AND NOT h.suppressed
    QUALIFY row_number() OVER (PARTITION BY d._sha256, d._row ORDER BY h.as_of DESC) = 1
)
SELECT
    d.alert_id,
    d.decision,
    d.reviewed_on,
    s.seen_as_of,
    s.level AS reviewed_level,
    s.score AS reviewed_score,
    s.indicators AS reviewed_indicators,
    CASE
        WHEN s.seen_as_of IS NOT NULL THEN NULL
        WHEN d.alert_id IN (SELECT alert_id FROM alert_ids) THEN 'decision_before_alert'
        ELSE 'unknown_alert'
    END AS problem,
    d._file,
    d._sha256,
    d._extract_date,
    d._row
FROM decided AS d
LEFT JOIN seen AS s ON s._sha256 = d._sha256 AND s._row = d._row
