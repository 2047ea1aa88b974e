"""The claims scorecard: the CSV contract and verdict rules (scorecard), shared helpers (common), the DTDM rules
(diffraw) with their frontier read-off (frontier), notebook 03's condition and plug-and-play rules (conditions),
the DiD rules (did) and the budget-curve trend (budget).  rawdiff.claims.scorecard.write_scorecard writes
``claims.md``; the rules follow issue 24 ("the rules, fixed here before anyone looks at new data")."""
