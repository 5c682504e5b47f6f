"""onprem: deploy and operate the self-hosted WhatsApp Business API client on Docker.

Imports point one way (pyproject.toml's import-linter contracts keep them so):

    cli/          click commands: parse, build the Deployment, call one workflow, print
    workflows/    step sequences over a Deployment: deploy, status, down, gate, bootstrap, the day-one flows
    deployment.py the one handle: config, state directory, secrets, engine, API access
    api/ engine/ render.py secrets.py state.py audit.py    the parts: the client's REST API, Docker
                  engines, settings -> bundle, secret sources, the state directory's files, audit lines
    offline/      offline bundles: one file carrying the rendered files and images to a site that cannot pull
    bundle.py config.py config_source.py          the bundle on disk, typed settings, where they come from
    chain.py archive.py hostfiles.py pki.py tokens.py lock.py    helpers: certificate chains, backup
                  archives, a host's files (lock, audit log), certificates, login tokens, lock holders
    errors.py     one exception tree with exit codes

Beside them, importing none of the deploy side: relay/, exporter/, emulator/ and sidecar.py, the
processes that run in containers.
"""

__version__ = "0.1.0"
