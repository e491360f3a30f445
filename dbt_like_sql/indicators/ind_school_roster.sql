-- R23 特別支援学級 / R24 QU要支援: read from every school roster record linked (名寄せ, matched) to the child.
-- R23: tokubetsu_shien set. R24: qu_result is one of the rule's results (侵害行為認知群, 学級生活不満足群).
SELECT unnest(indicator_hit(s, r, 1)), unnest(indicator_source('gakko_meibo', g, g._extract_date))
FROM subjects AS s
JOIN crosswalk AS x ON x.resident_id = s.subject_resident_id AND x.feed = 'gakko_meibo' AND x.status = 'matched'
JOIN stg_gakko_meibo AS g ON g.student_no = x.source_key
JOIN rule_set AS r ON r.rule_id IN ('R23', 'R24') AND r.enabled
WHERE s.subject_type = 'child'
  AND (
      (r.rule_id = 'R23' AND g.tokubetsu_shien)
      OR (r.rule_id = 'R24' AND list_contains(json_extract_string(r.params, '$.results[*]'), g.qu_result))
  )
