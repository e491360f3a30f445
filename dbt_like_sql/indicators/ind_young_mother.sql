-- R07 若年出産: the mother was under `mother_under` (20) at the birth of a child aged at most 3, or an
-- expectant mother is under 20 at T (completed years). Fact: the mother's registry row.
SELECT
    m.subject_resident_id,
    m.subject_type,
    r.rule_id,
    1 AS hit,
    r.points_ab,
    r.points_pp,
    r.points_dd,
    'jumin' AS feed,
    m._file AS source_file,
    m._sha256 AS source_sha256,
    m._row AS source_row,
    CAST(getvariable('as_of') AS DATE) AS fact_date
FROM subject_mothers AS m
JOIN rule_set AS r
    ON r.rule_id = 'R07' AND r.enabled
   AND list_contains(r.applies_to, m.subject_type) AND (m.subject_type <> 'child' OR m.age <= r.max_age)
WHERE m.mother_age < CAST(json_extract(r.params, '$.mother_under') AS INTEGER)
