"""Day-one operations on a deployed client: registration, two-step, certificates, webhooks, backups,
users and a smoke-test message. Workflows (one module per area) take clients and never build them;
`onprem.ops.cli` builds them from the config and the state directory."""
