-- R06 妊婦健診受診少: for a child aged at most 3 whose pregnancy (see `pregnancies`) was due on or before T, the
-- mother's check-up visits dated from that notice's notified_on to due_date + `after_due_days` (45) number at
-- most `max_visits` (3). Facts: the notice and every visit counted. Not evaluated where ninpu_kenshin is 未連携
-- (an absent feed would otherwise read as zero visits).
WITH due AS (
    SELECT p.*, r.rule_id, r.points_ab, r.points_pp, r.points_dd,
           CAST(json_extract(r.params, '$.max_visits') AS INTEGER) AS max_visits,
           CAST(p.due_date + to_days(CAST(json_extract(r.params, '$.after_due_days') AS INTEGER)) AS DATE)
               AS window_end
    FROM pregnancies AS p
    JOIN rule_set AS r ON r.rule_id = 'R06' AND r.enabled AND r.linked AND p.age <= r.max_age
    WHERE p.subject_type = 'child' AND p.due_date <= getvariable('as_of')
),
visits AS (
    SELECT d.subject_resident_id, v._file, v._sha256, v._row, v.visit_on
    FROM due AS d
    JOIN stg_ninpu_kenshin AS v
        ON v.mother_resident_id = d.mother_resident_id
       AND v.visit_on BETWEEN d.notified_on AND least(d.window_end, getvariable('as_of'))
),
few AS (
    SELECT d.*
    FROM due AS d
    WHERE (SELECT count(*) FROM visits AS v WHERE v.subject_resident_id = d.subject_resident_id) <= d.max_visits
)
SELECT unnest(indicator_hit(f, f, 1)), unnest(indicator_source('ninshin_todoke', f, f.notified_on))
FROM few AS f
UNION ALL
SELECT unnest(indicator_hit(f, f, 1)), unnest(indicator_source('ninpu_kenshin', v, v.visit_on))
FROM few AS f
JOIN visits AS v ON v.subject_resident_id = f.subject_resident_id
