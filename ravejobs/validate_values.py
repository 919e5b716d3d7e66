"""Values that reach an sbatch script, a job name, a comment or a path: checked once, at the edge.

`config.build_runspec` calls `value_problems` on every point and `config.build_runspecs` calls
`sweep_problems` on the whole sweep, so nothing a user types can later start a shell line, nest
a folder or leave the storage root. What is allowed (docs/config.md, "Tags and labels"):

- `tag`: letters, digits, `-`, `_` and spaces (a space becomes `-` in run names), at most 32
  characters, starting with a letter or digit; empty for none.
- `dataset.label`, `dataset.name`, `model.name`: letters, digits, `-`, `_`, at most 32.
- cluster words (`cluster.name`, `account`, `partition`, `gpu_type`): letters, digits, `-`,
  `_`, `.`, `:`, `+`, at most 64.
- paths (`storage.root`, `storage.data_root`, `dataset.packed`): absolute, no control
  character, no `..`; `dataset.raw`: no control character.
- `reason`: free text on one line (newlines and tabs are folded to spaces), no other control
  character, at most 500 characters; each `cluster.setup` entry one line, no control character.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_ -]{0,31}")
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}")
TAG_RULE = "letters, digits, '-', '_' or spaces, at most 32, starting with a letter or digit"
LABEL_RULE = "letters, digits, '-' or '_', at most 32, starting with a letter or digit"
WORD_RULE = "letters, digits, '-', '_', '.', ':' or '+', at most 64"
FOLDED = "\n\t\r\v\f"  # whitespace that `reason` may hold: folded to spaces where printed


def control_chars(text: str, allowed: str = "") -> list[str]:
    """The control, format and line/paragraph separator characters in `text` (repr'd)."""
    return [repr(ch) for ch in dict.fromkeys(text) if ch not in allowed and
            unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]


def _pattern(problems: list[str], key: str, value: str, pattern: re.Pattern, rule: str) -> None:
    if value and not pattern.fullmatch(value):
        problems.append(f"{key}={value!r}: not allowed; use {rule} (see docs/config.md)")


def _path(problems: list[str], key: str, value: str, absolute: bool = True) -> None:
    bad = control_chars(value)
    if bad:
        problems.append(f"{key}={value!r}: holds control characters ({', '.join(bad)}); "
                        "give a plain path")
        return
    if not absolute:
        return
    if not value.startswith("/"):
        problems.append(f"{key}={value!r}: must be an absolute path (jobs start elsewhere)")
    elif ".." in PurePosixPath(value).parts:
        problems.append(f"{key}={value!r}: write the path without '..'")


def value_problems(spec: Any) -> list[str]:
    """One line per value of this RunSpec that could reach a shell, a name or a path unsafely."""
    p: list[str] = []
    _pattern(p, "tag", spec.tag, TAG, TAG_RULE)
    if spec.tag != spec.tag.strip():
        p.append(f"tag={spec.tag!r}: no leading or trailing spaces")
    _pattern(p, "dataset.label", spec.dataset.label, LABEL, LABEL_RULE)
    if not spec.dataset.label:
        p.append("dataset.label: empty; give the corpus a label (e.g. AS-AUG)")
    _pattern(p, "dataset.name", spec.dataset.name, LABEL, LABEL_RULE)
    _pattern(p, "model.name", spec.model.name, LABEL, LABEL_RULE)
    c = spec.cluster
    for key, value in (("cluster.name", c.name), ("cluster.account", c.account),
                       ("cluster.partition", c.partition), ("cluster.gpu_type", c.gpu_type)):
        _pattern(p, key, value or "", WORD, WORD_RULE)
    for i, gpu in enumerate(c.gpu_types):
        _pattern(p, f"cluster.gpu_types[{i}]", str(gpu), WORD, WORD_RULE)
    for i, line in enumerate(c.setup):
        bad = control_chars(str(line))
        if bad:
            p.append(f"cluster.setup[{i}]={line!r}: one shell line per entry, no control "
                     f"characters ({', '.join(bad)})")
    bad = control_chars(spec.reason, allowed=FOLDED)
    if bad:
        p.append(f"reason: holds control characters ({', '.join(bad)}); write plain text")
    if len(spec.reason) > 500:
        p.append(f"reason: {len(spec.reason)} characters; keep it under 500")
    _path(p, "storage.root", spec.storage.root)
    _path(p, "storage.data_root", spec.storage.data_root)
    _path(p, "dataset.packed", spec.dataset.packed)
    _path(p, "dataset.raw", spec.dataset.raw, absolute=False)
    return p


def sweep_problems(specs: Sequence[Any]) -> list[str]:
    """Whole-sweep rules: one cluster and one storage root; no two names for one run."""
    from dataclasses import asdict

    from ravejobs.naming import run_dirname, signature

    p: list[str] = []
    if not specs:
        return p
    first = asdict(specs[0].cluster)
    for key in first:
        values = list(dict.fromkeys(str(asdict(s.cluster)[key]) for s in specs))
        if len(values) > 1:
            p.append(f"cluster.{key}: this sweep mixes {', '.join(values)}; one cluster and one "
                     "cluster setting per sweep (launch one sweep per value)")
    roots = list(dict.fromkeys(s.storage.root for s in specs))
    if len(roots) > 1:
        p.append(f"storage.root: this sweep mixes {', '.join(roots)}; one storage root per "
                 "sweep (its manifest and lock live there)")
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for spec in specs:
        for stage in spec.stages:
            key = (stage, signature(spec, stage))
            name = run_dirname(spec, stage)
            where = f"tag={spec.tag!r}, dataset.label={spec.dataset.label!r}"
            if key in seen and seen[key][0] != name:
                p.append(
                    f"tag: {seen[key][1]} and {where} name the same {stage} run "
                    f"(signature {key[1]}); a tag or label does not change what is trained, so "
                    "give one tag per sweep, or change a setting (e.g. seed) to get another run")
            seen.setdefault(key, (name, where))
    return list(dict.fromkeys(p))


# ----------------------------------------------------------------------------- `+key` overrides


def _flat_keys(node: Any, prefix: str, out: set[str]) -> None:
    if isinstance(node, dict):
        for key, sub in node.items():
            if str(key) == "defaults":
                continue
            full = f"{prefix}.{key}" if prefix else str(key)
            out.add(full)
            _flat_keys(sub, full, out)


def known_keys(conf_dir: Any) -> set[str]:
    """Every dotted key some config file under conf_dir defines (conf/local/ included)."""
    conf = Path(conf_dir)
    keys: set[str] = set()
    for path in sorted(conf.rglob("*.yaml")):
        text = path.read_text()
        group = path.parent.relative_to(conf).as_posix()
        found = re.search(r"^#\s*@package\s+(\S+)", text, re.MULTILINE)
        package = found.group(1) if found else ("" if group == "." else group.replace("/", "."))
        if package == "_global_":
            package = ""
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            continue
        if package:
            keys.add(package)
        _flat_keys(data, package, keys)
    return keys


def added_key_problems(overrides: Iterable[str], conf_dir: Any,
                       schema_keys: Iterable[str] = ()) -> list[str]:
    """`+key=value` where neither the schema nor a config file defines `key`: refused with the
    closest known key.

    Hydra suggests `+key` for any unknown key, typos included; validation reads only known
    keys, so such a value would be dropped without a word.
    """
    from difflib import get_close_matches

    conf = Path(conf_dir)
    added = [o for o in dict.fromkeys(overrides) if o.startswith("+") and "=" in o]
    if not added or not conf.is_dir():
        return []
    keys = known_keys(conf) | set(schema_keys)
    groups = {p.relative_to(conf).as_posix() for p in conf.rglob("*") if p.is_dir()}
    p: list[str] = []
    for text in added:
        key = text.lstrip("+").split("=", 1)[0].split("@", 1)[0].strip()
        if key in keys or key in groups or key.split(".")[0].split("/")[0] == "hydra":
            continue  # Hydra's own settings are Hydra's to check
        same_depth = sorted(k for k in keys if k.count(".") == key.count("."))
        close = get_close_matches(key, same_depth, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}={text.split('=', 1)[1]}?" if close else \
            "check the spelling in docs/config.md"
        p.append(f"{text}: no config group defines {key}, so it would be ignored; {hint}")
    return p
