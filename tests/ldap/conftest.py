"""LDAP fixtures: a real slapd holding the staff of a small synthetic region, and a sync config for it.

slapd (Debian ``slapd``) is installed by the fixture when missing; these tests never skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iam.db.base import utc_now
from iam.region import generate
from iam.runtime import Runtime
from provisioning.hpr import FileLicenceRegister, sync_licences
from provisioning.ldap.config import LdapConfig, load_config
from provisioning.orgs import apply_organisations, plan_organisations, read_organisations
from tests.ldap.slapd import ADMIN_DN, ADMIN_PASSWORD, PEOPLE_DN, Slapd, staff_ldif

PASSWORD_ENV = "IAM_TEST_LDAP_PASSWORD"


@pytest.fixture(scope="session")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("region")
    generate(out, scale=0.01, seed=11)
    return out


@pytest.fixture(scope="session")
def staff(region: Path) -> list[dict[str, Any]]:
    persons: list[dict[str, Any]] = json.loads((region / "hr_staff.json").read_text())["persons"]
    return persons


@pytest.fixture
def registers(runtime: Runtime, region: Path) -> None:
    with runtime.sessions.begin() as session:
        apply_organisations(session, plan_organisations(session, read_organisations(region / "organisations.csv")),
                            actor="test")
        sync_licences(session, FileLicenceRegister(region / "hpr.csv").all(), source="test-hpr", at=utc_now())


@pytest.fixture
def slapd(tmp_path: Path, staff: list[dict[str, Any]]) -> Iterator[Slapd]:
    server = Slapd.start(tmp_path / "slapd", entries_ldif=staff_ldif(staff))
    yield server
    server.remove()


CONFIG = """\
source: ldap-test
connection:
  url: {url}
  bind_dn: {bind_dn}
  password_env: {password_env}
search:
  base: {base}
  filter: (objectClass=nhnHealthPerson)
  page_size: 100
attributes:
  national_id: norEduPersonNIN
  employee_id: employeeNumber
  hpr_number: nhnHprNumber
  given_name: givenName
  family_name: sn
  address: postalAddress
employments:
  attribute: nhnEmployment
"""


@pytest.fixture
def config_file(slapd: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PASSWORD)
    path = tmp_path / "ldap.yaml"
    path.write_text(CONFIG.format(url=slapd.url, bind_dn=ADMIN_DN, password_env=PASSWORD_ENV, base=PEOPLE_DN))
    return path


@pytest.fixture
def ldap_config(config_file: Path, registers: None) -> LdapConfig:
    return load_config(config_file)
