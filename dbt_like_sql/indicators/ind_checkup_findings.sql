-- More 乳幼児健診 (nyuyoji_kenshin) findings, for child subjects, attended exams on or before T only:
--   R04 健診時体重低値: weight strictly below the exam's threshold (`weight_below_g`), child aged at most 6; once.
--   R15 育児不安: parenting anxiety recorded at the child's latest attended exam.
--   R21 運動発達所見: a motor finding at the 4か月 or 10か月 exam (no age limit); once.
WITH attended AS (
    SELECT
        k.*,
        s.subject_resident_id,
        s.subject_type,
        s.age,
        row_number() OVER (PARTITION BY s.subject_resident_id ORDER BY k.attended_on DESC, k._row DESC) AS recency
    FROM subjects AS s
    JOIN stg_nyuyoji_kenshin AS k ON k.resident_id = s.subject_resident_id
    WHERE s.subject_type = 'child' AND k.attended_on <= getvariable('as_of')
),
hits AS (
    SELECT a.*, r.rule_id, r.points_ab, r.points_pp, r.points_dd
    FROM attended AS a
    JOIN rule_set AS r ON r.enabled AND (
        (r.rule_id = 'R04' AND a.age <= r.max_age AND a.weight_g < CAST(
            json_extract_string(json_extract(r.params, '$.weight_below_g'), '$."' || a.exam || '"') AS INTEGER))
        OR (r.rule_id = 'R15' AND a.recency = 1 AND a.parenting_anxiety)
        OR (r.rule_id = 'R21' AND a.exam IN ('4か月', '10か月') AND a.dev_motor)
    )
)
SELECT unnest(indicator_hit(h, h, 1)), unnest(indicator_source('nyuyoji_kenshin', h, h.attended_on))
FROM hits AS h
