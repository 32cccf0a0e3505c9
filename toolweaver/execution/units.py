"""Unit conversion tables: length, mass, volume (US customary and metric) and temperature."""

from __future__ import annotations

import re

_SIGNIFICANT = 12  # digits kept: 0.1 + 0.2 answers 0.3, not 0.30000000000000004

# Factors to the base unit of each quantity (metre, kilogram, litre; US customary volumes).
_FACTORS: dict[str, dict[str, float]] = {
    "length": {"m": 1.0, "km": 1e3, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "nm": 1e-9,
               "mi": 1609.344, "yd": 0.9144, "ft": 0.3048, "in": 0.0254, "nmi": 1852.0},
    "mass": {"kg": 1.0, "g": 1e-3, "mg": 1e-6, "t": 1e3, "lb": 0.45359237, "oz": 0.028349523125,
             "st": 6.35029318},
    "volume": {"l": 1.0, "ml": 1e-3, "cl": 1e-2, "m3": 1e3, "gal": 3.785411784, "qt": 0.946352946,
               "pt": 0.473176473, "cup": 0.2365882365, "floz": 0.0295735295625,
               "tbsp": 0.01478676478125, "tsp": 0.00492892159375, "impgal": 4.54609},
}  # fmt: skip
_TEMPERATURES = ("c", "f", "k")
_ALIASES: dict[str, str] = {
    **dict.fromkeys(["meter", "meters", "metre", "metres"], "m"),
    **dict.fromkeys(["kilometer", "kilometers", "kilometre", "kilometres"], "km"),
    **dict.fromkeys(["centimeter", "centimeters", "centimetre", "centimetres"], "cm"),
    **dict.fromkeys(["millimeter", "millimeters", "millimetre", "millimetres"], "mm"),
    **dict.fromkeys(["µm", "micrometer", "micrometre", "micron", "microns"], "um"),
    **dict.fromkeys(["mile", "miles"], "mi"),
    **dict.fromkeys(["yard", "yards"], "yd"),
    **dict.fromkeys(["foot", "feet", "'"], "ft"),
    **dict.fromkeys(["inch", "inches", '"'], "in"),
    **dict.fromkeys(["nauticalmile", "nauticalmiles"], "nmi"),
    **dict.fromkeys(["kilogram", "kilograms", "kilo", "kilos", "kgs"], "kg"),
    **dict.fromkeys(["gram", "grams", "gramme", "grammes"], "g"),
    **dict.fromkeys(["milligram", "milligrams"], "mg"),
    **dict.fromkeys(["tonne", "tonnes", "metricton"], "t"),
    **dict.fromkeys(["pound", "pounds", "lbs"], "lb"),
    **dict.fromkeys(["ounce", "ounces"], "oz"),
    **dict.fromkeys(["stone", "stones"], "st"),
    **dict.fromkeys(["liter", "liters", "litre", "litres"], "l"),
    **dict.fromkeys(["milliliter", "milliliters", "millilitre", "millilitres"], "ml"),
    **dict.fromkeys(["gallon", "gallons", "usgal"], "gal"),
    **dict.fromkeys(["quart", "quarts"], "qt"),
    **dict.fromkeys(["pint", "pints"], "pt"),
    **dict.fromkeys(["cups"], "cup"),
    **dict.fromkeys(["fluidounce", "fluidounces"], "floz"),
    **dict.fromkeys(["tablespoon", "tablespoons"], "tbsp"),
    **dict.fromkeys(["teaspoon", "teaspoons"], "tsp"),
    **dict.fromkeys(["°c", "celsius", "degc", "centigrade"], "c"),
    **dict.fromkeys(["°f", "fahrenheit", "degf"], "f"),
    **dict.fromkeys(["kelvin", "°k"], "k"),
}
_ABSOLUTE_ZERO = {"c": -273.15, "f": -459.67, "k": 0.0}


def convert(value: float, from_unit: str, to_unit: str) -> tuple[float, str, str, str]:
    """(converted value, source symbol, target symbol, quantity); ValueError for unknown or mixed units."""
    source, target = _unit(from_unit), _unit(to_unit)
    kind, other = _quantity(source), _quantity(target)
    if kind != other:
        raise ValueError(f"cannot convert {kind} ({from_unit}) to {other} ({to_unit})")
    if kind == "temperature":
        if value < _ABSOLUTE_ZERO[source]:
            raise ValueError(f"{value:g} {from_unit} is below absolute zero")
        result = _from_kelvin(target, _to_kelvin(source, value))
    else:
        result = value * _FACTORS[kind][source] / _FACTORS[kind][target]
    return float(f"{result:.{_SIGNIFICANT}g}"), source, target, kind


def _unit(text: str) -> str:
    key = re.sub(r"[\s.]", "", text.strip().lower())
    key = _ALIASES.get(key, key)
    if key in _TEMPERATURES or any(key in table for table in _FACTORS.values()):
        return key
    known = sorted({*_TEMPERATURES, *(unit for table in _FACTORS.values() for unit in table)})
    raise ValueError(f"unknown unit {text!r}; use one of {', '.join(known)} (or their names)")


def _quantity(unit: str) -> str:
    if unit in _TEMPERATURES:
        return "temperature"
    return next(kind for kind, table in _FACTORS.items() if unit in table)


def _to_kelvin(unit: str, value: float) -> float:
    return {"c": value + 273.15, "f": (value + 459.67) * 5 / 9, "k": value}[unit]


def _from_kelvin(unit: str, kelvin: float) -> float:
    return {"c": kelvin - 273.15, "f": kelvin * 9 / 5 - 459.67, "k": kelvin}[unit]
