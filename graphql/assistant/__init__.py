"""GraphQL of the assistant: asking for answers, reading and rating them, usage and cost."""
