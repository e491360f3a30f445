-- R07 若年出産: the mother was under `mother_under` (20) at the birth of a child aged at most 3, or an
-- expectant mother is under 20 at T (completed years). Fact: the mother's registry row.
SELECT unnest(indicator_hit(m, r, 1)), unnest(indicator_source('jumin', m, CAST(getvariable('as_of') AS DATE)))
FROM subject_mothers AS m
JOIN rule_set AS r
    ON r.rule_id = 'R07' AND r.enabled
   AND list_contains(r.applies_to, m.subject_type) AND (m.subject_type <> 'child' OR m.age <= r.max_age)
WHERE m.mother_age < CAST(json_extract(r.params, '$.mother_under') AS INTEGER)
