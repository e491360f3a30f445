-- R02 要対協登録中: the child is registered with 要対協 and the case is ongoing (継続). No points: it marks
-- every alert of the child as a known case.
SELECT
    s.subject_resident_id,
    s.subject_type,
    'R02' AS rule_id,
    1 AS hit,
    0 AS points_ab,
    0 AS points_pp,
    0 AS points_dd,
    'jido_soudan' AS feed,
    c._file AS source_file,
    c._sha256 AS source_sha256,
    c._row AS source_row,
    c.received_on AS fact_date
FROM subjects AS s
JOIN stg_jido_soudan AS c ON c.resident_id = s.subject_resident_id
WHERE s.subject_type = 'child'
  AND c.yotaikyo
  AND c.status = '継続'
  AND c.received_on <= getvariable('as_of')
  AND getvariable('R02_enabled')
