"""The webhook relay sidecar: verify callbacks, store them durably, acknowledge, forward them downstream.

Modules, in the order a request meets them:
  settings     RelaySettings (the `relay:` section of onprem.yaml) and reading relay.yaml
  secretfiles  reading the secrets the settings name by file path
  server       aiohttp routes: /webhooks/onprem/<token>, /webhooks/cloud, /healthz, /metrics
  verify       X-Hub-Signature(-256), verify token and path token checks (pure, constant-time)
  payload      content type, gzip, JSON, shape and de-duplication key of a body (pure)
  store/       durable store: records, the Store and DeadLetterAdmin protocols, open_store/open_admin;
               SQLite WAL with group commit (embedded) or Redis Streams (replicas); see store/__init__.py
  delivery     the dispatcher: fan-out to endpoints, workers, the poller of due retries
  policy       backoff with jitter, Retry-After, 410, dead letters (pure)
  signing      Standard Webhooks signatures (pure)
  http1        the keep-alive HTTP/1.1 client deliveries use
  metrics      the relay's own Prometheus registry
  publictls    relay.public: the listener's certificate, swapped in place for new handshakes
  http01       relay.public: the plain HTTP listener (ACME HTTP-01 answers, redirect to https)
  acmeissue    relay.public: ordering a certificate with certbot's `acme` library; state files 0600
  renewal      relay.public: when to renew (pure) and the background renewer with backoff
  service      assembly and lifetime of a running relay
  cli          `onprem relay serve | dlq list | replay` (dead letters through open_admin, any backend)
"""
