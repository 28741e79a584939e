"""The `bert_config.json` of every model Google released, by name.

    from official_bert import configs

    configs.path("uncased_L-12_H-768_A-12")  # .../uncased_L-12_H-768_A-12/bert_config.json
    configs.names()                          # ["cased_L-12_H-768_A-12", ...]

In a checkout they are the files under the top-level `configs/` folder; an
installed package ships the same files as package data
(`official_bert/bert_configs/`, mapped from `configs/` by pyproject.toml).
`bundled_dir` finds either, for the other bundled folder too (`sample_data`,
what the demo runs on).
"""

from __future__ import annotations

import os

from official_bert.errors import InputError, MissingFileError

CONFIG_FILENAME = "bert_config.json"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Folder of the checkout -> its name inside an installed package (pyproject.toml).
_INSTALLED_NAMES = {"configs": "bert_configs", "sample_data": "sample_data"}


def bundled_dir(name: str) -> str:
    """The folder `name` (`configs` or `sample_data`) of the package or of the checkout.

    Raises:
      MissingFileError: neither an installed package nor a checkout has it.
    """
    installed = os.path.join(_PACKAGE_DIR, _INSTALLED_NAMES[name])
    checkout = os.path.join(os.path.dirname(_PACKAGE_DIR), name)
    for candidate in (installed, checkout):
        if os.path.isdir(candidate):
            return candidate
    raise MissingFileError(
        f"official_bert's {name} folder is missing: looked in {installed} (an installed "
        f"package) and {checkout} (a checkout). Reinstall the package."
    )


def names() -> list[str]:
    """The names of the released configs, sorted (e.g. `uncased_L-12_H-768_A-12`)."""
    directory = bundled_dir("configs")
    return sorted(
        entry
        for entry in os.listdir(directory)
        if os.path.isfile(os.path.join(directory, entry, CONFIG_FILENAME))
    )


def path(name: str) -> str:
    """The path of the released model `name`'s bert_config.json.

    Args:
      name: the folder name of the released model, e.g. `uncased_L-12_H-768_A-12`
        (a trailing `/` or `/bert_config.json` is accepted).

    Raises:
      InputError: no released config has that name; the message lists the names.
    """
    key = name.strip().rstrip("/")
    if key.endswith("/" + CONFIG_FILENAME):
        key = key[: -len(CONFIG_FILENAME) - 1]
    known = names()
    if key not in known:
        raise InputError(
            f"No released BERT config is named {name!r}. The names are: {', '.join(known)}."
        )
    return os.path.join(bundled_dir("configs"), key, CONFIG_FILENAME)
