-- School attendance, reaching the child through the roster (名寄せ, matched): a transferred student's
-- two numbers count together.
--   R17 長期欠席: absent_days summed over the calendar months month(T)−11 … month(T) reach `min_days` (30).
--   R18 保健室頻回: nurse_visits reach `min_visits` (8) in any of the months month(T)−2 … month(T).
-- One hit per rule; every attendance row that counted is kept as a fact.
WITH rule AS (
    SELECT
        *,
        CAST(date_trunc('month', getvariable('as_of'))
             - to_months(CAST(json_extract(params, '$.last_months') AS INTEGER) - 1) AS DATE) AS first_month,
        CAST(coalesce(json_extract(params, '$.min_days'), json_extract(params, '$.min_visits')) AS INTEGER)
            AS threshold
    FROM rule_set
    WHERE rule_id IN ('R17', 'R18') AND enabled
),
months AS (
    SELECT a.*, r.rule_id, r.points_ab, r.points_pp, r.points_dd, r.threshold
    FROM attendance_linked AS a
    JOIN rule AS r ON a.month BETWEEN r.first_month AND getvariable('as_of')
    WHERE a.resident_id IS NOT NULL
),
counted AS (
    SELECT
        *,
        sum(absent_days) OVER (PARTITION BY resident_id, rule_id) AS absent_in_window
    FROM months
)
SELECT unnest(indicator_hit(s, c, 1)), unnest(indicator_source('gakko_shusseki', c, c.month))
FROM counted AS c
JOIN subjects AS s ON s.subject_resident_id = c.resident_id AND s.subject_type = 'child'
WHERE (c.rule_id = 'R17' AND c.absent_in_window >= c.threshold)
   OR (c.rule_id = 'R18' AND c.nurse_visits >= c.threshold)
