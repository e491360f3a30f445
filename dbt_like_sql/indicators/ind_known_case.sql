-- R02 要対協登録中: the child is registered with 要対協 and the case is ongoing (継続). No points: it marks
-- every alert of the child as a known case.
SELECT
    unnest(indicator_hit(s, {'rule_id': 'R02', 'points_ab': 0, 'points_pp': 0, 'points_dd': 0}, 1)),
    unnest(indicator_source('jido_soudan', c, c.received_on))
FROM subjects AS s
JOIN stg_jido_soudan AS c ON c.resident_id = s.subject_resident_id
WHERE s.subject_type = 'child'
  AND c.yotaikyo
  AND c.status = '継続'
  AND c.received_on <= getvariable('as_of')
  AND getvariable('R02_enabled')
