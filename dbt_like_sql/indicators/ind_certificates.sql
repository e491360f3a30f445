-- R22 療育手帳: the child holds a 療育 certificate issued on or before T.
SELECT
    s.subject_resident_id,
    s.subject_type,
    r.rule_id,
    1 AS hit,
    r.points_ab,
    r.points_pp,
    r.points_dd,
    'shogai_techo' AS feed,
    c._file AS source_file,
    c._sha256 AS source_sha256,
    c._row AS source_row,
    c.issued_on AS fact_date
FROM subjects AS s
JOIN stg_shogai_techo AS c ON c.resident_id = s.subject_resident_id
JOIN rule_set AS r ON r.rule_id = 'R22' AND r.enabled
WHERE s.subject_type = 'child'
  AND c.techo_type = '療育'
  AND c.issued_on <= getvariable('as_of')
