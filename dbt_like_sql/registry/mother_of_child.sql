-- Each child's identified mother at T (rules v1, "Mother of a child"), with the basis it rests on:
--   postpartum_questionnaire  the mother of the child's most recent postpartum questionnaire row (on or before T);
--   household                 else the one female household member who is 世帯主 or 妻 when the child is 子
--                             (子 or 子の妻 when the child is 孫), 13–55 completed years older than the child.
-- The mother must be 住民 at T; two household candidates mean no mother is identified.
WITH latest_questionnaire AS (
    SELECT q.child_resident_id, q.mother_resident_id
    FROM stg_sango_shitsumon AS q
    WHERE q.assessed_on <= getvariable('as_of')
    QUALIFY row_number() OVER (PARTITION BY q.child_resident_id ORDER BY q.assessed_on DESC, q._row DESC) = 1
),
pair AS (
    SELECT l.child_resident_id, l.mother_resident_id
    FROM latest_questionnaire AS l
    JOIN persons AS m ON m.resident_id = l.mother_resident_id AND m.status = '住民'
    JOIN persons AS c ON c.resident_id = l.child_resident_id
),
household_candidates AS (
    SELECT c.resident_id AS child_resident_id, m.resident_id AS mother_resident_id
    FROM persons AS c
    JOIN persons AS m ON m.household_id = c.household_id AND m.resident_id <> c.resident_id
    WHERE m.sex = '女' AND m.status = '住民'
      AND ((c.relationship = '子' AND m.relationship IN ('世帯主', '妻'))
        OR (c.relationship = '孫' AND m.relationship IN ('子', '子の妻')))
      AND age_at(m.birth_date, c.birth_date) BETWEEN 13 AND 55
),
household AS (
    SELECT h.child_resident_id, min(h.mother_resident_id) AS mother_resident_id
    FROM household_candidates AS h
    GROUP BY h.child_resident_id
    HAVING count(*) = 1
)
SELECT p.child_resident_id, p.mother_resident_id, 'postpartum_questionnaire' AS basis
FROM pair AS p
UNION ALL
SELECT h.child_resident_id, h.mother_resident_id, 'household' AS basis
FROM household AS h
WHERE h.child_resident_id NOT IN (SELECT child_resident_id FROM pair)
