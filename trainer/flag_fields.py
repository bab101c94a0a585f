"""absl flags made from dataclass fields, so that each option is written once.

A field made with `option(default, help)` carries its help text (and its choices, for an enum);
its name, type and default come from the field itself:

    @dataclasses.dataclass(frozen=True)
    class Options:
        steps: int = option(100, "Training steps.")
        loss: str = option("bce", "Adversarial loss.", choices=("bce", "hinge"))

    define_flags(Options)          # --steps and --loss, owned by the calling module
    Options(**flag_values(Options))  # once absl has parsed the command line

Fields without help text are not flags. `flag_default` gives a flag a default other than the
field's; a flag whose default is None and that is left unset is left out of `flag_values`, so the
field keeps its own default (or, for ModelConfig, the preset's value). Tuple fields are comma lists.
"""

import dataclasses
import types
import typing

from absl import flags

# DEFINE_* called from here would otherwise make these flags this module's key flags, and
# `--help` of the program that asked for them would not list them.
flags.disclaim_key_flags()

_NO_DEFAULT = dataclasses.MISSING


def option(default=_NO_DEFAULT, help: str = "", *, choices=None, flag_default=_NO_DEFAULT):
    """A dataclass field that is also a flag. Without a default the field is required and its
    flag defaults to None (mark it required in the program)."""
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if flag_default is not _NO_DEFAULT or default is _NO_DEFAULT:
        metadata["flag_default"] = None if flag_default is _NO_DEFAULT else flag_default
    return dataclasses.field(default=default, metadata=metadata)


def check_choices(instance, error: type[Exception] = ValueError) -> None:
    """Raises `error` naming the field, its value and the choices for the first option field of
    dataclass `instance` whose value is not among its choices."""
    for field in dataclasses.fields(instance):
        choices = field.metadata.get("choices")
        value = getattr(instance, field.name)
        if choices is not None and value not in choices:
            raise error(f"{type(instance).__name__}.{field.name}={value!r}: choose one of "
                             f"{choices}")


def flag_names(cls) -> tuple[str, ...]:
    """The fields of dataclass `cls` that are flags."""
    return tuple(field.name for field in dataclasses.fields(cls) if "help" in field.metadata)


def define_flags(cls, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines a flag for every option field of dataclass `cls`."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if "help" in field.metadata:
            _define(field, _base_type(hints[field.name]), flag_values)


def flag_values(cls, flag_values: flags.FlagValues = flags.FLAGS) -> dict:
    """{field name: value} of `cls`'s flags as parsed, in the fields' types (comma lists become
    tuples); an unset flag whose default is None is left out."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if "help" not in field.metadata:
            continue
        value = flag_values[field.name].value
        if value is None and field.metadata.get("flag_default", 0) is None:
            continue
        values[field.name] = _from_flag(field.name, value, hints[field.name])
    return values


def _define(field: dataclasses.Field, kind: type, flag_values: flags.FlagValues) -> None:
    name, text = field.name, field.metadata["help"]
    default = field.metadata.get("flag_default", field.default)
    if "choices" in field.metadata:
        flags.DEFINE_enum(name, default, list(field.metadata["choices"]), text,
                          flag_values=flag_values)
    elif kind is tuple:
        listed = None if default is None else [str(v) for v in default]
        flags.DEFINE_list(name, listed, text, flag_values=flag_values)
    elif kind in _DEFINE:
        _DEFINE[kind](name, default, text, flag_values=flag_values)
    else:
        raise TypeError(f"{name}: no flag type for a field of type {kind!r}")


_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string}


def _base_type(hint) -> type:
    """int for `int` and `int | None`, tuple for `tuple[int, ...]`."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _base_type(args[0])
    return typing.get_origin(hint) or hint


def _from_flag(name: str, value, hint):
    """A comma list flag's strings as the field's tuple of (e.g.) ints; other values as they are."""
    if value is None or _base_type(hint) is not tuple:
        return value
    element = next(iter(typing.get_args(hint)), str)
    try:
        return tuple(element(v) for v in value)
    except ValueError:
        kind = {int: "whole numbers", float: "numbers"}.get(element, "values")
        raise ValueError(f"--{name}={','.join(map(str, value))}: give {kind} separated by "
                         "commas") from None
