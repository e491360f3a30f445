-- Pregnancy-notice rules, on the pregnancy of a child aged at most 3 or an expectant mother's current notice:
--   R05 妊娠届出遅延: weeks_at_notification >= `min_weeks` (20);
--   R08 望まない妊娠: feeling is one of `feelings` (困った, わからない);
--   R09 相談相手なし: has_confidant = 無 on that notice, or support_person = 無 on a postpartum row of the same
--       (mother, child) pair assessed on or before T (children only). No time window. One hit per rule.
WITH candidates AS (
    SELECT p.*, r.rule_id, r.points_ab, r.points_pp, r.points_dd, r.params
    FROM pregnancies AS p
    JOIN rule_set AS r
        ON r.rule_id IN ('R05', 'R08', 'R09') AND r.enabled
       AND list_contains(r.applies_to, p.subject_type) AND (p.subject_type <> 'child' OR p.age <= r.max_age)
),
notice_facts AS (
    SELECT
        subject_resident_id, subject_type, rule_id, points_ab, points_pp, points_dd,
        'ninshin_todoke' AS feed, _file, _sha256, _row, notified_on AS fact_date
    FROM candidates
    WHERE (rule_id = 'R05' AND weeks_at_notification >= CAST(json_extract(params, '$.min_weeks') AS INTEGER))
       OR (rule_id = 'R08' AND list_contains(json_extract_string(params, '$.feelings[*]'), feeling))
       OR (rule_id = 'R09' AND NOT has_confidant)
),
postpartum_facts AS (
    SELECT
        m.subject_resident_id, m.subject_type, r.rule_id, r.points_ab, r.points_pp, r.points_dd,
        'sango_shitsumon' AS feed, q._file, q._sha256, q._row, q.assessed_on AS fact_date
    FROM subject_mothers AS m
    JOIN rule_set AS r ON r.rule_id = 'R09' AND r.enabled AND m.age <= r.max_age
    JOIN stg_sango_shitsumon AS q
        ON q.mother_resident_id = m.mother_resident_id AND q.child_resident_id = m.subject_resident_id
    WHERE m.subject_type = 'child' AND NOT q.support_person AND q.assessed_on <= getvariable('as_of')
)
SELECT unnest(indicator_hit(f, f, 1)), unnest(indicator_source(f.feed, f, f.fact_date))
FROM (SELECT * FROM notice_facts UNION ALL SELECT * FROM postpartum_facts) AS f
