"""Built-in name lists and the draws that turn a seeded RNG into Norwegian-looking names and places.

Everything here is pure: the same ``random.Random`` state gives the same names. Family names have a
long tail (a few very common "-sen" names plus compound farm names) so that "same surname as the
staff member" is a signal in log review rather than noise. Place names are compounds that do not
name real municipalities, so synthetic data is never mistaken for a real place in the region.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_right
from typing import Final

__all__ = [
    "FEMALE_GIVEN",
    "MALE_GIVEN",
    "NURSING_HOME_WARDS",
    "OUTPATIENT_CLINICS",
    "OUTSIDE_TOWNS",
    "PSYCHIATRY_UNITS",
    "SPECIALIST_PRACTICES",
    "WARDS",
    "draw_family_name",
    "draw_given_name",
    "place_names",
    "street_names",
]

FEMALE_GIVEN: Final = (
    "Anna", "Astrid", "Aurora", "Berit", "Bente", "Camilla", "Eli", "Ella", "Emma", "Elin", "Frida",
    "Gunn", "Hanne", "Hege", "Heidi", "Hilde", "Ida", "Ingrid", "Inger", "Ingeborg", "Julie",
    "Kari", "Karin", "Kristin", "Line", "Linnea", "Liv", "Maja", "Marit", "Mari", "Marte", "Mette",
    "Nora", "Olivia", "Ragnhild", "Randi", "Sara", "Sigrid", "Silje", "Siri", "Solveig", "Sofie",
    "Synnøve", "Thea", "Tone", "Tove", "Turid", "Vilde", "Åse", "Øyunn", "Amina", "Fatima", "Aisha",
    "Zahra", "Agnieszka", "Katarzyna", "Mai", "Linh", "Eva", "Elise",
)

MALE_GIVEN: Final = (
    "Anders", "Arne", "Bjørn", "Daniel", "Einar", "Eirik", "Emil", "Erik", "Espen", "Finn", "Geir",
    "Gunnar", "Hans", "Harald", "Henrik", "Håkon", "Ivar", "Jakob", "Jan", "Jon", "Jonas", "Kjell",
    "Knut", "Kristian", "Lars", "Leif", "Magnus", "Martin", "Mats", "Morten", "Nils", "Noah", "Odd",
    "Ola", "Olav", "Oskar", "Per", "Petter", "Rune", "Sander", "Sindre", "Sigurd", "Stein", "Svein",
    "Terje", "Tor", "Trond", "Vegard", "Øystein", "Åsmund", "Mohammed", "Ali", "Ahmed", "Omar",
    "Piotr", "Tomasz", "Minh", "Filip", "Elias", "Johannes",
)

_COMMON_FAMILY: Final = (
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
    "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
    "Johannessen", "Andreassen", "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Henriksen", "Lund",
    "Sørensen", "Jakobsen", "Moen", "Gundersen", "Iversen", "Strand", "Solberg", "Svendsen", "Eide",
    "Knutsen", "Martinsen", "Paulsen", "Bakken", "Kristoffersen", "Mathisen", "Lie", "Amundsen",
    "Nguyen", "Rasmussen", "Ali", "Lunde", "Solheim", "Berge", "Moe", "Nygård", "Bakke",
    "Kristensen", "Fredriksen", "Holm", "Lien", "Hauge", "Christensen", "Andresen", "Nielsen",
    "Knudsen", "Evensen", "Sæther", "Aas", "Myhre", "Hanssen", "Ahmed", "Haugland", "Thomassen",
    "Sivertsen", "Simonsen", "Danielsen", "Berntsen", "Sandvik", "Rønning", "Arnesen", "Antonsen",
    "Næss", "Vik", "Haug", "Ellingsen", "Thorsen", "Edvardsen", "Birkeland", "Isaksen",
    "Gulbrandsen", "Ruud", "Aasen", "Strøm", "Myklebust", "Tangen", "Ødegård", "Eliassen",
    "Helland", "Bøe", "Jenssen", "Aune", "Mikkelsen", "Tveit", "Brekke", "Abrahamsen", "Madsen",
    "Kowalski", "Nowak", "Tran", "Hussein",
)
# Zipf-like weights: Hansen is far more common than Nowak.
_COMMON_CUM: Final = tuple(itertools.accumulate(1.0 / (i + 4) for i in range(len(_COMMON_FAMILY))))

_FARM_PREFIX: Final = (
    "Aar", "Berg", "Bjør", "Bratt", "Brenn", "Dal", "Eik", "Eng", "Fjell", "Flat", "Fos", "Gran",
    "Grøn", "Haf", "Hol", "Hov", "Kvam", "Lang", "Li", "Lys", "Mel", "Mo", "Mykle", "Ner", "Nord",
    "Rog", "Rok", "Sand", "Sel", "Sk", "Skog", "Sol", "Stav", "Stor", "Sunde", "Søn", "Tors", "Tve",
    "Var", "Ves", "Vol", "Øver", "Ås", "Øy",
)
_FARM_SUFFIX: Final = (
    "aker", "bakk", "berg", "dal", "eng", "haug", "heim", "land", "li", "lund", "mo", "nes", "rud",
    "set", "stad", "strand", "sæter", "vik", "voll", "gård",
)
_COMPOUND_SHARE: Final = 0.45

_PLACE_PREFIX: Final = (
    "Alm", "Bjørk", "Blå", "Bre", "Dyr", "Eid", "Elve", "Fager", "Fjell", "Fonn", "Fure", "Gjes",
    "Gras", "Grøn", "Hav", "Hei", "Hjelm", "Hus", "Is", "Kinn", "Kvit", "Laks", "Lyng", "Mar",
    "Mjø", "Mosk", "Nord", "Ros", "Rør", "Sal", "Sel", "Sjø", "Skar", "Skog", "Sol", "Stein",
    "Stor", "Sul", "Svart", "Tind", "Trol", "Ulv", "Var", "Vest", "Vind", "Ørn", "Øst", "Å",
)
_PLACE_SUFFIX: Final = (
    "dal", "vik", "heim", "nes", "fjord", "berg", "stad", "land", "sund", "øy", "haug", "bu", "ås",
    "mo", "strand", "voll", "set", "hamn", "vær", "eid", "li", "ørn", "bygd", "sjø",
)

_STREET_PREFIX: Final = (
    "Kirke", "Skole", "Stor", "Fjord", "Bjørke", "Eike", "Gran", "Furu", "Rogne", "Lyng", "Sol",
    "Mose", "Elve", "Sjø", "Strand", "Kvern", "Mølle", "Stasjons", "Park", "Hage", "Enge", "Bakke",
    "Berg", "Tun", "Åker", "Myr", "Lien", "Skog", "Nord", "Sør", "Vest", "Øst", "Prest", "Smie",
    "Fiskar", "Bryggje", "Lense", "Rype", "Tyri", "Hassel",
)
_STREET_SUFFIX: Final = (
    "gata", "vegen", "veien", "bakken", "lia", "stien", "tunet", "jordet", "svingen", "haugen",
    "kroken", "lykkja",
)

# Department names of hospitals and nursing homes (organisations.py numbers repeats).
WARDS: Final = (
    "Medisinsk sengepost", "Kirurgisk sengepost", "Ortopedisk sengepost", "Hjertemedisinsk sengepost",
    "Lungemedisinsk sengepost", "Nevrologisk sengepost", "Slagenhet", "Geriatrisk sengepost",
    "Barneavdeling", "Kreftavdeling", "Gastrokirurgisk sengepost", "Urologisk sengepost",
    "Gynekologisk sengepost", "Infeksjonsmedisinsk sengepost", "Nyremedisinsk sengepost",
    "Intensivavdeling", "Hjerteovervåkning", "Postoperativ avdeling", "Nyfødtintensiv",
    "Karkirurgisk sengepost", "Plastikkirurgisk sengepost", "Endokrinologisk sengepost",
    "Hematologisk sengepost", "Øre-nese-hals sengepost",
)
OUTPATIENT_CLINICS: Final = (
    "Medisinsk poliklinikk", "Kirurgisk poliklinikk", "Ortopedisk poliklinikk", "Hjertepoliklinikk",
    "Lungepoliklinikk", "Nevrologisk poliklinikk", "Øyepoliklinikk", "Øre-nese-hals poliklinikk",
    "Hudpoliklinikk", "Kvinnepoliklinikk", "Barnepoliklinikk", "Kreftpoliklinikk",
    "Revmatologisk poliklinikk", "Urologisk poliklinikk", "Fordøyelsespoliklinikk",
    "Endokrinologisk poliklinikk", "Smertepoliklinikk", "Dialyseenhet", "Geriatrisk poliklinikk",
    "Infeksjonspoliklinikk", "Blodsykdommer poliklinikk", "Fysikalsk medisin poliklinikk",
)
PSYCHIATRY_UNITS: Final = (
    "Akuttpsykiatrisk sengepost", "Allmennpsykiatrisk poliklinikk",
    "Barne- og ungdomspsykiatrisk poliklinikk", "DPS sengepost", "DPS poliklinikk",
    "Alderspsykiatrisk sengepost", "Rus- og avhengighetsbehandling", "Sikkerhetspsykiatrisk sengepost",
    "Spiseforstyrrelser", "Psykoseenhet",
)
NURSING_HOME_WARDS: Final = (
    "Langtidsavdeling", "Korttidsavdeling", "Skjermet enhet", "Rehabiliteringsavdeling",
    "Lindrende enhet",
)
#: Practices of contract specialists who are physicians (psychologists' are named in organisations.py).
SPECIALIST_PRACTICES: Final = (
    "øyelegepraksis", "hudlegepraksis", "øre-nese-hals-praksis", "gynekologpraksis",
    "psykiaterpraksis", "indremedisinsk praksis", "hjertelegepraksis", "revmatologpraksis",
    "nevrologpraksis", "barnelegepraksis",
)
#: Towns outside the region for staff who commute in (real towns, fictitious street addresses).
OUTSIDE_TOWNS: Final = (
    ("0150", "Oslo"),
    ("5003", "Bergen"),
    ("4006", "Stavanger"),
    ("9008", "Tromsø"),
    ("8006", "Bodø"),
    ("2317", "Hamar"),
    ("3015", "Drammen"),
    ("4612", "Kristiansand"),
    ("2609", "Lillehammer"),
    ("1606", "Fredrikstad"),
)


def draw_given_name(rng: random.Random, *, female: bool) -> str:
    """One given name for the sex recorded in the national id."""
    return rng.choice(FEMALE_GIVEN if female else MALE_GIVEN)


def draw_family_name(rng: random.Random) -> str:
    """One family name: a common "-sen" name (Zipf-weighted) or a rarer compound farm name."""
    if rng.random() < _COMPOUND_SHARE:
        return rng.choice(_FARM_PREFIX) + rng.choice(_FARM_SUFFIX)
    index = bisect_right(_COMMON_CUM, rng.random() * _COMMON_CUM[-1])
    return _COMMON_FAMILY[min(index, len(_COMMON_FAMILY) - 1)]


def _numbered(names: list[str], n: int) -> list[str]:
    """The first ``n`` names, repeating the list with " II", " III"... when it is too short."""
    out: list[str] = []
    for round_no in itertools.count(1):
        suffix = "" if round_no == 1 else " " + "I" * round_no
        out.extend(name + suffix for name in names[: n - len(out)])
        if len(out) >= n:
            return out
    raise AssertionError("unreachable")  # pragma: no cover - itertools.count never ends


def place_names(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct place names such as "Elvedal" or "Sjøvik", in a seeded order."""
    names = [p + s for p in _PLACE_PREFIX for s in _PLACE_SUFFIX if p[-1].lower() != s[0]]
    rng.shuffle(names)
    return _numbered(names, n)


def street_names(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct street names such as "Kirkegata" or "Bjørkevegen", in a seeded order."""
    names = [p + s for p in _STREET_PREFIX for s in _STREET_SUFFIX]
    rng.shuffle(names)
    return _numbered(names, n)
