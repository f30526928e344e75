""" "My work": what is waiting for one person (the home page and the GraphQL `myWork`)."""
