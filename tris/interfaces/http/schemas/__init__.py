"""Request (`XCreate`) and response (`XView`) schemas of the v1 HTTP API."""
