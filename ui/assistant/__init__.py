"""The assistant face of the UI: the panel of alert, case and run pages, and the usage page."""
