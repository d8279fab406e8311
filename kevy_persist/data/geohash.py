"""Redis's geohash: 52-bit interleaved scores, cell neighbours, search areas and distances.

What it models: Redis 7.0's geohash.c and geohash_helper.c, in the same double arithmetic
(Python floats are IEEE doubles and `math` calls the same libm), so a GEOADD score, a
decoded position and a distance are bit-for-bit Redis's. A position is encoded in the
Mercator-safe box longitude [-180, 180] x latitude [-85.05112878, 85.05112878]: each
coordinate becomes a fraction of its range scaled to 2**step, truncated to an integer, and
the two are interleaved (latitude bits at even positions, longitude bits at odd ones); the
52-bit score GEOADD stores is that hash at step 26. Decoding gives the centre of the cell.

A radius or box search covers the centre cell plus its eight neighbours at a step estimated
from the radius (`search_cells`); cells that cannot intersect the search's bounding box
are dropped, as Redis drops them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs

LONGITUDE_MIN, LONGITUDE_MAX = -180.0, 180.0
LATITUDE_MIN, LATITUDE_MAX = -85.05112878, 85.05112878
STEP_MAX = 26
EARTH_RADIUS_METERS = 6372797.560856
MERCATOR_MAX = 20037726.37
_DEGREES_TO_RADIANS = math.pi / 180.0
_MASK64 = (1 << 64) - 1
_EVEN_BITS, _ODD_BITS = 0x5555555555555555, 0xAAAAAAAAAAAAAAAA


@attrs.frozen
class Cell:
    """A geohash cell: `bits` at `step` (2 * step significant bits)."""

    bits: int
    step: int


@attrs.frozen
class Area:
    longitude_min: float
    longitude_max: float
    latitude_min: float
    latitude_max: float


def _spread(value: int) -> int:
    """The 32 bits of `value` moved to the even bit positions of a 64-bit word."""
    value &= 0xFFFFFFFF
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F),
                        (2, 0x3333333333333333), (1, 0x5555555555555555)):
        value = (value | (value << shift)) & mask
    return value


def _gather(value: int) -> int:
    """The inverse of `_spread`: the even bits of `value` packed into 32 bits."""
    value &= _EVEN_BITS
    for shift, mask in ((1, 0x3333333333333333), (2, 0x0F0F0F0F0F0F0F0F), (4, 0x00FF00FF00FF00FF),
                        (8, 0x0000FFFF0000FFFF), (16, 0x00000000FFFFFFFF)):
        value = (value | (value >> shift)) & mask
    return value


def encode(longitude: float, latitude: float, step: int,
           latitude_min: float = LATITUDE_MIN, latitude_max: float = LATITUDE_MAX) -> int | None:
    """The cell bits of a position (None outside the limits), Redis's geohashEncode."""
    if not 0 < step <= 32:
        return None
    if not (LONGITUDE_MIN <= longitude <= LONGITUDE_MAX and LATITUDE_MIN <= latitude <= LATITUDE_MAX):
        return None
    if not latitude_min <= latitude <= latitude_max:
        return None
    latitude_offset = (latitude - latitude_min) / (latitude_max - latitude_min) * float(1 << step)
    longitude_offset = (longitude - LONGITUDE_MIN) / (LONGITUDE_MAX - LONGITUDE_MIN) * float(1 << step)
    return _spread(int(latitude_offset)) | (_spread(int(longitude_offset)) << 1)


def decode(cell: Cell, latitude_min: float = LATITUDE_MIN, latitude_max: float = LATITUDE_MAX) -> Area:
    """The cell's bounds, Redis's geohashDecode."""
    latitude_cells = _gather(cell.bits)
    longitude_cells = _gather(cell.bits >> 1)
    scale = float(1 << cell.step)
    latitude_span = latitude_max - latitude_min
    longitude_span = LONGITUDE_MAX - LONGITUDE_MIN
    return Area(
        longitude_min=LONGITUDE_MIN + (longitude_cells * 1.0 / scale) * longitude_span,
        longitude_max=LONGITUDE_MIN + ((longitude_cells + 1) * 1.0 / scale) * longitude_span,
        latitude_min=latitude_min + (latitude_cells * 1.0 / scale) * latitude_span,
        latitude_max=latitude_min + ((latitude_cells + 1) * 1.0 / scale) * latitude_span,
    )


def score_to_bits(score: float) -> int:
    """C's `(uint64_t)score` on x86-64, for any sorted-set score (ZADD can store any)."""
    if score < 9223372036854775808.0:
        if score < -9223372036854775808.0:
            return 1 << 63
        return int(score) & _MASK64
    if score - 9223372036854775808.0 >= 9223372036854775808.0:
        return 0
    return (int(score - 9223372036854775808.0) ^ (1 << 63)) & _MASK64


def _gather_tables() -> tuple[bytes, bytes]:
    """For every 16-bit chunk of a hash: its 8 even bits packed, and its 8 odd bits packed."""
    return bytes(_gather(chunk) for chunk in range(1 << 16)), bytes(_gather(chunk >> 1) for chunk in range(1 << 16))


_EVEN_OF_CHUNK, _ODD_OF_CHUNK = _gather_tables()
_STEP_MAX_SCALE = float(1 << STEP_MAX)
_LATITUDE_SPAN = LATITUDE_MAX - LATITUDE_MIN
_LONGITUDE_SPAN = LONGITUDE_MAX - LONGITUDE_MIN


def position_of(score: float) -> tuple[float, float]:
    """(longitude, latitude) of a score: its step-26 cell's centre, clamped to the limits.

    `decode(Cell(score_to_bits(score), STEP_MAX))` and the centre, in the same double
    operations, with the bits de-interleaved 16 at a time through tables: a search decodes
    every candidate member, so this is GEOSEARCH's inner loop."""
    bits = int(score) if 0.0 <= score < 9223372036854775808.0 else score_to_bits(score)
    even, odd = _EVEN_OF_CHUNK, _ODD_OF_CHUNK
    low, middle, high, top = bits & 0xFFFF, (bits >> 16) & 0xFFFF, (bits >> 32) & 0xFFFF, (bits >> 48) & 0xFFFF
    latitude_cells = even[low] | even[middle] << 8 | even[high] << 16 | even[top] << 24
    longitude_cells = odd[low] | odd[middle] << 8 | odd[high] << 16 | odd[top] << 24
    scale = _STEP_MAX_SCALE
    longitude_min = LONGITUDE_MIN + (longitude_cells * 1.0 / scale) * _LONGITUDE_SPAN
    longitude_max = LONGITUDE_MIN + ((longitude_cells + 1) * 1.0 / scale) * _LONGITUDE_SPAN
    latitude_min = LATITUDE_MIN + (latitude_cells * 1.0 / scale) * _LATITUDE_SPAN
    latitude_max = LATITUDE_MIN + ((latitude_cells + 1) * 1.0 / scale) * _LATITUDE_SPAN
    longitude = (longitude_min + longitude_max) / 2
    latitude = (latitude_min + latitude_max) / 2
    return (min(max(longitude, LONGITUDE_MIN), LONGITUDE_MAX), min(max(latitude, LATITUDE_MIN), LATITUDE_MAX))


def align52(cell: Cell) -> int:
    return (cell.bits << (52 - cell.step * 2)) & _MASK64


def _move(cell: Cell, odd_bits: bool, direction: int) -> Cell:
    """One cell over: `odd_bits` moves longitude (Redis's move_x), else latitude (move_y)."""
    if direction == 0:
        return cell
    moving_mask, fixed_mask = (_ODD_BITS, _EVEN_BITS) if odd_bits else (_EVEN_BITS, _ODD_BITS)
    moving, fixed = cell.bits & moving_mask, cell.bits & fixed_mask
    filler = fixed_mask >> (64 - cell.step * 2)
    if direction > 0:
        moving = (moving + filler + 1) & _MASK64
    else:
        moving = ((moving | filler) - (filler + 1)) & _MASK64
    moving &= moving_mask >> (64 - cell.step * 2)
    return Cell(moving | fixed, cell.step)


def neighbours(cell: Cell) -> dict[str, Cell]:
    def at(east: int, north: int) -> Cell:
        return _move(_move(cell, True, east), False, north)

    return {
        "north": at(0, 1), "south": at(0, -1), "east": at(1, 0), "west": at(-1, 0),
        "north_east": at(1, 1), "north_west": at(-1, 1), "south_east": at(1, -1), "south_west": at(-1, -1),
    }


# -- distances ---------------------------------------------------------------------------

def _radians(degrees: float) -> float:
    return degrees * _DEGREES_TO_RADIANS


def latitude_distance(latitude1: float, latitude2: float) -> float:
    return EARTH_RADIUS_METERS * math.fabs(_radians(latitude2) - _radians(latitude1))


def distance(longitude1: float, latitude1: float, longitude2: float, latitude2: float) -> float:
    """Haversine distance in meters, with Redis's shortcut for equal longitudes."""
    half_longitude = math.sin((_radians(longitude2) - _radians(longitude1)) / 2)
    if half_longitude == 0.0:
        return latitude_distance(latitude1, latitude2)
    latitude1_radians, latitude2_radians = _radians(latitude1), _radians(latitude2)
    half_latitude = math.sin((latitude2_radians - latitude1_radians) / 2)
    a = half_latitude * half_latitude + math.cos(latitude1_radians) * math.cos(latitude2_radians) * half_longitude * half_longitude
    return 2.0 * EARTH_RADIUS_METERS * math.asin(math.sqrt(a))


# -- search areas ------------------------------------------------------------------------

@attrs.frozen
class Shape:
    """A search: centre, and a radius or a box (width, height), all in `unit_meters` units."""

    longitude: float
    latitude: float
    unit_meters: float
    radius: float = 0.0
    width: float = 0.0
    height: float = 0.0
    is_box: bool = False


def estimate_step(radius_meters: float, latitude: float) -> int:
    """Redis's geohashEstimateStepsByRadius: the cell size for a search of that radius."""
    if radius_meters == 0:
        return 26
    step = 1
    while radius_meters < MERCATOR_MAX:
        radius_meters *= 2
        step += 1
    step -= 2
    if latitude > 66 or latitude < -66:
        step -= 1
        if latitude > 80 or latitude < -80:
            step -= 1
    return min(max(step, 1), 26)


def bounding_box(shape: Shape) -> tuple[float, float, float, float]:
    """(min longitude, min latitude, max longitude, max latitude) around the shape."""
    half_height = shape.unit_meters * (shape.height / 2 if shape.is_box else shape.radius)
    half_width = shape.unit_meters * (shape.width / 2 if shape.is_box else shape.radius)
    latitude_delta = (half_height / EARTH_RADIUS_METERS) / _DEGREES_TO_RADIANS
    top = (half_width / EARTH_RADIUS_METERS / math.cos(_radians(shape.latitude + latitude_delta))) / _DEGREES_TO_RADIANS
    bottom = (half_width / EARTH_RADIUS_METERS / math.cos(_radians(shape.latitude - latitude_delta))) / _DEGREES_TO_RADIANS
    longitude_delta = bottom if shape.latitude < 0 else top
    return (shape.longitude - longitude_delta, shape.latitude - latitude_delta,
            shape.longitude + longitude_delta, shape.latitude + latitude_delta)


def search_cells(shape: Shape) -> list[Cell | None]:
    """Redis's geohashCalculateAreasByShapeWGS84: the centre cell, then north, south, east,
    west, north-east, north-west, south-east, south-west (None where a cell is dropped)."""
    minimum_longitude, minimum_latitude, maximum_longitude, maximum_latitude = bounding_box(shape)
    if shape.is_box:
        radius = math.sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2))
    else:
        radius = shape.radius
    step = estimate_step(radius * shape.unit_meters, shape.latitude)
    centre = Cell(encode(shape.longitude, shape.latitude, step) or 0, step)
    around = neighbours(centre)
    too_coarse = (
        decode(around["north"]).latitude_max < maximum_latitude
        or decode(around["south"]).latitude_min > minimum_latitude
        or decode(around["east"]).longitude_max < maximum_longitude
        or decode(around["west"]).longitude_min > minimum_longitude
    )
    if step > 1 and too_coarse:
        step -= 1
        centre = Cell(encode(shape.longitude, shape.latitude, step) or 0, step)
        around = neighbours(centre)
    area = decode(centre)
    kept: dict[str, Cell | None] = dict(around)
    if step >= 2:
        for outside, names in (
            (area.latitude_min < minimum_latitude, ("south", "south_west", "south_east")),
            (area.latitude_max > maximum_latitude, ("north", "north_east", "north_west")),
            (area.longitude_min < minimum_longitude, ("west", "south_west", "north_west")),
            (area.longitude_max > maximum_longitude, ("east", "south_east", "north_east")),
        ):
            if outside:
                kept.update(dict.fromkeys(names))
    order = ("north", "south", "east", "west", "north_east", "north_west", "south_east", "south_west")
    return [centre, *(kept[name] for name in order)]


def collect_within(shape: Shape, pairs: Iterable[tuple[bytes, float]], found: list, limit: int) -> None:
    """Append (member, score, meters, position) of each pair inside `shape` to `found`,
    stopping once it holds `limit` (0: no limit). GEOSEARCH's inner loop: for a radius,
    `within`'s haversine is inlined with the centre's radians and cosine computed once (the
    same double operations in the same order, so the distances are bit-for-bit `within`'s)."""
    if shape.is_box:
        for member, score in pairs:
            position = position_of(score)
            meters = within(shape, *position)
            if meters is not None:
                found.append((member, score, meters, position))
                if limit and len(found) >= limit:
                    return
        return
    to_radians, sin, cos, asin, sqrt, fabs = _DEGREES_TO_RADIANS, math.sin, math.cos, math.asin, math.sqrt, math.fabs
    centre_longitude, centre_latitude = shape.longitude * to_radians, shape.latitude * to_radians
    centre_cosine = cos(centre_latitude)
    radius_meters = shape.radius * shape.unit_meters
    for member, score in pairs:
        position = position_of(score)
        longitude, latitude = position
        half_longitude = sin((longitude * to_radians - centre_longitude) / 2)
        if half_longitude == 0.0:
            meters = EARTH_RADIUS_METERS * fabs(latitude * to_radians - centre_latitude)
        else:
            latitude_radians = latitude * to_radians
            half_latitude = sin((latitude_radians - centre_latitude) / 2)
            a = half_latitude * half_latitude + centre_cosine * cos(latitude_radians) * half_longitude * half_longitude
            meters = 2.0 * EARTH_RADIUS_METERS * asin(sqrt(a))
        if meters <= radius_meters:
            found.append((member, score, meters, position))
            if limit and len(found) >= limit:
                return


def within(shape: Shape, longitude: float, latitude: float) -> float | None:
    """The distance in meters from the shape's centre if the point is inside, else None."""
    if not shape.is_box:
        meters = distance(shape.longitude, shape.latitude, longitude, latitude)
        return None if meters > shape.radius * shape.unit_meters else meters
    width_meters, height_meters = shape.width * shape.unit_meters, shape.height * shape.unit_meters
    if latitude_distance(latitude, shape.latitude) > height_meters / 2:
        return None
    if distance(longitude, latitude, shape.longitude, latitude) > width_meters / 2:
        return None
    return distance(shape.longitude, shape.latitude, longitude, latitude)
