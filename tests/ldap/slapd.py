"""A real OpenLDAP ``slapd`` on a free loopback port, with its own temporary configuration.

Used by the LDAP tests and by ``bench/ldap_sync.py``. The Debian packages ``slapd`` and ``ldap-utils`` are
installed when missing (we run as root on the project's machines and in CI)::

    DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils
    (apt-get update first when that fails)

How (measured in ``shared/docs/measurements.md``): write cn=config with ``slapadd -n0 -F DIR``, preload
entries with ``slapadd -q -n1 -F DIR``, then start ``slapd -d 0 -F DIR -h ldap://127.0.0.1:PORT`` in the
foreground and wait until it accepts a bind. ``stop`` terminates exactly the process it started.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ADMIN_DN", "ADMIN_PASSWORD", "BASE_DN", "PEOPLE_DN", "Slapd", "employment_value", "ensure_slapd_installed",
           "person_dn", "staff_ldif"]

BASE_DN = "dc=region,dc=test"
PEOPLE_DN = f"ou=people,{BASE_DN}"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "admin-secret"  # a throwaway directory on loopback, for tests only
SCHEMA_DIR = Path("/etc/ldap/schema")
TEST_SCHEMA = Path(__file__).with_name("nhn-test-schema.ldif")
SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "slapd", "ldap-utils"]


def ensure_slapd_installed() -> None:
    """Install Debian's slapd and ldap-utils unless present; ``apt-get update`` once if the install fails."""
    if Path(SLAPD).exists() and Path(SLAPADD).exists():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(INSTALL, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
        subprocess.run(INSTALL, env=env, capture_output=True, check=True)


def _config_ldif(directory: Path) -> str:
    includes = "\n".join(
        f"include: file://{SCHEMA_DIR / name}" for name in ("core.ldif", "cosine.ldif", "inetorgperson.ldif")
    )
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {directory}/slapd.pid

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}
include: file://{TEST_SCHEMA}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: 500

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE_DN}
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PASSWORD}
olcDbDirectory: {directory}/data
olcDbMaxSize: 2147483648
olcDbIndex: objectClass eq
olcDbIndex: modifyTimestamp eq
olcDbNoSync: TRUE
olcAccess: {{0}}to * by * read
"""


_BASE_ENTRIES = f"""dn: {BASE_DN}
objectClass: dcObject
objectClass: organization
dc: region
o: Test region

dn: {PEOPLE_DN}
objectClass: organizationalUnit
ou: people

"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Slapd:
    """One running slapd. The size limit is 500 entries a search, so a sync must page to see them all."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, directory: Path, *, entries_ldif: str = "") -> Slapd:
        """Configure slapd in ``directory`` (created), preload the base and ``entries_ldif``, start it."""
        ensure_slapd_installed()
        config = directory / "slapd.d"
        for path in (config, directory / "data"):
            path.mkdir(parents=True, exist_ok=True)
        (directory / "config.ldif").write_text(_config_ldif(directory))
        subprocess.run([SLAPADD, "-n0", "-F", str(config), "-l", str(directory / "config.ldif")],
                       check=True, capture_output=True)
        (directory / "entries.ldif").write_text(_BASE_ENTRIES + entries_ldif)
        subprocess.run([SLAPADD, "-q", "-n1", "-F", str(config), "-l", str(directory / "entries.ldif")],
                       check=True, capture_output=True)
        port = _free_port()
        process = subprocess.Popen([SLAPD, "-d", "0", "-F", str(config), "-h", f"ldap://127.0.0.1:{port}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server = cls(directory=directory, port=port, process=process)
        server._wait_ready()
        return server

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"slapd exited with {self.process.returncode}: {error[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"slapd did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _line(name: str, value: str) -> str:
    # LDIF (RFC 2849): values that are not plain ASCII, or start with a space, colon or '<', go base64.
    if value.isascii() and value and value[0] not in " :<" and "\n" not in value:
        return f"{name}: {value}\n"
    return f"{name}:: {base64.b64encode(value.encode()).decode()}\n"


def employment_value(job: dict[str, Any]) -> str:
    """One ``nhnEmployment`` value for an employment of the region's hr_staff.json."""
    value = (f"position={job['position_code']};legalEntity={job['legal_entity']};"
             f"pointOfCare={job['point_of_care']};department={job['department']};start={job['start_date']}")
    return value + (f";end={job['end_date']}" if job.get("end_date") else "")


def person_dn(person: dict[str, Any]) -> str:
    return f"uid={person['employee_id'].lower()},{PEOPLE_DN}"


def staff_ldif(persons: list[dict[str, Any]]) -> str:
    """LDIF entries (inetOrgPerson + nhnHealthPerson) for people of the region's hr_staff.json."""
    out: list[str] = []
    for person in persons:
        lines = [f"dn: {person_dn(person)}\n", "objectClass: inetOrgPerson\n", "objectClass: nhnHealthPerson\n",
                 _line("uid", person["employee_id"].lower()),
                 _line("cn", f"{person['given_name']} {person['family_name']}"),
                 _line("sn", person["family_name"]), _line("givenName", person["given_name"]),
                 _line("employeeNumber", person["employee_id"]), _line("norEduPersonNIN", person["national_id"])]
        if person.get("hpr_number"):
            lines.append(_line("nhnHprNumber", person["hpr_number"]))
        if person.get("address"):
            lines.append(_line("postalAddress", person["address"]))
        lines += [_line("nhnEmployment", employment_value(job)) for job in person["employments"]]
        out.append("".join(lines) + "\n")
    return "".join(out)
