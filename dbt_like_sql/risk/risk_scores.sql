-- Score and level per subject and difficulty type (rules v1, "Levels"). A rule counts once per hit (its
-- points repeat on every fact row of the hit); the score is the sum over the rules listed for that type:
-- those giving it points, plus R13 for 産後うつ, which makes that level A whatever the score. Rules are listed
-- highest points first, then by ID. R02 sets known_case and is never listed. `not_linked`: rules 未連携 in this
-- town that could give points to this type and subject type. `economic_only`: every listed rule is economic.
WITH types AS (
    SELECT * FROM (VALUES ('AB', '虐待'), ('PP', '産後うつ'), ('DD', '発達障がい')) AS t (type_code, difficulty_type)
),
per_hit AS (
    SELECT
        f.subject_resident_id,
        f.subject_type,
        f.rule_id,
        f.hit,
        t.type_code,
        t.difficulty_type,
        max(CASE t.type_code WHEN 'AB' THEN f.points_ab WHEN 'PP' THEN f.points_pp ELSE f.points_dd END) AS points
    FROM indicator_facts AS f
    CROSS JOIN types AS t
    GROUP BY ALL
),
per_rule AS (
    SELECT h.subject_resident_id, h.subject_type, h.type_code, h.difficulty_type, h.rule_id,
           sum(h.points) AS points, any_value(r.effect) AS effect, any_value(r.economic) AS economic
    FROM per_hit AS h
    JOIN rule_set AS r ON r.rule_id = h.rule_id
    GROUP BY ALL
),
scored AS (
    SELECT
        subject_resident_id,
        subject_type,
        type_code,
        difficulty_type,
        CAST(sum(points) AS INTEGER) AS score,
        string_agg(rule_id, ';' ORDER BY points DESC, rule_id) AS indicators,
        bool_or(effect = 'level_A_for_PP') AS level_a_override,
        bool_and(economic) AS economic_only
    FROM per_rule
    WHERE points > 0 OR (effect = 'level_A_for_PP' AND type_code = 'PP')
    GROUP BY ALL
),
unlinked AS (
    SELECT s.subject_type, t.type_code, string_agg(r.rule_id, ';' ORDER BY r.rule_id) AS not_linked
    FROM rule_set AS r
    CROSS JOIN types AS t
    CROSS JOIN (VALUES ('child'), ('expectant_mother')) AS s (subject_type)
    WHERE r.enabled AND NOT r.linked AND list_contains(r.applies_to, s.subject_type)
      AND (CASE t.type_code WHEN 'AB' THEN r.points_ab WHEN 'PP' THEN r.points_pp ELSE r.points_dd END > 0
           OR (r.effect = 'level_A_for_PP' AND t.type_code = 'PP'))
    GROUP BY ALL
),
known AS (
    SELECT DISTINCT subject_resident_id FROM indicator_facts WHERE rule_id = 'R02'
)
SELECT
    s.subject_resident_id,
    s.subject_type,
    s.type_code,
    s.difficulty_type,
    s.score,
    CASE
        WHEN s.level_a_override OR s.score >= getvariable('level_A_min_score') THEN 'A'
        WHEN s.score >= getvariable('level_B_min_score') THEN 'B'
        WHEN s.score >= getvariable('level_C_min_score') THEN 'C'
    END AS level,
    s.indicators,
    coalesce(u.not_linked, '') AS not_linked,
    CASE WHEN s.subject_type = 'child' AND k.subject_resident_id IS NOT NULL THEN 1 ELSE 0 END AS known_case,
    s.economic_only,
    s.level_a_override
FROM scored AS s
LEFT JOIN unlinked AS u ON u.subject_type = s.subject_type AND u.type_code = s.type_code
LEFT JOIN known AS k ON k.subject_resident_id = s.subject_resident_id
