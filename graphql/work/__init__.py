"""GraphQL of "My work": `myWork`, what is waiting for the caller."""
