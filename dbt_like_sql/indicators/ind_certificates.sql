-- R22 療育手帳: the child holds a 療育 certificate issued on or before T.
SELECT unnest(indicator_hit(s, r, 1)), unnest(indicator_source('shogai_techo', c, c.issued_on))
FROM subjects AS s
JOIN stg_shogai_techo AS c ON c.resident_id = s.subject_resident_id
JOIN rule_set AS r ON r.rule_id = 'R22' AND r.enabled
WHERE s.subject_type = 'child'
  AND c.techo_type = '療育'
  AND c.issued_on <= getvariable('as_of')
