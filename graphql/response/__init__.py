"""GraphQL of the response loop: acknowledgement, response targets, escalation, incidents."""
