"""Filtered SCIM lists over the scale-1.0 region (40,000 Users): p50/p99 per filter, against ``iam serve``.

    .venv/bin/python bench/scim_list.py [--scale 1.0] [--requests 200] [--database-url URL]

Set-up (not timed): the region's HR file is imported through the provisioning engine, and every person is
given a SCIM User row (userName = employee id, one work email), as if an HR system had created them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import httpx2
from scim_common import load_line, percentile, prepare, serve
from sqlalchemy import insert, select

from iam.db import make_engine, make_session_factory
from iam.db.base import utc_now
from provisioning.imports import import_hr_file
from provisioning.models import PersonRow
from provisioning.scim.models import ScimContactRow, ScimUserRow

HEALTH = "urn:ietf:params:scim:schemas:extension:nhn:2.0:HealthStaff"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scim-list-"))
    url, persons = prepare(work, scale=args.scale, database_url=args.database_url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    import_hr_file(sessions, work / "region" / "hr_staff.json", mode="snapshot", actor="bench", skip_invalid=True,
                   rejects=work / "rejects.json")
    now = utc_now()
    with sessions.begin() as session:
        people = session.execute(select(PersonRow.id, PersonRow.employee_id)).all()
        users = [{"id": str(uuid.uuid4()), "person_id": pid, "user_name": (emp or f"p{pid}").lower(),
                  "created_at": now, "updated_at": now} for pid, emp in people]
        session.execute(insert(ScimUserRow), users)
        session.execute(insert(ScimContactRow), [
            {"user_id": u["id"], "kind": "email", "position": 0, "value": f"{u['user_name']}@region.example",
             "type": "work", "primary": True} for u in users])
    engine.dispose()
    department = persons[len(persons) // 2]["employments"][0]["department"]
    name = persons[len(persons) // 3]["employee_id"].lower()
    filters = {
        "userName eq (one user)": f'userName eq "{name}"',
        "name.familyName sw, sorted, count=50": 'name.familyName sw "Ha"&sortBy=name.familyName&count=50',
        "employments[department eq] (a ward)": f'{HEALTH}:employments[department eq "{department}"]',
        "emails[type eq work and value co]": 'emails[type eq "work" and value co "e0001"]',
        "roles[value eq physician] and active": f'{HEALTH}:roles[value eq "physician"] and active eq true&count=100',
    }
    with serve(url) as (base, token):
        client = httpx2.Client(base_url=f"{base}/scim/v2", headers={"Authorization": f"Bearer {token}"}, timeout=60)
        print(f"database: {url.split(':', 1)[0]}; {len(users)} Users; {load_line()}")
        for label, expression in filters.items():
            query, _, rest = expression.partition("&")
            latencies = []
            total = 0
            for _ in range(args.requests):
                started = time.perf_counter()
                response = client.get(f"/Users?filter={query}{'&' + rest if rest else ''}")
                latencies.append(time.perf_counter() - started)
                total = response.json()["totalResults"]
            print(f"  {label:<40} {total:>6} matches  p50 {percentile(latencies, 0.5) * 1000:7.1f} ms  "
                  f"p99 {percentile(latencies, 0.99) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
