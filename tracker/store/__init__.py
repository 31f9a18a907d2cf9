"""The store: ``engine`` (engines, sessions, driver errors become StoreError), ``queries``
(keyword-only reads and writes, no rules), ``migrate`` (open, refuse, migrate, seed) and the
Alembic ``migrations``."""
