-- Every fact that made an indicator fire at T, from every indicator model: the rows `explain` follows back to
-- the source files. All indicator models return the `indicator` contract of indicators/schema.yaml (subject,
-- rule, hit, points per type, provenance), checked when each runs; they are combined BY NAME, never by
-- position, so the order of columns in one file cannot move points to another difficulty type.
-- Only rules linked at T count: a rule 未連携 tonight (a column it reads is missing from a file in force) is
-- listed in risk_scores.not_linked instead, since its empty column would read as "no" (rules/column_gaps.py).
WITH hits AS (
SELECT * FROM ind_consultations
UNION ALL BY NAME SELECT * FROM ind_known_case
UNION ALL BY NAME SELECT * FROM ind_checkups
UNION ALL BY NAME SELECT * FROM ind_checkup_findings
UNION ALL BY NAME SELECT * FROM ind_pregnancy
UNION ALL BY NAME SELECT * FROM ind_prenatal_visits
UNION ALL BY NAME SELECT * FROM ind_young_mother
UNION ALL BY NAME SELECT * FROM ind_economic
UNION ALL BY NAME SELECT * FROM ind_mother_mental
UNION ALL BY NAME SELECT * FROM ind_postpartum
UNION ALL BY NAME SELECT * FROM ind_nursery
UNION ALL BY NAME SELECT * FROM ind_attendance
UNION ALL BY NAME SELECT * FROM ind_moved_in
UNION ALL BY NAME SELECT * FROM ind_certificates
UNION ALL BY NAME SELECT * FROM ind_school_roster
)
SELECT h.* FROM hits AS h
WHERE h.rule_id IN (SELECT rule_id FROM rule_set WHERE linked)
