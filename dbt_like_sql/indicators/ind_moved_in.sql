-- R19 転入直後: the child moved to the current address within the rule's window (12 months up to T,
-- both ends inclusive) — a move, not a birth (resident_since differs from the birth date).
SELECT unnest(indicator_hit(s, r, 1)), unnest(indicator_source('jumin', p, p.resident_since))
FROM subjects AS s
JOIN persons AS p ON p.resident_id = s.subject_resident_id
JOIN rule_set AS r ON r.rule_id = 'R19' AND r.enabled
WHERE s.subject_type = 'child'
  AND p.resident_since <> p.birth_date
  AND p.resident_since BETWEEN CAST(
      getvariable('as_of') - to_months(CAST(json_extract(r.params, '$.window_months') AS INTEGER)) AS DATE
  ) AND getvariable('as_of')
