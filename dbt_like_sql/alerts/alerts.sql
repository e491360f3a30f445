-- The review meeting's alerts at T: every subject × difficulty type at level A, B or C.
-- The lifecycle is data: rules/alert_lifecycle.yaml (labels read as variables) and docs/alert_lifecycle.md.
--   alert_id   stable across runs for the same subject and type: kept in `alert_ids` once given; a new one is
--              alert_id_for(…), an HMAC with the town's key (the same in a rebuilt database, reveals nobody);
--   change     against the previous run (the newest earlier T in `alert_runs`, even one without alerts):
--              new / risen / same / fallen (新規 / 上昇 / 継続 / 低下), by level first, then score;
--   suppressed the newest decision on or before T (taio_decisions) is `suppressing_decision` (対応不要), it is
--              tied to a state the meeting saw, the alert was on every list since (a 対応不要 ends when the alert
--              falls below C), the score is at most that state's and every indicator was in it.
--              An untied decision (unknown alert, dated before the alert was shown) hides nothing. Suppressed
--              alerts stay here and in the history but are not exported;
--   reshown    why an alert is on the list although the meeting dismissed it (lifted_by_indicator: an indicator
--              the meeting did not see, whatever the score; lifted_by_score: a higher score), or although the
--              previous run did not have it (returned: it was below C); with new_indicators, decided_on,
--              reviewed_score and last_shown for the meeting list's words.
WITH current AS (
    SELECT * FROM risk_scores WHERE level IS NOT NULL
),
runs AS (
    SELECT DISTINCT as_of
    FROM (SELECT as_of FROM alert_runs UNION ALL SELECT as_of FROM alert_history) AS runs
    WHERE as_of < getvariable('as_of')
),
previous AS (
    SELECT h.alert_id, h.level, h.score
    FROM alert_history AS h
    WHERE h.as_of = (SELECT max(as_of) FROM runs)
),
last_shown AS (
    SELECT alert_id, max(as_of) AS as_of
    FROM alert_history
    WHERE as_of < getvariable('as_of')
    GROUP BY alert_id
),
decision AS (
    SELECT
        d.*,
        -- the alert stayed on every list since the state the meeting saw: a 対応不要 ends when it falls below C
        (SELECT count(*) FROM runs AS r WHERE r.as_of > d.seen_as_of)
        = (SELECT count(*) FROM alert_history AS h
           WHERE h.alert_id = d.alert_id AND h.as_of > d.seen_as_of AND h.as_of < getvariable('as_of'))
            AS unbroken
    FROM taio_decisions AS d
    QUALIFY row_number() OVER (PARTITION BY d.alert_id ORDER BY d.reviewed_on DESC, d._row DESC) = 1
),
identified AS (
    SELECT
        coalesce(i.alert_id, alert_id_for(c.subject_resident_id, c.subject_type, c.type_code)) AS alert_id,
        c.*
    FROM current AS c
    LEFT JOIN alert_ids AS i
        ON i.subject_resident_id = c.subject_resident_id AND i.subject_type = c.subject_type
       AND i.type_code = c.type_code
),
judged AS (
    SELECT
        c.*,
        p.alert_id IS NOT NULL AS in_previous,
        p.level AS previous_level,
        p.score AS previous_score,
        l.as_of AS last_shown,
        -- 対応不要 tied to a state the meeting saw (an untied decision carries no reviewed state)
        coalesce(d.decision = getvariable('suppressing_decision') AND d.problem IS NULL AND d.unbroken, false)
            AS dismissed,
        d.reviewed_on AS decided_on,
        d.reviewed_score,
        list_filter(
            string_split(c.indicators, ';'),
            lambda rule_id: NOT list_contains(string_split(d.reviewed_indicators, ';'), rule_id)
        ) AS unseen
    FROM identified AS c
    LEFT JOIN previous AS p ON p.alert_id = c.alert_id
    LEFT JOIN last_shown AS l ON l.alert_id = c.alert_id
    LEFT JOIN decision AS d ON d.alert_id = c.alert_id
)
SELECT
    alert_id,
    subject_resident_id,
    subject_type,
    difficulty_type,
    type_code,
    level,
    score,
    indicators,
    not_linked,
    known_case,
    CASE
        WHEN NOT in_previous THEN getvariable('change_new')
        WHEN previous_level > level OR (previous_level = level AND score > previous_score)
            THEN getvariable('change_risen')
        WHEN previous_level < level OR (previous_level = level AND score < previous_score)
            THEN getvariable('change_fallen')
        ELSE getvariable('change_same')
    END AS change,
    (SELECT any_value(version) FROM rule_set) AS rule_set_version,
    CAST(getvariable('as_of') AS DATE) AS as_of,
    dismissed AND score <= reviewed_score AND len(unseen) = 0 AS suppressed,
    economic_only,
    CASE
        WHEN dismissed AND len(unseen) > 0 THEN 'lifted_by_indicator'
        WHEN dismissed AND score > reviewed_score THEN 'lifted_by_score'
        WHEN NOT in_previous AND last_shown IS NOT NULL AND NOT (dismissed AND score <= reviewed_score)
            THEN 'returned'
    END AS reshown,
    CASE WHEN dismissed AND len(unseen) > 0 THEN array_to_string(unseen, ';') END AS new_indicators,
    CASE WHEN dismissed THEN decided_on END AS decided_on,
    CASE WHEN dismissed THEN reviewed_score END AS reviewed_score,
    CASE WHEN NOT in_previous THEN last_shown END AS last_shown
FROM judged
