"""Meters and spans: the energy of pipeline work, with the method behind every figure."""

from carbontrail.meter.base import BaseMeter, ComponentInfo, MeterSet
from carbontrail.meter.track import Span, Tracker, get_tracker, track

__all__ = ["BaseMeter", "ComponentInfo", "MeterSet", "Span", "Tracker", "get_tracker", "track"]
