-- R16 登園長期欠席: in any of the last `last_months` (3) calendar months up to T (month(T)−2 … month(T)), a
-- nursery record linked to the child (名寄せ, matched) shows max_consecutive_absence >= `min_consecutive` (10)
-- or absent_days / open_days >= `min_absent_share` (0.5). One hit; every such month kept as a fact.
SELECT unnest(indicator_hit(s, r, 1)), unnest(indicator_source('toen', t, t.month))
FROM subjects AS s
JOIN crosswalk AS x ON x.resident_id = s.subject_resident_id AND x.feed = 'toen' AND x.status = 'matched'
JOIN stg_toen AS t ON nursery_key(t.facility, t.pupil_no) = x.source_key
JOIN rule_set AS r ON r.rule_id = 'R16' AND r.enabled
WHERE s.subject_type = 'child'
  AND t.month BETWEEN CAST(
      date_trunc('month', getvariable('as_of'))
      - to_months(CAST(json_extract(r.params, '$.last_months') AS INTEGER) - 1) AS DATE
  ) AND getvariable('as_of')
  AND (
      t.max_consecutive_absence >= CAST(json_extract(r.params, '$.min_consecutive') AS INTEGER)
      OR (t.open_days > 0
          AND t.absent_days / t.open_days >= CAST(json_extract(r.params, '$.min_absent_share') AS DOUBLE))
  )
