"""The v1 HTTP API of TRIS (FastAPI): app factory, routers, schemas, dependencies, errors."""
