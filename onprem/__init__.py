"""onprem: deploy and operate the self-hosted WhatsApp Business API client on Docker."""

__version__ = "0.1.0"
