-- The mother behind each subject, for the mother and pregnancy rules (R05–R09, R11–R14):
--   child            its identified mother (`mother_of_child`: postpartum pair first, else the household rule);
--   expectant_mother herself.
-- mother_age is her completed age (満年齢) at the child's birth, at T for an expectant mother: R07 reads it.
WITH pairs AS (
    SELECT
        s.subject_resident_id,
        s.subject_type,
        s.age,
        s.birth_date,
        CASE WHEN s.subject_type = 'child' THEN mc.mother_resident_id ELSE s.subject_resident_id END
            AS mother_resident_id,
        CASE WHEN s.subject_type = 'child' THEN s.birth_date ELSE getvariable('as_of') END AS reference_date
    FROM subjects AS s
    LEFT JOIN mother_of_child AS mc ON s.subject_type = 'child' AND mc.child_resident_id = s.subject_resident_id
)
SELECT
    p.subject_resident_id,
    p.subject_type,
    p.age,
    p.birth_date,
    p.mother_resident_id,
    age_at(m.birth_date, p.reference_date) AS mother_age,
    m._file,
    m._sha256,
    m._row
FROM pairs AS p
JOIN persons AS m ON m.resident_id = p.mother_resident_id
