"""Privacy measures (APPI as applied to local governments).

`services/`: what the pipeline and the CLI call (keyed pseudonyms and their key, the access log, the leak guard,
retention and purge, disclosure profiles); `reports/`: what privacy reviewers read; `commands.py`: `kodomo purge`
and `kodomo audit`.
"""
