"""The assistant (seed 000 section 1, seed 001 section 5): explanations of alerts and runs,
similar-case narratives and escalation drafts, generated through litellm in background jobs,
grounded only in the structured data, with PII redacted before a prompt leaves the process.
Off (kill switch, AGENT_SAFE_MODE, no model, budget spent) or failing, it degrades to the
deterministic structured explanation; triage, cases and workflow never wait on it."""
