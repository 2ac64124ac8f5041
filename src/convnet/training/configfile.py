"""Training options from a YAML file (`convnet train --config FILE.yaml`), checked key by key.

Every key is a TrainConfig field; its value must have the field's type (and then passes
TrainConfig.validate, the same rules as the flags). How the file's values meet the flags and
the defaults is training/config.py's resolve_options."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from convnet.errors import ConfigError

_TYPES = {"int": (int,), "float": (float, int), "str": (str,), "bool": (bool,), "dict": (dict,)}


def field_types() -> dict[str, tuple[tuple[type, ...], bool]]:
    """TrainConfig field -> (accepted Python types, whether None is allowed)."""
    from convnet.training.config import TrainConfig

    out = {}
    for f in fields(TrainConfig):
        names = [t.strip() for t in str(f.type).split("|")]
        types = tuple(t for n in names if n != "None" for t in _TYPES[n])
        out[f.name] = (types, "None" in names)
    return out


def check_values(values: dict, where: str) -> dict:
    """Raise ConfigError naming the first unknown key or wrongly typed value."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of option: value, got {type(values).__name__}")
    types = field_types()
    for key, value in values.items():
        if key not in types:
            raise ConfigError(f"{where}: unknown training option {key!r}")
        accepted, nullable = types[key]
        if value is None and nullable:
            continue
        # bool is a subclass of int: `epochs: true` is a mistake, not 1
        if isinstance(value, bool) and bool not in accepted or not isinstance(value, accepted):
            wanted = " or ".join(t.__name__ for t in accepted) + (" or null" if nullable else "")
            raise ConfigError(f"{where}: {key} must be {wanted}, got {value!r}")
    return values


def read_config_file(path: str | Path) -> dict:
    path = Path(path)
    values = read_yaml(path, "config file")
    return check_values(values if values is not None else {}, str(path))


def read_yaml(path: Path, what: str):
    """The parsed YAML of `path`; a missing file, bad YAML or one that expands beyond the caps of
    convnet.safe_yaml (an alias bomb) is a one-line ConfigError."""
    import yaml

    from convnet import safe_yaml

    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        return safe_yaml.load(path.read_text(encoding="utf-8"))
    except safe_yaml.YAMLTooLarge as e:
        raise ConfigError(f"{path}: {what} refused: {e}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
