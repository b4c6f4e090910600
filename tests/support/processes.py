"""Real okrbot processes for fault tests and benchmarks, and a PostgreSQL cluster of a
test's own (initdb + pg_ctl on a free port, removed afterwards) to stop and start.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.support.harness import SIGNING_SECRET

OKRBOT = str(Path(sys.executable).with_name("okrbot"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def okrbot_env(api_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of an okrbot process talking to the emulator (no stray settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        DATABASE_URL=database_url,
        HOST="127.0.0.1",
        OKRBOT_TIMEZONE="UTC",
    )
    env.update(extra)
    return env


@dataclass
class Replica:
    """One `okrbot run` process."""

    process: asyncio.subprocess.Process
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                await self.kill()
        return int(self.process.returncode or 0)


async def http_status(url: str) -> int | None:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(url) as response,
        ):
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return None


async def start_replica(env: dict[str, str], log_dir: Path, name: str) -> Replica:
    """Start `okrbot run` on a free port and wait until /healthz answers 200."""
    port = free_port()
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            OKRBOT,
            "run",
            env=env | {"PORT": str(port)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    replica = Replica(process, f"http://127.0.0.1:{port}", log_path)
    for _ in range(300):
        if process.returncode is not None:
            raise AssertionError(f"{name} exited early:\n{replica.log()}")
        if await http_status(f"{replica.url}/healthz") == 200:
            return replica
        await asyncio.sleep(0.1)
    await replica.kill()
    raise AssertionError(f"{name} did not become healthy:\n{replica.log()}")


@asynccontextmanager
async def replicas(env: dict[str, str], count: int, log_dir: Path) -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []
    try:
        started = list(
            await asyncio.gather(
                *(start_replica(env, log_dir, f"replica{i + 1}") for i in range(count))
            )
        )
        yield started
    finally:
        for replica in started:
            await replica.stop()


# A PostgreSQL cluster of the test's own ---------------------------------------------------


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server binary (initdb, pg_ctl) on PATH or in Debian's usual place."""
    found = shutil.which(name)
    if found:
        return found
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / name).exists():
            return str(directory / name)
    return None


@dataclass
class Cluster:
    """A throwaway PostgreSQL server: its data directory, port and admin URL."""

    data_dir: Path
    port: int
    _as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        pg_ctl = postgres_bin("pg_ctl")
        assert pg_ctl is not None
        subprocess.run(
            [*self._as_user, pg_ctl, "-D", str(self.data_dir), "-w", "-t", "60", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off -k {self.data_dir}"
        self._pg_ctl("-o", options, "-l", str(self.data_dir / "server.log"), "start")

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, as when a database restarts."""
        self._pg_ctl("-m", "fast", "stop")


def cluster_problem() -> str | None:
    if postgres_bin("initdb") is None or postgres_bin("pg_ctl") is None:
        return "initdb/pg_ctl not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as another user"
    return None


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """initdb a new cluster in a temporary directory, start it on a free port, and
    stop and remove it afterwards whatever happens."""
    initdb = postgres_bin("initdb")
    assert initdb is not None
    as_user: list[str] = []
    parent = Path(tempfile.mkdtemp(prefix="okrbot-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(parent, "postgres")
    data_dir = parent / "data"
    cluster = Cluster(data_dir, free_port(), as_user)
    try:
        subprocess.run(
            [*as_user, initdb, "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cluster.start()
        yield cluster
    finally:
        with suppress(Exception):
            cluster.stop()
        shutil.rmtree(parent, ignore_errors=True)
