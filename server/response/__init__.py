"""The response loop (issue 16): acknowledgement, response targets, escalation and the incident
record of SEV0/SEV1 runs and cases."""
