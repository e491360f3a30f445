-- The pregnancy notice each subject's pregnancy rules read (R05, R06, R08, R09):
--   child            "pregnancy of the child": of its identified mother's notices (notified on or before T),
--                    the one whose due date is closest to the child's birth date, within ±45 days inclusive;
--   expectant_mother the notice that makes her a subject (the latest open one, see `subjects`).
WITH candidates AS (
    SELECT
        m.subject_resident_id,
        m.subject_type,
        m.age,
        m.mother_resident_id,
        n.*,
        row_number() OVER (
            PARTITION BY m.subject_resident_id
            ORDER BY abs(date_diff('day', m.birth_date, n.due_date)), n.notified_on DESC, n._row
        ) AS closest
    FROM subject_mothers AS m
    JOIN stg_ninshin_todoke AS n ON n.mother_resident_id = m.mother_resident_id
    WHERE m.subject_type = 'child'
      AND n.notified_on <= getvariable('as_of')
      AND abs(date_diff('day', m.birth_date, n.due_date)) <= 45
)
SELECT
    subject_resident_id, subject_type, age, mother_resident_id, notified_on, due_date, weeks_at_notification,
    feeling, has_confidant, psychiatric_history, _file, _sha256, _row
FROM candidates
WHERE closest = 1
UNION ALL
SELECT
    s.subject_resident_id, s.subject_type, s.age, n.mother_resident_id, n.notified_on, n.due_date,
    n.weeks_at_notification, n.feeling, n.has_confidant, n.psychiatric_history, n._file, n._sha256, n._row
FROM subjects AS s
JOIN stg_ninshin_todoke AS n ON n._sha256 = s.source_sha256 AND n._row = s.source_row
WHERE s.subject_type = 'expectant_mother'
