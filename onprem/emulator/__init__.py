"""The emulated WhatsApp Business On-Premises client: `web` (REST API over HTTPS) and `core` roles.

Both roles read the real client's environment (`WA_DB_*`, `WA_API_KEY`, ...) and share their state
through the configured database, so they can run as separate processes or containers like the real one.
"""
