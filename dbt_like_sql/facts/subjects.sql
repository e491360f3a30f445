-- Subjects at T (rules v1, "Terms"):
--   child            a resident (status 住民) aged 0–17 at T (満年齢);
--   expectant_mother a pregnancy notice with notified_on <= T <= due_date and no resident child born of it
--                    (a child whose identified mother is her, born within ±45 days of the due date);
--                    with several such notices, the latest notified one. A 16-year-old may be both.
WITH open_notices AS (
    SELECT
        n.mother_resident_id,
        n.notified_on,
        n.due_date,
        n._file,
        n._sha256,
        n._row,
        row_number() OVER (PARTITION BY n.mother_resident_id ORDER BY n.notified_on DESC, n._row DESC) AS newest
    FROM stg_ninshin_todoke AS n
    WHERE n.notified_on <= getvariable('as_of')
      AND getvariable('as_of') <= n.due_date
      AND NOT EXISTS (
          SELECT 1
          FROM mother_of_child AS m
          JOIN persons AS c ON c.resident_id = m.child_resident_id
          WHERE m.mother_resident_id = n.mother_resident_id
            AND abs(date_diff('day', c.birth_date, n.due_date)) <= 45
      )
)
SELECT
    p.resident_id AS subject_resident_id,
    'child' AS subject_type,
    p.age AS age,
    p.birth_date AS birth_date,
    NULL::DATE AS due_date,
    'jumin' AS feed,
    p._file AS source_file,
    p._sha256 AS source_sha256,
    p._row AS source_row
FROM persons AS p
WHERE p.status = '住民' AND p.age BETWEEN 0 AND 17
UNION ALL
SELECT
    o.mother_resident_id AS subject_resident_id,
    'expectant_mother' AS subject_type,
    p.age AS age,
    p.birth_date AS birth_date,
    o.due_date AS due_date,
    'ninshin_todoke' AS feed,
    o._file AS source_file,
    o._sha256 AS source_sha256,
    o._row AS source_row
FROM open_notices AS o
LEFT JOIN persons AS p ON p.resident_id = o.mother_resident_id
WHERE o.newest = 1
