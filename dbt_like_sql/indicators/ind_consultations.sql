-- R01 虐待相談歴 / R25 障害相談歴: a child's consultation of the rule's category, received within the rule's
-- window (calendar months up to T, both ends inclusive). One hit per rule, every consultation kept as a fact.
WITH rule AS (
    SELECT
        *,
        json_extract_string(params, '$.category') AS category,
        CAST(getvariable('as_of') - to_months(CAST(json_extract(params, '$.window_months') AS INTEGER)) AS DATE)
            AS window_start
    FROM rule_set
    WHERE rule_id IN ('R01', 'R25') AND enabled
)
SELECT unnest(indicator_hit(s, r, 1)), unnest(indicator_source('jido_soudan', c, c.received_on))
FROM subjects AS s
JOIN stg_jido_soudan AS c ON c.resident_id = s.subject_resident_id
JOIN rule AS r ON c.category = r.category
WHERE s.subject_type = 'child'
  AND c.received_on BETWEEN r.window_start AND getvariable('as_of')
