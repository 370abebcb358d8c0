"""The vocabulary every part of the suite shares, at the bottom of the imports:
cases, the loss catalog, dtypes, tolerances, records and their outcomes, known
findings, the schema checker and whole-file writing. It imports no other part of
the project."""
