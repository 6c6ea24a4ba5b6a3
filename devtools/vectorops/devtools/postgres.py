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

        subprocess.run(
            cls._as_owner([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync"]),
            check=True,
            capture_output=True,
        )
        pg = cls(bin_dir=bin_dir, workdir=workdir, port=port, user=user)
        pg.resume()
        return pg

    def resume(self) -> None:
        """Start the server on its data folder and port (after `stop(keep_data=True)`)."""
        subprocess.run(
            self._as_owner(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.workdir / "data"),
                    "-l",
                    str(self.workdir / "postgres.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, keep_data: bool = False) -> None:
        """Stop the server (connections are cut at once); `keep_data`: leave the cluster to resume()."""
        subprocess.run(
            self._as_owner(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.workdir / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ]
            ),
            capture_output=True,
        )
        if not keep_data:
            shutil.rmtree(self.workdir, ignore_errors=True)
