"""Files other systems and people read (spec/outputs.md): names and columns are a contract."""
