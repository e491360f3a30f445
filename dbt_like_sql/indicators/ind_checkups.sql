-- 乳幼児健診 (nyuyoji_kenshin), for child subjects:
--   R03 乳幼児健診未受診: an exam whose due month began at least `grace_months` (2) months before T and that was
--       not attended by T; child aged at most 6; one hit per exam, at most `max_exams` (2) hits.
--   R20 発達所見: a language or social finding at an attended 1歳6か月 or 3歳 exam (no age limit); the points
--       rise by `extra_points` (2) when such an exam's result is `extra_if_result` (要精密). One hit.
WITH exams AS (
    SELECT k.*, s.subject_resident_id, s.subject_type, s.age
    FROM subjects AS s
    JOIN stg_nyuyoji_kenshin AS k ON k.resident_id = s.subject_resident_id
    WHERE s.subject_type = 'child'
),
missed AS (
    SELECT
        e.*,
        r.rule_id,
        r.points_ab,
        r.points_pp,
        r.points_dd,
        CAST(row_number() OVER (PARTITION BY e.subject_resident_id ORDER BY e.due_month, e._row) AS INTEGER) AS hit,
        CAST(json_extract(r.params, '$.max_exams') AS INTEGER) AS max_exams
    FROM exams AS e
    JOIN rule_set AS r ON r.rule_id = 'R03' AND r.enabled
    WHERE e.age <= r.max_age
      AND CAST(e.due_month + to_months(CAST(json_extract(r.params, '$.grace_months') AS INTEGER)) AS DATE)
          <= getvariable('as_of')
      AND (e.attended_on IS NULL OR e.attended_on > getvariable('as_of'))
),
findings AS (
    SELECT
        e.*,
        r.rule_id,
        r.points_ab,
        r.points_pp,
        r.points_dd
        + CASE WHEN bool_or(e.result = json_extract_string(r.params, '$.extra_if_result'))
                        OVER (PARTITION BY e.subject_resident_id)
               THEN CAST(json_extract(r.params, '$.extra_points') AS INTEGER) ELSE 0 END AS points_dd
    FROM exams AS e
    JOIN rule_set AS r ON r.rule_id = 'R20' AND r.enabled
    WHERE e.exam IN ('1歳6か月', '3歳')
      AND e.attended_on <= getvariable('as_of')
      AND (e.dev_language OR e.dev_social)
)
SELECT unnest(indicator_hit(m, m, m.hit)), unnest(indicator_source('nyuyoji_kenshin', m, m.due_month))
FROM missed AS m
WHERE m.hit <= m.max_exams
UNION ALL
SELECT unnest(indicator_hit(f, f, 1)), unnest(indicator_source('nyuyoji_kenshin', f, f.attended_on))
FROM findings AS f
