"""A throwaway PostgreSQL cluster on loopback (initdb + pg_ctl), for `vectorops dev` and tests."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vectorops.devtools.controlplane import free_port


class PostgresNotAvailable(RuntimeError):
    """initdb/pg_ctl are not installed."""


def find_pg_bin() -> Path:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PostgresNotAvailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
    return Path(found[-1]).parent


@dataclass
class LocalPostgres:
    """A running cluster; `dsn` connects as the superuser over TCP on 127.0.0.1."""

    bin_dir: Path
    workdir: Path
    port: int
    user: str

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def _as_owner(args: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root; Debian's package provides a `postgres` user.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    @classmethod
    def start(cls, workdir: Path | None = None) -> LocalPostgres:
        bin_dir = find_pg_bin()
        workdir = Path(workdir or tempfile.mkdtemp(prefix="vectorops-pg-"))
        workdir.mkdir(parents=True, exist_ok=True)
        user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            shutil.chown(workdir, user="postgres")
        data = workdir / "data"
        port = free_port()

        def run(args: list[str]) -> None:
            subprocess.run(cls._as_owner(args), check=True, capture_output=True)

        run([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync"])
        run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(workdir / "postgres.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ]
        )
        return cls(bin_dir=bin_dir, workdir=workdir, port=port, user=user)

    def stop(self) -> None:
        subprocess.run(
            self._as_owner(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.workdir / "data"), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.workdir, ignore_errors=True)
