"""Geographic coordinates of synthetic places: local metres <-> WGS84 lat/lon <-> UTM.

A world is a flat patch of a few hundred metres; its local frame (x east, y north, metres)
is anchored at a latitude/longitude, and the conversion uses the local metres-per-degree of
the WGS84 ellipsoid (error well below a centimetre over a kilometre). UTM uses the standard
transverse Mercator series (Snyder 1987), accurate to millimetres inside a zone.
"""

from __future__ import annotations

import math

import numpy as np

_A = 6378137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)
_K0 = 0.9996


def metres_per_degree(lat_deg: float) -> tuple[float, float]:
    """Metres per degree of latitude and of longitude at ``lat_deg`` (WGS84)."""
    phi = math.radians(lat_deg)
    m_lat = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
    m_lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi) + 0.118 * math.cos(5 * phi)
    return m_lat, m_lon


def local_to_latlon(x: np.ndarray, y: np.ndarray, anchor: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Lat/lon of local points (metres east/north of ``anchor`` = (lat, lon))."""
    m_lat, m_lon = metres_per_degree(anchor[0])
    return anchor[0] + np.asarray(y, np.float64) / m_lat, anchor[1] + np.asarray(x, np.float64) / m_lon


def latlon_to_local(lat: np.ndarray, lon: np.ndarray, anchor: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`local_to_latlon`: (x east, y north) in metres."""
    m_lat, m_lon = metres_per_degree(anchor[0])
    return (np.asarray(lon, np.float64) - anchor[1]) * m_lon, (np.asarray(lat, np.float64) - anchor[0]) * m_lat


def utm_zone(lon_deg: float) -> int:
    return int((lon_deg + 180.0) // 6.0) + 1


def latlon_to_utm(lat: np.ndarray, lon: np.ndarray, zone: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """UTM easting and northing in metres (southern hemisphere with the 10,000 km false northing)."""
    lat = np.asarray(lat, np.float64)
    lon = np.asarray(lon, np.float64)
    if zone is None:
        zone = utm_zone(float(np.mean(lon)))
    lon0 = math.radians((zone - 1) * 6 - 180 + 3)
    phi = np.radians(lat)
    lam = np.radians(lon)
    ep2 = _E2 / (1 - _E2)
    n = _A / np.sqrt(1 - _E2 * np.sin(phi) ** 2)
    t = np.tan(phi) ** 2
    c = ep2 * np.cos(phi) ** 2
    a = np.cos(phi) * (lam - lon0)
    e4, e6 = _E2 ** 2, _E2 ** 3
    m = _A * ((1 - _E2 / 4 - 3 * e4 / 64 - 5 * e6 / 256) * phi
              - (3 * _E2 / 8 + 3 * e4 / 32 + 45 * e6 / 1024) * np.sin(2 * phi)
              + (15 * e4 / 256 + 45 * e6 / 1024) * np.sin(4 * phi)
              - (35 * e6 / 3072) * np.sin(6 * phi))
    easting = _K0 * n * (a + (1 - t + c) * a ** 3 / 6 + (5 - 18 * t + t ** 2 + 72 * c - 58 * ep2) * a ** 5 / 120) \
        + 500000.0
    northing = _K0 * (m + n * np.tan(phi) * (a ** 2 / 2 + (5 - t + 9 * c + 4 * c ** 2) * a ** 4 / 24
                                            + (61 - 58 * t + t ** 2 + 600 * c - 330 * ep2) * a ** 6 / 720))
    northing = np.where(lat < 0, northing + 10_000_000.0, northing)
    return easting, northing
