"""The home page: what is waiting for me."""
