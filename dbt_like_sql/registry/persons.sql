-- The registry at T as the master person index: every person of the 住民基本台帳 snapshot in force at T
-- (moved out and deceased included: `status`), with the completed age (満年齢, macro age_at) at T.
SELECT
    j.resident_id,
    j.household_id,
    j.name_kanji,
    j.name_kana,
    j.birth_date,
    j.sex,
    j.relationship,
    j.address,
    j.resident_since,
    j.status,
    j.status_date,
    age_at(j.birth_date, getvariable('as_of')) AS age,
    getvariable('as_of') AS as_of,
    j._file,
    j._sha256,
    j._row
FROM stg_jumin AS j
