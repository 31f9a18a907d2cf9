"""The read-only web view (`tracker serve`): an ASGI app over the same report, history and
ledger functions as the CLI. ``app.create_app`` builds it; ``api`` serves the JSON under
``/api/``, ``pages`` the HTML. Starlette, uvicorn and Jinja2 are imported only here, so
`tracker --help` never loads them."""
