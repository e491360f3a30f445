-- R10 経済的困難 (economic; one point per source, at most `cap` (2) together), for child subjects:
--   hit 1 public assistance: a seikatsu_hogo row of the child's household started on or before T, not ended by T;
--   hit 2 allowance: a jido_fuyo row with status in `allowance_statuses` (全部支給, 一部支給) certified on or
--         before T whose recipient lives in the child's household;
--   hit 3 school aid: 就学援助 on a school roster record linked (名寄せ, matched) to the child itself.
-- Sources that fire are numbered in that order; those beyond the cap keep their facts but give 0 points.
WITH children AS (
    SELECT s.subject_resident_id, s.subject_type, p.household_id
    FROM subjects AS s
    JOIN persons AS p ON p.resident_id = s.subject_resident_id
    WHERE s.subject_type = 'child'
),
facts AS (
    SELECT c.subject_resident_id, c.subject_type, 1 AS source, 'seikatsu_hogo' AS feed,
           h._file, h._sha256, h._row, h.started_on AS fact_date
    FROM children AS c
    JOIN stg_seikatsu_hogo AS h ON h.household_id = c.household_id
    WHERE h.started_on <= getvariable('as_of') AND (h.ended_on IS NULL OR h.ended_on > getvariable('as_of'))
    UNION ALL
    SELECT c.subject_resident_id, c.subject_type, 2 AS source, 'jido_fuyo' AS feed,
           f._file, f._sha256, f._row, f.certified_on AS fact_date
    FROM children AS c
    JOIN persons AS recipient ON recipient.household_id = c.household_id
    JOIN stg_jido_fuyo AS f ON f.recipient_resident_id = recipient.resident_id
    JOIN rule_set AS r ON r.rule_id = 'R10'
    WHERE f.certified_on <= getvariable('as_of')
      AND list_contains(json_extract_string(r.params, '$.allowance_statuses[*]'), f.status)
    UNION ALL
    SELECT c.subject_resident_id, c.subject_type, 3 AS source, 'gakko_meibo' AS feed,
           g._file, g._sha256, g._row, g._extract_date AS fact_date
    FROM children AS c
    JOIN crosswalk AS x ON x.resident_id = c.subject_resident_id AND x.feed = 'gakko_meibo' AND x.status = 'matched'
    JOIN stg_gakko_meibo AS g ON g.student_no = x.source_key
    WHERE g.shugaku_enjo
),
numbered AS (
    SELECT *, CAST(dense_rank() OVER (PARTITION BY subject_resident_id ORDER BY source) AS INTEGER) AS hit
    FROM facts
),
scored AS (
    SELECT
        n.*,
        r.rule_id,
        CASE WHEN n.hit <= CAST(json_extract(r.params, '$.cap') AS INTEGER) THEN r.points_ab ELSE 0 END AS points_ab,
        CASE WHEN n.hit <= CAST(json_extract(r.params, '$.cap') AS INTEGER) THEN r.points_pp ELSE 0 END AS points_pp,
        CASE WHEN n.hit <= CAST(json_extract(r.params, '$.cap') AS INTEGER) THEN r.points_dd ELSE 0 END AS points_dd
    FROM numbered AS n
    JOIN rule_set AS r ON r.rule_id = 'R10' AND r.enabled
)
SELECT unnest(indicator_hit(s, s, s.hit)), unnest(indicator_source(s.feed, s, s.fact_date))
FROM scored AS s
