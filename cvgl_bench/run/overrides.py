"""Overrides of a cell from the command line: hparams (``--set KEY=VALUE``: an ablation is one
option) and protocol options (``--protocol KEY=VALUE``).

An override replaces one entry of the method's resolved hparams; dotted keys reach into nested
tables (``augment.flip_p=0``, ``image_size.ground=[32,128]``). Values are YAML scalars or lists
under the YAML 1.2 core schema: only ``true``/``false`` are booleans, so ``ncm=off`` stays the
string ``"off"`` (YAML 1.1 would read it as false).

A cell carries its overrides as ``((key, json value), ...)`` so it stays hashable and travels
as JSON to worker processes; the record names them in ``cell.variant`` (``"ncm=off"``) and in
its file name, and the configuration hash covers the merged hparams, so an ablation never
reuses the checkpoint of the full model.

Why not OmegaConf's dotlist and struct-mode merge (tried with omegaconf 2.4.0): its dotlist
reads values as YAML 1.1, so ``--set ncm=off`` arrives as the boolean ``False`` and CLNet's
``ncm=off`` ablation would silently become another value; ``${...}`` inside a value is an
interpolation; an unknown key is a multi-line ``ConfigKeyError`` rather than one actionable
line; and it would be a new dependency for about 150 lines. The merge itself is
``train.base.deep_merge`` (a dozen lines, used by every recipe).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..fsutil import load_yaml

Overrides = tuple[tuple[str, str], ...]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


def _yaml_core_schema() -> type:
    """A ``yaml.SafeLoader`` subclass with the YAML 1.2 core schema's booleans (only true/false:
    ``off`` stays a string) and floats (``1e-4`` is a number, as in YAML 1.2; YAML 1.1 needs ``1.0e-4``)."""
    import yaml

    class CoreSchema(yaml.SafeLoader):
        pass

    replaced = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:float"}
    CoreSchema.yaml_implicit_resolvers = {k: [r for r in v if r[0] not in replaced]
                                          for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    CoreSchema.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                     list("tTfF"))
    CoreSchema.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        list("-+0123456789."))
    return CoreSchema


def parse_value(text: str) -> Any:
    """A ``--set`` value: a YAML scalar or flow list/mapping (``3``, ``1e-4``, ``off``, ``[2, 3]``)."""
    import yaml

    try:
        value = load_yaml(text, _yaml_core_schema())
    except yaml.YAMLError as exc:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ConfigError(f"--set value {shown!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if value is None and text.strip() not in ("null", "~", "None", ""):
        value = text
    return value


def parse_set(items: Iterable[str]) -> Overrides:
    """``("ncm=off", "lr=1e-4")`` -> ``(("ncm", '"off"'), ("lr", "0.0001"))``; bad items are one-line errors."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set takes KEY=VALUE (e.g. ncm=off, lr=1e-4, augment.flip_p=0), got {item!r}")
        if not _KEY.match(key):
            raise ConfigError(f"--set key {key!r} must be a hparams name, dotted for nested ones (augment.flip_p)")
        try:
            value = json.dumps(parse_value(text.strip()), sort_keys=True, allow_nan=False)
        except ValueError:
            raise ConfigError(f"--set {key}={text.strip()}: a hparam holds finite numbers only (no inf or NaN, "
                              "which JSON records cannot hold)") from None
        if out.get(key, value) != value:
            raise ConfigError(f"--set {key} is given twice with different values; keep one")
        out[key] = value
    leaves = [leaf for key, value in out.items() for leaf, _ in _leaves(key, json.loads(value))]
    for leaf in leaves:  # one entry set twice (augment={flip_p: 0} and augment.flip_p=1): order would decide
        inside = [other for other in leaves if other == leaf or other.startswith(leaf + ".")]
        if len(inside) > 1:
            raise ConfigError(f"--set sets {inside[-1]} in two items; give each entry once")
    return tuple(out.items())


_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def _leaves(key: str, value: Any) -> Iterable[tuple[str, Any]]:
    """``augment={flip_p: 0}`` as the entries it sets, ``("augment.flip_p", 0)``: a mapping value
    sets its keys one by one (:func:`apply_overrides`)."""
    if isinstance(value, dict) and value and all(isinstance(k, str) and _NAME.match(k) for k in value):
        for sub, sub_value in value.items():
            yield from _leaves(f"{key}.{sub}", sub_value)
    else:
        yield key, value


def parse_protocol(items: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``("ties=loose", "r1pct=vigor")`` -> ``(("ties", "loose"), ("r1pct", "vigor"))``; a malformed
    item is a one-line error (whether the split has the option is checked where it is applied)."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--protocol takes KEY=VALUE (e.g. ties=loose, cvact_test=exact_id), got {item!r}")
        if pairs.get(key.strip(), value.strip()) != value.strip():
            raise ConfigError(f"--protocol {key.strip()} is given twice with different values; keep one")
        pairs[key.strip()] = value.strip()
    return tuple(pairs.items())


def normalise(overrides: Iterable[Sequence[Any]]) -> Overrides:
    """Overrides as a tuple of ``(key, json)`` string pairs (from JSON lists or tuples)."""
    return tuple((str(k), str(v)) for k, v in overrides)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def effective_overrides(hparams: Mapping[str, Any], overrides: Overrides, *, method: str = "the method"
                        ) -> tuple[Overrides, Overrides]:
    """``(changing, no_ops)``: the overrides that change ``hparams`` and those that set the value
    the recipe has already (``--set epochs=4`` on a 4-epoch recipe), which must not make a variant."""
    changing, no_ops = [], []
    for item in overrides:
        (changing if apply_overrides(hparams, (item,), method=method) != dict(hparams) else no_ops).append(item)
    return tuple(changing), tuple(no_ops)


def variant_label(overrides: Overrides) -> str:
    """``"ncm=off"``, ``"gfr=false,nec=false"``; empty without overrides.

    One configuration has one label, however its overrides were spelled: each entry set is named
    by its dotted key (``--set 'augment={flip_p: 0}'`` is ``augment.flip_p=0``), in sorted order
    (``--set nec=false --set gfr=false`` is the variant ``gfr=false,nec=false``). Two spellings
    with one label set the same hparams, or one of them is refused."""
    leaves = sorted((leaf for key, value in overrides for leaf in _leaves(key, json.loads(value))),
                    key=lambda item: item[0])
    return ",".join(f"{key}={_show(value)}" for key, value in leaves)


def checkpoint_variant(variant: str, sha256: str) -> str:
    """The variant of records that score a given checkpoint (``run --checkpoint``): the cell's own
    variant, then ``checkpoint=<first 8 hex digits of the file's SHA-256>``."""
    return ",".join(part for part in (variant, f"checkpoint={sha256[:8]}") if part)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a name"
    if isinstance(value, dict):
        return "a table"
    return "a list"


#: kinds an override may give a recipe entry of each kind (a name or a flag may stand for each
#: other: ``pretrained`` is ``true`` in one profile and a weights name in another)
_COMPATIBLE = {"an integer": {"an integer"}, "a number": {"a number", "an integer"},
               "true/false": {"true/false", "a name"}, "a name": {"a name", "true/false"},
               "a table": {"a table"}, "a list": {"a list"}}


def _check_type(key: str, default: Any, value: Any) -> None:
    """An override keeps the kind of the recipe's value (``epochs=abc`` is refused before any work);
    entries whose recipe value is null, and null overrides, accept anything."""
    if default is None or value is None:
        return
    want, got = _kind(default), _kind(value)
    if got not in _COMPATIBLE.get(want, {want}):
        shown = json.dumps(default)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise ConfigError(f"--set {key}={json.dumps(value)}: the recipe's {key} is {want} ({shown}), not {got}")


#: hparams that the harness derives and a --set cannot change, with what to do instead
_DERIVED = {
    "views": "a run's views are its training split's; train on a split with the views you want (--train-on)",
    "image_sizes": "set the resolved size of one view instead, e.g. --set image_size.ground=[64,256]",
}


def apply_overrides(hparams: Mapping[str, Any], overrides: Overrides, *, method: str = "the method") -> dict[str, Any]:
    """``hparams`` with every override deep-merged in; an unknown key is a one-line error.

    A dotted key replaces one entry of a nested table; a mapping value merges key by key into
    a mapping entry, by the same rules. Keys must exist already, so a typo (``nmc=off``,
    ``image_size={"grund": ...}``) fails instead of training the unchanged model under a new
    name. A table the recipe leaves empty (``backbone_kwargs``) is open: any key may be added.
    """
    out = copy.deepcopy(dict(hparams))
    for key, text in overrides:
        value = json.loads(text)
        *parents, last = key.split(".")
        if key.split(".")[0] in _DERIVED:
            raise ConfigError(f"--set {key}: {_DERIVED[key.split('.')[0]]}")
        table: Any = out
        path = []
        for part in parents:
            path.append(part)
            if not isinstance(table, dict) or not isinstance(table.get(part), dict):
                raise ConfigError(f"--set {key}: {'.'.join(path)} is not a table of {method}'s hparams")
            table = table[part]
        _assign(table, parents, last, value, method)
    return json.loads(json.dumps(out))


def _assign(table: dict[str, Any], parents: list[str], name: str, value: Any, method: str) -> None:
    """Set ``table[name]`` (reached through ``parents``) to ``value``, merging a mapping key by key."""
    key = ".".join([*parents, name])
    if name not in table:
        if table:
            known = ", ".join(sorted(table)) if len(table) <= 60 else f"{len(table)} keys"
            where = f"{'.'.join(parents)} of " if parents else ""
            raise ConfigError(f"--set {key}: {method} has no hparam {name!r} in {where}its recipe (known: {known})")
        table[name] = copy.deepcopy(value)
        return
    _check_type(key, table[name], value)
    if isinstance(value, dict) and isinstance(table[name], dict) and table[name]:
        for sub, sub_value in value.items():
            _assign(table[name], [*parents, name], sub, sub_value, method)
    else:
        table[name] = copy.deepcopy(value)
