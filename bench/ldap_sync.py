"""Full LDAP sync of the scale-1.0 region (40,000 staff) from a real OpenLDAP slapd (target: under 30 s).

    .venv/bin/python bench/ldap_sync.py [--scale 1.0] [--database-url URL]

Generates the region, preloads slapd with one entry per person (``slapadd``), loads the organisation
register and the HPR extract, then times: ldap3 paging alone (the floor), the first full sync (40,000
joiners), and a second full sync (no changes). Prints the numbers and the machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iam.db import make_engine, make_session_factory, upgrade
from iam.db.base import utc_now
from iam.region import generate
from provisioning.hpr import FileLicenceRegister, sync_licences
from provisioning.ldap.config import LdapConfig
from provisioning.ldap.directory import connect, search_people
from provisioning.ldap.sync import sync_directory
from provisioning.orgs import apply_organisations, plan_organisations, read_organisations
from tests.ldap.slapd import ADMIN_DN, ADMIN_PASSWORD, PEOPLE_DN, Slapd, staff_ldif


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ldap-bench-"))
    generate(work / "region", scale=args.scale, seed=1)
    persons = json.loads((work / "region" / "hr_staff.json").read_text())["persons"]
    started = time.perf_counter()
    slapd = Slapd.start(work / "slapd", entries_ldif=staff_ldif(persons))
    print(f"slapd preloaded with {len(persons)} entries in {time.perf_counter() - started:.1f} s")
    url = args.database_url or f"sqlite:///{work / 'iam.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        apply_organisations(session, plan_organisations(session, read_organisations(work / "region" /
                                                                                    "organisations.csv")),
                            actor="bench")
        sync_licences(session, FileLicenceRegister(work / "region" / "hpr.csv").all(), source="bench", at=utc_now())
    os.environ["IAM_BENCH_LDAP_PASSWORD"] = ADMIN_PASSWORD
    config = LdapConfig.model_validate({
        "source": "ldap-bench",
        "connection": {"url": slapd.url, "bind_dn": ADMIN_DN, "password_env": "IAM_BENCH_LDAP_PASSWORD"},
        "search": {"base": PEOPLE_DN, "filter": "(objectClass=nhnHealthPerson)", "page_size": 1000},
        "attributes": {"national_id": "norEduPersonNIN", "employee_id": "employeeNumber",
                       "hpr_number": "nhnHprNumber", "address": "postalAddress"},
        "employments": {"attribute": "nhnEmployment"},
    })
    try:
        started = time.perf_counter()
        with connect(config) as connection:
            read = sum(1 for _ in search_people(connection, config))
        paging = time.perf_counter() - started
        started = time.perf_counter()
        first = sync_directory(sessions, config, full=True)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        again = sync_directory(sessions, config, full=True)
        again_s = time.perf_counter() - started
    finally:
        slapd.remove()
        engine.dispose()
    load = os.getloadavg()
    print(f"database: {engine.url.get_backend_name()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"ldap3 paged search alone: {read} entries in {paging:.1f} s")
    counts = first.plan.counts()
    print(f"first full sync: {first.entries} entries, {counts['persons_created']} people created, "
          f"{counts['grants']} grants, {len(first.problems)} rejected: {first_s:.1f} s")
    print(f"second full sync (no changes: {again.plan.is_empty}): {again_s:.1f} s")


if __name__ == "__main__":
    main()
