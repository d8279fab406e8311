"""GEO commands on sorted sets: GEOADD, GEOPOS, GEODIST, GEOHASH (searches: geo_search.py).

What they model: Redis 7.0. A GEO key is an ordinary sorted set whose scores are 52-bit
geohashes (data/geohash.py), so ZRANGE, ZREM and the rest apply, and the stored data is
Redis's. Replies match Redis's printed precision: positions in Redis's "human" long-double
text (`%.17Lf` without trailing zeros; a RESP3 double), distances with four decimals as
fixedpoint_d2string rounds them.

Logging: GEOADD runs as Redis runs it, as a ZADD of the computed integer scores with the same
NX/XX/CH options, and logs what that ZADD logs. The others are reads.
"""

from __future__ import annotations

from fractions import Fraction

from kevy_persist.commands.access import double_argument, read_typed
from kevy_persist.commands.context import SYNTAX, CommandContext, CommandError, CommandOutcome
from kevy_persist.commands.numbers import format_long_double
from kevy_persist.commands.replies import DoubleText
from kevy_persist.commands.table import command
from kevy_persist.commands.zsets import zadd_command
from kevy_persist.data import geohash
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.zset import ZSet

UNITS_METERS = {b"M": 1.0, b"KM": 1000.0, b"FT": 0.3048, b"MI": 1609.34}
_GEOHASH_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def unit_argument(text: bytes) -> float:
    meters = UNITS_METERS.get(text.upper())
    if meters is None:
        raise CommandError("ERR unsupported unit provided. please use M, KM, FT, MI")
    return meters


def position_arguments(longitude_text: bytes, latitude_text: bytes) -> tuple[float, float]:
    """A longitude, latitude pair within the geohash limits (Redis's extractLongLatOrReply)."""
    longitude, latitude = double_argument(longitude_text), double_argument(latitude_text)
    if not (geohash.LONGITUDE_MIN <= longitude <= geohash.LONGITUDE_MAX
            and geohash.LATITUDE_MIN <= latitude <= geohash.LATITUDE_MAX):
        raise CommandError("ERR invalid longitude,latitude pair %f,%f" % (longitude, latitude))
    return longitude, latitude


def human_double(value: float) -> DoubleText:
    """Redis's addReplyHumanLongDouble text for a double."""
    return DoubleText(format_long_double(Fraction(value)))


def distance_text(meters: float) -> bytes:
    """Redis's fixedpoint_d2string(value, 4): llrint(value * 10^4), then 4 decimals."""
    if meters == 0:
        return b"0.0000"
    scaled = round(meters * 10000.0)  # llrint: to nearest, ties to even
    sign = b"-" if scaled < 0 else b""
    whole, fraction = divmod(abs(scaled), 10000)
    return sign + b"%d.%04d" % (whole, fraction)


@command("geoadd", -5, "write")
def geoadd_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """GEOADD key [NX|XX] [CH] lon lat member...: ZADD of the members' geohash scores."""
    first = 2
    options = set()
    while first < len(argv) and argv[first].upper() in (b"NX", b"XX", b"CH"):
        options.add(argv[first].upper())
        first += 1
    if (len(argv) - first) % 3 or {b"NX", b"XX"} <= options:
        raise CommandError(SYNTAX)
    scored: list[bytes] = []
    for index in range(first, len(argv), 3):
        longitude, latitude = position_arguments(argv[index], argv[index + 1])
        bits = geohash.encode(longitude, latitude, geohash.STEP_MAX)
        assert bits is not None, "a position within the limits always encodes"
        scored += [b"%d" % bits, argv[index + 2]]
    return zadd_command(keyspace, [b"ZADD", *argv[1:first], *scored], context)


def _positions(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> list:
    zset = read_typed(keyspace, argv[1], context, ZSet)
    positions = []
    for member in argv[2:]:
        score = zset.score(member) if zset is not None else None
        positions.append(None if score is None else (geohash.position_of(score), score))
    return positions


@command("geopos", -2, "readonly")
def geopos_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    reply = []
    for found in _positions(keyspace, argv, context):
        if found is None:
            reply.append(None)
        else:
            (longitude, latitude), _ = found
            reply.append([human_double(longitude), human_double(latitude)])
    return CommandOutcome(reply)


@command("geodist", -4, "readonly")
def geodist_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """GEODIST key member1 member2 [unit]: nil when either member is missing."""
    unit_meters = 1.0
    if len(argv) == 5:
        unit_meters = unit_argument(argv[4])
    elif len(argv) > 5:
        raise CommandError(SYNTAX)
    zset = read_typed(keyspace, argv[1], context, ZSet)
    if zset is None:
        return CommandOutcome(None)
    first, second = zset.score(argv[2]), zset.score(argv[3])
    if first is None or second is None:
        return CommandOutcome(None)
    meters = geohash.distance(*geohash.position_of(first), *geohash.position_of(second))
    return CommandOutcome(distance_text(meters / unit_meters))


@command("geohash", -2, "readonly")
def geohash_command(keyspace: Keyspace, argv: list[bytes], context: CommandContext) -> CommandOutcome:
    """The standard 11-character geohash of each member (re-encoded over latitude +-90)."""
    reply: list[bytes | None] = []
    for found in _positions(keyspace, argv, context):
        if found is None:
            reply.append(None)
            continue
        (longitude, latitude), _ = found
        bits = geohash.encode(longitude, latitude, geohash.STEP_MAX, -90.0, 90.0) or 0
        characters = bytes(_GEOHASH_ALPHABET[(bits >> (52 - (index + 1) * 5)) & 0x1F] for index in range(10))
        reply.append(characters + b"0")
    return CommandOutcome(reply)
