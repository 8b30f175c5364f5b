"""Who is calling, and may they: API keys, and authorization that denies by default.

- ``keys``: issuing keys and verifying them (the only module that reads ``api_keys``).
- ``caches``: what each process remembers of keys it checked, to spare the database.
- ``access``: the marks views carry (who besides admins may call them), and the
  request hooks that identify the caller and enforce the marks.
"""
