-- R11 保護者の精神疾患: the mother (of a child aged at most 6, or the expectant mother herself) holds a 精神
-- certificate issued on or before T, or psychiatric_history = 有 on any of her notices notified on or before T.
WITH mothers AS (
    SELECT m.subject_resident_id, m.subject_type, m.mother_resident_id, r.rule_id, r.points_ab, r.points_pp,
           r.points_dd
    FROM subject_mothers AS m
    JOIN rule_set AS r
        ON r.rule_id = 'R11' AND r.enabled
       AND list_contains(r.applies_to, m.subject_type) AND (m.subject_type <> 'child' OR m.age <= r.max_age)
),
facts AS (
    SELECT m.*, 'shogai_techo' AS feed, t._file, t._sha256, t._row, t.issued_on AS fact_date
    FROM mothers AS m
    JOIN stg_shogai_techo AS t ON t.resident_id = m.mother_resident_id
    WHERE t.techo_type = '精神' AND t.issued_on <= getvariable('as_of')
    UNION ALL
    SELECT m.*, 'ninshin_todoke' AS feed, n._file, n._sha256, n._row, n.notified_on AS fact_date
    FROM mothers AS m
    JOIN stg_ninshin_todoke AS n ON n.mother_resident_id = m.mother_resident_id
    WHERE n.psychiatric_history AND n.notified_on <= getvariable('as_of')
)
SELECT unnest(indicator_hit(f, f, 1)), unnest(indicator_source(f.feed, f, f.fact_date))
FROM facts AS f
