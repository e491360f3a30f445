-- R19 転入直後: the child moved to the current address within the rule's window (12 months up to T,
-- both ends inclusive) — a move, not a birth (resident_since differs from the birth date).
SELECT
    s.subject_resident_id,
    s.subject_type,
    r.rule_id,
    1 AS hit,
    r.points_ab,
    r.points_pp,
    r.points_dd,
    'jumin' AS feed,
    p._file AS source_file,
    p._sha256 AS source_sha256,
    p._row AS source_row,
    p.resident_since AS fact_date
FROM subjects AS s
JOIN persons AS p ON p.resident_id = s.subject_resident_id
JOIN rule_set AS r ON r.rule_id = 'R19' AND r.enabled
WHERE s.subject_type = 'child'
  AND p.resident_since <> p.birth_date
  AND p.resident_since BETWEEN CAST(
      getvariable('as_of') - to_months(CAST(json_extract(r.params, '$.window_months') AS INTEGER)) AS DATE
  ) AND getvariable('as_of')
