-- The review meeting's alerts at T: every subject × difficulty type at level A, B or C.
--   alert_id   stable across runs for the same subject and type: kept in `alert_ids` once given; a new one is
--              alert_id_for(…), an HMAC with the town's key (the same in a rebuilt database, reveals nobody);
--   change     against the previous run (the newest earlier T in `alert_history`): 新規 / 上昇 / 継続 / 低下,
--              by level first, then score;
--   suppressed a 対応不要 decision (taio_kekka, the newest decision on or before T) holds until the score rises
--              above, or an indicator fires beyond, what the alert had at the review (the newest run on or before
--              the review date). Suppressed alerts stay here and in the history but are not exported.
WITH current AS (
    SELECT * FROM risk_scores WHERE level IS NOT NULL
),
previous AS (
    SELECT h.alert_id, h.level, h.score
    FROM alert_history AS h
    WHERE h.as_of = (SELECT max(as_of) FROM alert_history WHERE as_of < getvariable('as_of'))
),
decision AS (
    SELECT alert_id, decision, reviewed_on
    FROM stg_taio_kekka
    WHERE reviewed_on <= getvariable('as_of')
    QUALIFY row_number() OVER (PARTITION BY alert_id ORDER BY reviewed_on DESC, _row DESC) = 1
),
at_review AS (
    SELECT d.alert_id, h.score, h.indicators
    FROM decision AS d
    JOIN alert_history AS h ON h.alert_id = d.alert_id AND h.as_of <= d.reviewed_on
    QUALIFY row_number() OVER (PARTITION BY d.alert_id ORDER BY h.as_of DESC) = 1
),
identified AS (
    SELECT
        coalesce(i.alert_id, alert_id_for(c.subject_resident_id, c.subject_type, c.type_code)) AS alert_id,
        c.*
    FROM current AS c
    LEFT JOIN alert_ids AS i
        ON i.subject_resident_id = c.subject_resident_id AND i.subject_type = c.subject_type
       AND i.type_code = c.type_code
)
SELECT
    c.alert_id,
    c.subject_resident_id,
    c.subject_type,
    c.difficulty_type,
    c.type_code,
    c.level,
    c.score,
    c.indicators,
    c.not_linked,
    c.known_case,
    CASE
        WHEN p.alert_id IS NULL THEN '新規'
        WHEN p.level > c.level OR (p.level = c.level AND c.score > p.score) THEN '上昇'
        WHEN p.level < c.level OR (p.level = c.level AND c.score < p.score) THEN '低下'
        ELSE '継続'
    END AS change,
    (SELECT any_value(version) FROM rule_set) AS rule_set_version,
    CAST(getvariable('as_of') AS DATE) AS as_of,
    coalesce(
        d.decision = '対応不要'
        AND c.score <= coalesce(r.score, c.score)
        AND list_has_all(string_split(coalesce(r.indicators, c.indicators), ';'), string_split(c.indicators, ';')),
        false
    ) AS suppressed,
    c.economic_only
FROM identified AS c
LEFT JOIN previous AS p ON p.alert_id = c.alert_id
LEFT JOIN decision AS d ON d.alert_id = c.alert_id
LEFT JOIN at_review AS r ON r.alert_id = c.alert_id
