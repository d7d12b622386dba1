"""The wallboard's message catalogues (api/static/wallboard/i18n/*.json) are complete.

Every key the page (`data-i18n`, `data-i18n-attr` in index.html) and the scripts
(`t('key')`, also `t(cond ? 'a' : 'b')`) use is in every catalogue; every
catalogue has the same keys and, per key, the same `{placeholders}`; no key is
left unused; no visible English is left in the scripts outside the catalogue.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WALLBOARD = Path(__file__).resolve().parents[2] / "api" / "static" / "wallboard"
CATALOGUES = WALLBOARD / "i18n"
LANGUAGES = ("en", "ru")

T_CALL = re.compile(r"\bt\(\s*(?:[\w.]+\s*\?\s*)?'([^']+)'(?:\s*:\s*'([^']+)')?")
DATA_I18N = re.compile(r'data-i18n="([^"]+)"')
DATA_I18N_ATTR = re.compile(r'data-i18n-attr="([^"]+)"')
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalogue(lang: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))
    return loaded


def keys_in_scripts() -> dict[str, set[str]]:
    """Key → the files using it."""
    used: dict[str, set[str]] = {}
    for path in sorted(WALLBOARD.glob("*.js")):
        for match in T_CALL.finditer(path.read_text(encoding="utf-8")):
            for key in filter(None, match.groups()):
                used.setdefault(key, set()).add(path.name)
    html = (WALLBOARD / "index.html").read_text(encoding="utf-8")
    for key in DATA_I18N.findall(html):
        used.setdefault(key, set()).add("index.html")
    for pairs in DATA_I18N_ATTR.findall(html):
        for pair in pairs.split():
            used.setdefault(pair.split("=", 1)[1], set()).add("index.html")
    return used


def test_the_scan_finds_the_keys_of_every_kind_of_use() -> None:
    used = keys_in_scripts()
    assert "state.idle" in used and "view.js" in used["state.idle"]  # t('…')
    assert {"done.pausedIn", "done.paused"} <= set(used)  # t(cond ? '…' : '…')
    assert "index.html" in used["settings.open"]  # data-i18n-attr
    assert "index.html" in used["calls.title"]  # data-i18n
    assert len(used) > 100


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_used_is_in_the_catalogue(lang: str) -> None:
    messages = catalogue(lang)
    missing = {
        key: sorted(files) for key, files in keys_in_scripts().items() if key not in messages
    }
    assert missing == {}, f"missing in i18n/{lang}.json"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_text(lang: str) -> None:
    empty = [
        key
        for key, text in catalogue(lang).items()
        if not isinstance(text, str) or not text.strip()
    ]
    assert empty == []


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    english = catalogue("en")
    for lang in LANGUAGES[1:]:
        other = catalogue(lang)
        assert sorted(set(english) - set(other)) == [], f"missing in i18n/{lang}.json"
        assert sorted(set(other) - set(english)) == [], f"only in i18n/{lang}.json"
        differing = {
            key: (text, other[key])
            for key, text in english.items()
            if set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(other[key]))
        }
        assert differing == {}


def test_no_key_is_left_unused() -> None:
    assert sorted(set(catalogue("en")) - set(keys_in_scripts())) == []


def test_russian_is_translated() -> None:
    """Beyond the brand and pure placeholders, the Russian texts are not the English ones."""
    english, russian = catalogue("en"), catalogue("ru")
    same = sorted(
        key
        for key, text in english.items()
        if russian[key] == text and re.search(r"[A-Za-z]{2,}", PLACEHOLDER.sub("", text))
    )
    assert same == ["brand"]
    cyrillic = [key for key, text in russian.items() if re.search("[а-яА-Я]", text)]
    assert len(cyrillic) > len(russian) * 0.9


def test_scripts_keep_no_visible_english_outside_the_catalogue() -> None:
    """Texts a person reads are set through t(): no English sentence assigned directly."""
    assignment = re.compile(
        r"(?:textContent|title|setText\([^,]+,|setAttribute\('(?:aria-label|title|placeholder)',)"
        r"\s*=?\s*[`'\"]([A-Z][a-z]+ [a-z]+[^`'\"]*)[`'\"]"
    )
    found = {
        path.name: assignment.findall(path.read_text(encoding="utf-8"))
        for path in sorted(WALLBOARD.glob("*.js"))
    }
    assert {name: texts for name, texts in found.items() if texts} == {}
