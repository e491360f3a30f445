"""Data quality: expectation suites as data (expectations/), run with Great Expectations, Data Docs offline."""
