"""The WhatsApp Cloud API emulator (`onprem emulator cloud`): the Graph API subset a migration from the
On-Premises client and a smoke test need, with its own database and signed outbound webhooks.

It plays Meta, an outside party: it shares nothing with the On-Prem emulator but the backup format
(`onprem.emulator.backup`) and the PIN hashes (`onprem.emulator.passwords`).
"""
