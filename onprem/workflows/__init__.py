"""Step sequences (deploy, bootstrap, status, down). They take clients; they never build them."""
