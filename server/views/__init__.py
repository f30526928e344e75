"""Saved views of the alert queue and the runs ledger, and their governance: personal, team
and standard views, promotion to standard through two reviews (seed 000 section 3)."""
