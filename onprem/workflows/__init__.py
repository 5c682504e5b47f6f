"""Step sequences, each over a `Deployment` (they use its parts; they never build them).

deploy      validate, render, launch, gate, bootstrap, record; `config` checks; `render`
gate        the one health gate (containers healthy and /v1/health answering), restarts
bootstrap   the admin password and the `bootstrap:` steps deploy runs
status      the status document and table, logs
down        removing the containers (and volumes)
registration, account, certs, webhooks, backup    the day-one operations
operation   a changing command as one operation: the lock on this machine and each host, its audit line
locks       `lock status`, `lock release` and `audit`: the locks and audit logs seen from here
"""
