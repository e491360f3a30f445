-- 産後質問票 (sango_shitsumon): the identified mother's rows assessed within `window_months` (12) up to T, for
-- each of her children under 1 (a row about a sibling counts too: it describes the mother):
--   R12 EPDS高得点: epds_total >= `min_total` (9);
--   R13 自傷念慮: epds_q10 >= `min_q10` (1) — 0 points, listed, and the 産後うつ level becomes A;
--   R14 愛着の困難: bonding_total >= `min_total` (5).
SELECT unnest(indicator_hit(m, r, 1)), unnest(indicator_source('sango_shitsumon', q, q.assessed_on))
FROM subject_mothers AS m
JOIN rule_set AS r ON r.rule_id IN ('R12', 'R13', 'R14') AND r.enabled AND m.age <= r.max_age
JOIN stg_sango_shitsumon AS q ON q.mother_resident_id = m.mother_resident_id
WHERE m.subject_type = 'child'
  AND q.assessed_on BETWEEN CAST(getvariable('as_of') - to_months(CAST(json_extract(r.params, '$.window_months')
                                                                       AS INTEGER)) AS DATE)
                        AND getvariable('as_of')
  AND (
      (r.rule_id = 'R12' AND q.epds_total >= CAST(json_extract(r.params, '$.min_total') AS INTEGER))
      OR (r.rule_id = 'R13' AND q.epds_q10 >= CAST(json_extract(r.params, '$.min_q10') AS INTEGER))
      OR (r.rule_id = 'R14' AND q.bonding_total >= CAST(json_extract(r.params, '$.min_total') AS INTEGER))
  )
