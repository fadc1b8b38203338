"""Configuration: Swift-style INI files, parsed once into typed dataclasses.

A server's options are one frozen dataclass whose fields carry the type,
the default and a one-line help (``option(...)``): defaults live in one
place and nothing reads raw strings after start-up. Loading a section:

* takes ``[DEFAULT]`` values, then the section's own (Paste semantics);
* converts each value by the field's type: ``int``, ``float``, ``bool``
  (true/false, yes/no, on/off, 1/0), ``str``, ``list[str]`` (commas or
  spaces), optionally bounded (``minimum``, ``maximum``, ``choices``);
* refuses a bad value with one line naming file, section, option and
  value (``ConfigError``), so the server does not start;
* reports options the section's schema does not know as warnings (a
  mistyped option name must not pass unnoticed). Unknown ``[DEFAULT]``
  options are not reported: DEFAULT is shared by every server.

``ConfigFile`` reads a file once (no ``%`` interpolation; duplicate
sections or options are errors) and hands out sections and the proxy's
``[pipeline:main]``.
"""
from __future__ import annotations

import configparser
import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Final, TypeVar

T = TypeVar("T")

_TRUE: Final = frozenset({"true", "yes", "on", "1", "t", "y"})
_FALSE: Final = frozenset({"false", "no", "off", "0", "f", "n"})


class ConfigError(Exception):
    """A configuration the server must not start with; one line."""


def option(default: Any, help: str, *, minimum: float | None = None,
           maximum: float | None = None, choices: tuple[str, ...] | None = None) -> Any:
    """A config field: its default, why it exists, and its bounds."""
    metadata = {"help": help, "minimum": minimum, "maximum": maximum, "choices": choices}
    if isinstance(default, list):
        items = list(default)
        return dataclasses.field(default_factory=lambda: list(items), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def is_true(text: str | None) -> bool:
    """Whether a header value says yes (the same words as a true option);
    anything else, or nothing, is no."""
    return (text or "").strip().lower() in _TRUE


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("not a boolean (true/false, yes/no, on/off, 1/0)")


def parse_list(text: str) -> list[str]:
    return [item for item in text.replace(",", " ").split() if item]


def _convert(kind: Any, text: str) -> Any:
    if kind is bool:
        return parse_bool(text)
    if kind is int:
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError("not a whole number") from None
    if kind is float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError("not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        return value
    if kind is str:
        return text.strip()
    if typing.get_origin(kind) is list:
        return parse_list(text)
    raise TypeError(f"config fields cannot have type {kind!r}")


def _field_type(hint: Any) -> Any:
    """``int | None`` style hints are treated as their non-None type."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kinds = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(kinds) == 1:
            return kinds[0]
    return hint


def _check_bounds(field: dataclasses.Field[Any], value: Any) -> None:
    meta = field.metadata
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise ValueError("must be one of " + ", ".join(meta["choices"]))
    if meta.get("minimum") is not None and value < meta["minimum"]:
        raise ValueError(f"must be at least {meta['minimum']:g}")
    if meta.get("maximum") is not None and value > meta["maximum"]:
        raise ValueError(f"must be at most {meta['maximum']:g}")


def build(schema: type[T], values: Mapping[str, str], *, source: str,
          section: str, shared: Mapping[str, str] | None = None) -> tuple[T, list[str]]:
    """An instance of ``schema`` from raw option strings, and warnings.

    ``shared`` options (DEFAULT) are used where the schema knows them and
    ignored silently otherwise; ``values`` are the section's own."""
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
    merged = {k.lower(): v for k, v in (shared or {}).items() if k.lower() in fields}
    merged.update({k.lower(): v for k, v in values.items()})
    kwargs: dict[str, Any] = {}
    warnings = []
    for name, text in merged.items():
        field = fields.get(name)
        if field is None:
            warnings.append(f"{source} [{section}]: unknown option {name!r} is ignored")
            continue
        try:
            value = _convert(_field_type(hints[name]), text)
            _check_bounds(field, value)
        except ValueError as err:
            raise ConfigError(f"{source} [{section}] {name} = {text!r}: {err}") from None
        kwargs[name] = value
    try:
        return schema(**kwargs), warnings
    except ValueError as err:  # a schema's __post_init__ cross-checks
        raise ConfigError(f"{source} [{section}]: {err}") from None


def describe(schema: type[Any]) -> list[tuple[str, Any, str]]:
    """(name, default, help) of every option, for samples and --help."""
    rows = []
    for field in dataclasses.fields(schema):
        default = (field.default_factory() if field.default is dataclasses.MISSING
                   and field.default_factory is not dataclasses.MISSING else field.default)
        rows.append((field.name, default, field.metadata.get("help", "")))
    return rows


class ConfigFile:
    """One INI file, read once."""

    def __init__(self, path: str) -> None:
        self.path = path
        # DEFAULT is read as an ordinary section, so every other section
        # holds only its own options; ``load`` applies DEFAULT per schema.
        parser = configparser.RawConfigParser(strict=True, default_section="\0none",
                                              interpolation=None)
        # Keep option names as written: some carry names (tempauth's
        # user64_<base64>, SERVICE_require_group). Schemas match them
        # without regard to case (see build).
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            with open(path, encoding="utf-8") as handle:
                parser.read_file(handle)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"config file {path} cannot be read: {err}") from None
        except configparser.Error as err:
            first_line = str(err).strip().splitlines()[0]
            raise ConfigError(f"config file {path}: {first_line}") from None
        sections = {name: dict(parser.items(name)) for name in parser.sections()}
        self.defaults: dict[str, str] = sections.pop("DEFAULT", {})
        self.sections: dict[str, dict[str, str]] = sections

    def has(self, section: str) -> bool:
        return section in self.sections

    def load(self, section: str, schema: type[T], required: bool = True) -> tuple[T, list[str]]:
        """The section as ``schema`` (DEFAULT applied), and warnings."""
        if section not in self.sections and required:
            raise ConfigError(f"config file {self.path} has no [{section}] section")
        return build(schema, self.sections.get(section, {}), source=self.path,
                     section=section, shared=self.defaults)

    def pipeline(self, name: str = "main") -> list[str]:
        """The names in ``[pipeline:<name>] pipeline = a b c app``."""
        section = f"pipeline:{name}"
        text = {k.lower(): v for k, v in self.sections.get(section, {}).items()}.get("pipeline")
        if not text:
            raise ConfigError(f"config file {self.path} has no pipeline in [{section}]")
        names = parse_list(text)
        for position, item in enumerate(names):
            kind = "app" if position == len(names) - 1 else "filter"
            if f"{kind}:{item}" not in self.sections:
                raise ConfigError(
                    f"config file {self.path}: pipeline names {item!r} but there is no "
                    f"[{kind}:{item}] section")
        return names

