"""Foundation figures, measured side by side in one run on this machine:

- `onprem deploy` wall time over `docker compose up -d --wait` on the same bundle (images prebuilt);
- a no-op re-deploy;
- `onprem --help` start-up, beside a bare `python -c pass`;
- rendering a 32-shard multiconnect config, beside a single-instance one.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ONPREM = [PY, "-m", "onprem.cli"]


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def median_of(run: Callable[[], object], n: int) -> float:
    return statistics.median(timed(run) for _ in range(n))


def sh(argv: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def startup() -> tuple[float, float]:
    onprem = ROOT / ".venv" / "bin" / "onprem"
    cli = [str(onprem)] if onprem.exists() else ONPREM
    help_s = median_of(lambda: sh([*cli, "--help"]), 15)
    floor = median_of(lambda: sh([PY, "-c", "pass"]), 15)
    return help_s, floor


def render_times() -> tuple[float, float]:
    sys.path.insert(0, str(ROOT))
    from onprem.config import load_settings
    from onprem.render import read_kit, render

    kit = read_kit()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "onprem.yaml"
        path.write_text("client:\n  mode: multiconnect\n  shards: 32\n")

        def big() -> None:
            render(load_settings(path, environ={}, cwd=Path(tmp)).settings, kit=kit)

        def small() -> None:
            render(load_settings(None, environ={}, cwd=Path(tmp)).settings, kit=kit)

        big()  # warm imports and template caches once, as a second run in the CLI would not need to
        return median_of(big, 20), median_of(small, 20)


def deploy_times() -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "onprem.yaml").write_text(
            "deployment:\n  name: bench-deploy\nnetwork:\n  web_port: 19090\n  relay_port: 18443\n"
            "  exporter_port: 19108\n  prometheus_port: 19091\n"
        )
        bundle = work / ".onprem" / "bench-deploy" / "bundle"
        compose = [
            "docker",
            "compose",
            "--project-directory",
            str(bundle),
            "-f",
            str(bundle / "compose.yaml"),
            "-p",
            "bench-deploy",
        ]
        down = [*compose, "down", "--volumes", "--remove-orphans"]
        sh([*ONPREM, "render"], cwd=work)
        compose_s, deploy_s = [], []
        try:
            for _ in range(2):
                sh(down)
                compose_s.append(timed(lambda: sh([*compose, "up", "-d", "--wait", "--wait-timeout", "300"])))
                sh(down)
                (work / ".onprem" / "bench-deploy" / "deployed.json").unlink(missing_ok=True)
                deploy_s.append(timed(lambda: sh([*ONPREM, "deploy"], cwd=work)))
            noop = median_of(lambda: sh([*ONPREM, "deploy"], cwd=work), 3)
        finally:
            sh(down)
        return statistics.median(deploy_s), statistics.median(compose_s), noop


def main() -> int:
    help_s, floor = startup()
    big, small = render_times()
    deploy_s, compose_s, noop = deploy_times()
    rows = [
        (
            "onprem deploy / docker compose up -d --wait",
            f"{deploy_s:.2f} s / {compose_s:.2f} s",
            f"{deploy_s / compose_s:.2f}x",
            "<= 1.2x",
            deploy_s / compose_s <= 1.2,
        ),
        ("no-op re-deploy", f"{noop:.2f} s", "", "<= 2 s", noop <= 2.0),
        (
            "onprem --help start-up (python -c pass)",
            f"{help_s * 1000:.0f} ms ({floor * 1000:.0f} ms)",
            f"{help_s / floor:.1f}x",
            "<= 0.3 s",
            help_s <= 0.3,
        ),
        (
            "render 32-shard multiconnect (single)",
            f"{big * 1000:.1f} ms ({small * 1000:.1f} ms)",
            f"{big / small:.1f}x",
            "<= 0.2 s",
            big <= 0.2,
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'measured':<24} {'ratio':<7} {'target':<9} ok")
    for name, value, ratio, target, ok in rows:
        print(f"{name.ljust(width)}  {value:<24} {ratio:<7} {target:<9} {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
