"""riskops.audit: the per-organization, hash-chained, append-only audit trail.

`append` (inside a change's transaction), `emit` (standalone, spooled if the store is down),
`verify_org`, `export_events`, `checkpoint_all`.
"""
