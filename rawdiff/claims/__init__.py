"""The claims scorecard: the CSV contract and verdict rules (scorecard), shared helpers (common), the DiffRAW rules
(diffraw) and the DiD rules (did).  rawdiff.claims.scorecard.write_scorecard writes ``claims.md``."""
