-- Rows of the feeds in force at T that name a resident (or household) the registry at T does not know: kept
-- visible with file and row, never dropped silently. One SELECT per column that names a registry person or
-- household — the list comes from the feed contracts (assets/<feed>.yaml: `type: resident_id`,
-- `references: household`), rendered here by Jinja (sqlmodels/templates.py), so it is never re-typed.
-- The registry itself (jumin) is what the others are checked against.
{%- for ref in person_references if ref.feed != 'jumin' %}
{%- set key = 'resident_id' if ref.kind == 'resident' else 'household_id' %}
{% if not loop.first %}UNION ALL
{% endif -%}
SELECT
    '{{ ref.feed }}' AS feed,
    '{{ ref.column }}' AS column_name,
    r._file AS file_name,
    r._sha256 AS sha256,
    r._row AS row_number,
    'unknown_{{ ref.kind }}' AS reason,
    getvariable('as_of') AS as_of
FROM stg_{{ ref.feed }} AS r
WHERE r.{{ ref.column }} IS NOT NULL AND r.{{ ref.column }} NOT IN (SELECT {{ key }} FROM persons)
{%- endfor %}
