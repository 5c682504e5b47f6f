"""The emulator's REST endpoints, one module per area of the client's API (`add_routes` in each)."""
