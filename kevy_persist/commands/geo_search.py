"""GEO searches: GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their _RO forms.

What they model: Redis 7.0's georadiusGeneric. The centre is FROMMEMBER / FROMLONLAT (or the
positional arguments of GEORADIUS*), the shape BYRADIUS or BYBOX; the candidates are the
sorted-set members whose scores fall in the nine geohash cells covering the shape
(data/geohash.py), in cell order then score order, kept when inside the shape. ASC / DESC
sort by distance (stably, as glibc's qsort does); COUNT n keeps the first n (sorting
ascending when no order was asked for, unless ANY, which stops collecting at n). Replies:
the member, then WITHDIST (4 decimals), WITHHASH (the integer score), WITHCOORD
([longitude, latitude] in human text). Arguments are checked in Redis's order, including
its quirks: with a missing source key a member centre is not looked up (and for
GEORADIUSBYMEMBER the radius is not even parsed).

Storing (GEOSEARCHSTORE, GEORADIUS ... STORE / STOREDIST) writes a sorted set of the
members with their geohash scores, or their distances in the query's unit; it is logged as
its effect (stored_results.py). The target must be on the source's shard.
"""

from __future__ import annotations

from kevy_persist.commands.access import integer_argument, read_typed
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.geo import distance_text, human_double, position_arguments, unit_argument
from kevy_persist.commands.numbers import parse_double
from kevy_persist.commands.stored_results import store_zset
from kevy_persist.commands.table import command
from kevy_persist.data import geohash
from kevy_persist.data.geohash import Shape
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet

COORDINATES, MEMBER, SEARCH, SEARCH_STORE = "coordinates", "member", "search", "search_store"


def _number(text: bytes, message: str) -> float:
    value = parse_double(text)
    if value is None:
        raise CommandError(message)
    return value


def _radius(arguments: list[bytes]) -> tuple[float, float]:
    radius = _number(arguments[0], "ERR need numeric radius")
    if radius < 0:
        raise CommandError("ERR radius cannot be negative")
    return radius, unit_argument(arguments[1])


def _box(arguments: list[bytes]) -> tuple[float, float, float]:
    width = _number(arguments[0], "ERR need numeric width")
    height = _number(arguments[1], "ERR need numeric height")
    if height < 0 or width < 0:
        raise CommandError("ERR height or width cannot be negative")
    return width, height, unit_argument(arguments[2])


def _member_position(zset: ZSet, member: bytes) -> tuple[float, float]:
    score = zset.score(member)
    if score is None:
        raise CommandError("ERR could not decode requested zset member")
    return geohash.position_of(score)


class _Query:
    def __init__(self) -> None:
        self.centre: tuple[float, float] | None = None
        self.radius: tuple[float, float] | None = None  # (radius, unit meters)
        self.box: tuple[float, float, float] | None = None  # (width, height, unit meters)
        self.with_distance = self.with_hash = self.with_coordinates = False
        self.any = False
        self.order: str | None = None
        self.count = 0
        self.store_key: bytes | None = None
        self.store_distance = False
        self.from_member = self.from_position = False


def _parse(argv: list[bytes], zset: ZSet | None, mode: str, no_store: bool) -> _Query:
    query = _Query()
    searching = mode in (SEARCH, SEARCH_STORE)
    if mode == COORDINATES:
        base = 6
        query.centre = position_arguments(argv[2], argv[3])
        query.radius = _radius(argv[4:6])
    elif mode == MEMBER:
        base = 5
        if zset is not None:
            query.centre = _member_position(zset, argv[2])
            query.radius = _radius(argv[3:5])
    else:
        base = 3 if mode == SEARCH_STORE else 2
        if mode == SEARCH_STORE:
            query.store_key = argv[1]
    index = base
    while index < len(argv):
        option = argv[index].upper()
        remaining = len(argv) - index - 1
        if option == b"WITHDIST":
            query.with_distance = True
        elif option == b"WITHHASH":
            query.with_hash = True
        elif option == b"WITHCOORD":
            query.with_coordinates = True
        elif option == b"ANY":
            query.any = True
        elif option in (b"ASC", b"DESC"):
            query.order = option.decode()
        elif option == b"COUNT" and remaining >= 1:
            query.count = integer_argument(argv[index + 1])
            if query.count <= 0:
                raise CommandError("ERR COUNT must be > 0")
            index += 1
        elif option in (b"STORE", b"STOREDIST") and remaining >= 1 and not no_store and not searching:
            query.store_key = argv[index + 1]
            query.store_distance = option == b"STOREDIST"
            index += 1
        elif option == b"STOREDIST" and mode == SEARCH_STORE:
            query.store_distance = True
        elif option == b"FROMMEMBER" and remaining >= 1 and searching and not query.from_position:
            if zset is not None:
                query.centre = _member_position(zset, argv[index + 1])
            query.from_member = True
            index += 1
        elif option == b"FROMLONLAT" and remaining >= 2 and searching and not query.from_member:
            query.centre = position_arguments(argv[index + 1], argv[index + 2])
            query.from_position = True
            index += 2
        elif option == b"BYRADIUS" and remaining >= 2 and searching and query.box is None:
            query.radius = _radius(argv[index + 1 : index + 3])
            index += 2
        elif option == b"BYBOX" and remaining >= 3 and searching and query.radius is None:
            query.box = _box(argv[index + 1 : index + 4])
            index += 3
        else:
            raise CommandError(SYNTAX)
        index += 1
    _check(argv, query, mode, searching)
    return query


def _check(argv: list[bytes], query: _Query, mode: str, searching: bool) -> None:
    if query.store_key is not None and (query.with_distance or query.with_hash or query.with_coordinates):
        what = "GEOSEARCHSTORE" if mode == SEARCH_STORE else "STORE option in GEORADIUS"
        raise CommandError(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    name = argv[0].decode("utf-8", "replace")
    if searching and not (query.from_member or query.from_position):
        raise CommandError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if searching and query.radius is None and query.box is None:
        raise CommandError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if query.any and not query.count:
        raise CommandError("ERR the ANY argument requires COUNT argument")


def _collect(zset: ZSet, shape: Shape, limit: int) -> list[tuple[bytes, float, float, tuple[float, float]]]:
    """(member, score, distance meters, position) of the members inside the shape."""
    found: list[tuple[bytes, float, float, tuple[float, float]]] = []
    cells = geohash.search_cells(shape)
    last = 0
    for index, cell in enumerate(cells):
        if cell is None:
            continue
        if last and cell == cells[last]:
            continue  # huge radii make neighbours coincide: search each cell once
        if found and limit and len(found) >= limit:
            break
        minimum = geohash.align52(cell)
        maximum = geohash.align52(geohash.Cell(cell.bits + 1, cell.step))
        first, end = zset.index_range_by_score(float(minimum), False, float(maximum), True)
        geohash.collect_within(shape, zset.pairs_between(first, end), found, limit)
        last = index
    return found


def _search(keyspace: Keyspace, argv: list[bytes], context: CommandContext, mode: str, no_store: bool = False) -> CommandOutcome:
    zset = read_typed(keyspace, argv[2 if mode == SEARCH_STORE else 1], context, ZSet)
    query = _parse(argv, zset, mode, no_store)
    if zset is None:
        if query.store_key is not None:
            return CommandOutcome(0, store_zset(keyspace, query.store_key, [], context.lookup_now_ms))
        return CommandOutcome([])
    assert query.centre is not None
    if query.box is not None:
        width, height, unit_meters = query.box
        shape = Shape(*query.centre, unit_meters, width=width, height=height, is_box=True)
    else:
        assert query.radius is not None
        shape = Shape(*query.centre, query.radius[1], radius=query.radius[0])
    order = query.order or ("ASC" if query.count and not query.any else None)
    found = _collect(zset, shape, query.count if query.any else 0)
    if order is not None:
        found.sort(key=lambda entry: entry[2], reverse=order == "DESC")
    if query.count:
        found = found[: query.count]
    if query.store_key is not None:
        pairs = [(member, meters / shape.unit_meters if query.store_distance else score)
                 for member, score, meters, _ in found]
        return CommandOutcome(len(pairs), store_zset(keyspace, query.store_key, pairs, context.lookup_now_ms))
    if not (query.with_distance or query.with_hash or query.with_coordinates):
        return CommandOutcome([member for member, _, _, _ in found])
    reply = []
    for member, score, meters, (longitude, latitude) in found:
        entry: list = [member]
        if query.with_distance:
            entry.append(distance_text(meters / shape.unit_meters))
        if query.with_hash:
            entry.append(int(score))
        if query.with_coordinates:
            entry.append([human_double(longitude), human_double(latitude)])
        reply.append(entry)
    return CommandOutcome(reply)


def _store_key_finder(argv: list[bytes]) -> list[int]:
    """GEORADIUS* keys: the source, then what Redis's key specs name -- the argument after the
    first STORE, then after the first STOREDIST (from argv[5]) -- and the target the command
    writes, the last STORE / STOREDIST, when it is neither of those."""
    first_targets: dict[bytes, int] = {}
    target = None
    index = 5
    while index < len(argv):
        option = argv[index].upper()
        if option in (b"STORE", b"STOREDIST") and index + 1 < len(argv):
            first_targets.setdefault(option, index + 1)
            target = index + 1
            index += 1
        index += 1
    positions = [1] + [first_targets[option] for option in (b"STORE", b"STOREDIST") if option in first_targets]
    if target is not None and target not in positions:
        positions.append(target)
    return positions


@command("geosearch", -7, "readonly")
def geosearch_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _search(keyspace, argv, context, SEARCH)


@command("geosearchstore", -8, "write", 1, 2)
def geosearchstore_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _search(keyspace, argv, context, SEARCH_STORE)


@command("georadius", -6, "write movablekeys", 1, 1, 1, _store_key_finder)
def georadius_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _search(keyspace, argv, context, COORDINATES)


@command("georadius_ro", -6, "readonly")
def georadius_ro_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _search(keyspace, argv, context, COORDINATES, no_store=True)


@command("georadiusbymember", -5, "write movablekeys", 1, 1, 1, _store_key_finder)
def georadiusbymember_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _search(keyspace, argv, context, MEMBER)


@command("georadiusbymember_ro", -5, "readonly")
def georadiusbymember_ro_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    return _search(keyspace, argv, context, MEMBER, no_store=True)
