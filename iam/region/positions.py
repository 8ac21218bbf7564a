"""Reference tables for the synthetic region: positions, authorisations and how units are staffed.

The position codes are ours (the HR feed's ``position_code``); the authorisation codes are from
Helsedirektoratet's code list 9060 "Kategori helsepersonell" (OID 2.16.578.1.12.4.1.1.9060).
``STAFFING`` says, per department ``unit_kind``, how many people a unit of that kind has at scale 1.0
(a relative weight), which position its first employee has, and the mix of positions for the rest.
The sectors a position may work in follow from that table (``sectors_for``), so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "POSITIONS",
    "STAFFING",
    "Position",
    "Staffing",
    "sectors_for",
]


@dataclass(frozen=True, slots=True)
class Position:
    """One position code of the HR feed.

    ``authorisation`` is the 9060 code an employee in this position must hold in HPR, or "" for an
    unlicensed position. ``extra_authorisations`` are further 9060 codes every holder also has
    (midwives are nurses first). ``female_share`` and ``min_age`` shape the synthetic people
    (roughly the Norwegian workforce; physicians qualify at about 25).
    """

    code: str
    title: str
    authorisation: str
    female_share: float
    min_age: int = 20
    extra_authorisations: tuple[str, ...] = ()


POSITIONS: Final = MappingProxyType(
    {
        p.code: p
        for p in (
            Position("physician", "Lege", "LE", 0.52, min_age=26),
            Position("nurse", "Sykepleier", "SP", 0.88, min_age=22),
            Position("psychologist", "Psykolog", "PS", 0.72, min_age=25),
            Position("physiotherapist", "Fysioterapeut", "FT", 0.62, min_age=23),
            Position("midwife", "Jordmor", "JO", 0.99, min_age=25, extra_authorisations=("SP",)),
            # Authorised as helsefagarbeider (HF); those born before 1975 hold the older
            # hjelpepleier (HP) authorisation instead, see staff.py.
            Position("nurse_assistant", "Helsefagarbeider", "HF", 0.9),
            Position("health_secretary", "Helsesekretær", "HE", 0.95),
            Position("ambulance_worker", "Ambulansearbeider", "AA", 0.35),
            Position("paramedic", "Paramedisiner", "PM", 0.4, min_age=22),
            Position("care_assistant", "Pleieassistent", "", 0.8, min_age=18),
        )
    }
)


@dataclass(frozen=True, slots=True)
class Staffing:
    """How a department of one ``unit_kind`` is staffed.

    ``headcount`` is a relative weight (about the head count at scale 1.0); ``primary`` is the
    position of the first person placed in every unit of this kind, so each unit has at least one
    person who can carry its core work; ``mix`` weights the positions of everyone else.
    """

    sector: str
    headcount: float
    primary: str
    mix: tuple[tuple[str, int], ...]


STAFFING: Final = MappingProxyType(
    {
        "ward": Staffing(
            "hospital",
            45,
            "nurse",
            (
                ("nurse", 50),
                ("physician", 17),
                ("nurse_assistant", 12),
                ("care_assistant", 8),
                ("health_secretary", 5),
                ("physiotherapist", 3),
            ),
        ),
        "maternity": Staffing(
            "hospital",
            45,
            "midwife",
            (
                ("midwife", 45),
                ("nurse", 22),
                ("physician", 15),
                ("nurse_assistant", 10),
                ("health_secretary", 8),
            ),
        ),
        "outpatient": Staffing(
            "hospital",
            25,
            "physician",
            (
                ("physician", 35),
                ("nurse", 33),
                ("health_secretary", 22),
                ("physiotherapist", 5),
                ("psychologist", 5),
            ),
        ),
        "emergency": Staffing(
            "hospital",
            60,
            "physician",
            (("nurse", 52), ("physician", 33), ("health_secretary", 8), ("nurse_assistant", 7)),
        ),
        "psychiatry": Staffing(
            "hospital",
            35,
            "psychologist",
            (
                ("nurse", 34),
                ("psychologist", 20),
                ("physician", 14),
                ("nurse_assistant", 12),
                ("care_assistant", 10),
                ("health_secretary", 10),
            ),
        ),
        "ambulance_station": Staffing(
            "ambulance",
            30,
            "ambulance_worker",
            (("ambulance_worker", 70), ("paramedic", 20), ("nurse", 10)),
        ),
        "home_care": Staffing(
            "municipality",
            55,
            "nurse",
            (
                ("nurse_assistant", 35),
                ("nurse", 33),
                ("care_assistant", 27),
                ("physiotherapist", 5),
            ),
        ),
        "nursing_home": Staffing(
            "municipality",
            30,
            "nurse",
            (
                ("nurse_assistant", 36),
                ("care_assistant", 32),
                ("nurse", 26),
                ("physician", 3),
                ("physiotherapist", 3),
            ),
        ),
        "emergency_clinic": Staffing(
            "municipality",
            20,
            "physician",
            (("nurse", 50), ("physician", 40), ("health_secretary", 10)),
        ),
        "health_station": Staffing(
            "municipality",
            12,
            "nurse",
            (
                ("nurse", 55),
                ("midwife", 15),
                ("physician", 15),
                ("physiotherapist", 10),
                ("psychologist", 5),
            ),
        ),
        "gp_office": Staffing(
            "gp",
            6,
            "physician",
            (("physician", 55), ("health_secretary", 30), ("nurse", 15)),
        ),
        # The primary position of a specialist practice depends on its specialty (physician or
        # psychologist); organisations.py overrides ``primary`` per unit and uses it in the mix.
        "specialist_practice": Staffing(
            "specialist",
            2,
            "physician",
            (("physician", 55), ("health_secretary", 45)),
        ),
        "physiotherapy_practice": Staffing(
            "physiotherapy",
            1.2,
            "physiotherapist",
            (("physiotherapist", 92), ("health_secretary", 8)),
        ),
    }
)


def sectors_for(position_code: str) -> frozenset[str]:
    """The sectors in which ``position_code`` occurs in ``STAFFING`` (including specialist psychologists)."""
    sectors = {
        s.sector
        for s in STAFFING.values()
        if s.primary == position_code or any(code == position_code for code, _ in s.mix)
    }
    if position_code == "psychologist":
        sectors.add("specialist")
    return frozenset(sectors)
