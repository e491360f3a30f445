"""Privacy services the pipeline calls: keyed pseudonyms and their key, the access log, the leak guard, retention
and purge, disclosure profiles."""
