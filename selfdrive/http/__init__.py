"""The HTTP face: Starlette routes, auth, request and response types."""
