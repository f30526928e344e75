"""GraphQL of saved views and their promotion."""
