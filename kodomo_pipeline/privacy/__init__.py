"""Privacy measures (APPI as applied to local governments): leak guard, retention and purge, access record."""
