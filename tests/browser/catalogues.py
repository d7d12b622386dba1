"""The wallboard's message catalogues, for the browser tests that check a page's language."""

from __future__ import annotations

import json
import re
from pathlib import Path

CATALOGUES = Path(__file__).parents[2] / "api" / "static" / "wallboard" / "i18n"


def catalogue(lang: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))
    return loaded


def english_left(texts: list[str], lang: str = "ru") -> list[str]:
    """The texts that are an English message of the catalogue (placeholders as wildcards);
    messages the same in both languages (the brand, "PBX") do not count."""
    english = catalogue("en")
    other = catalogue(lang)
    patterns = [
        re.compile(
            "^" + ".+?".join(re.escape(part) for part in re.split(r"\{\w+\}", text)) + "$",
            re.IGNORECASE,
        )
        for key, text in english.items()
        if text != other[key] and re.sub(r"\{\w+\}", "", text).strip(" .:+—…()")
    ]
    brand = english["brand"]
    texts = [text for text in texts if text != brand and not text.startswith(f"{brand} —")]
    return sorted({text for text in texts for p in patterns if p.match(text)})


# The visible texts under a root (not in templates, hidden parts or closed dialogs) and
# the aria-label, title and placeholder of every element under it, hidden or not.
TEXTS_JS = """(selector) => {
  const root = selector ? document.querySelector(selector) : document.body;
  const out = selector ? [] : [document.title];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (el.closest('template, [hidden], dialog:not([open])')) continue;
    if (!el.getClientRects().length) continue;
    out.push(walker.currentNode.textContent.trim());
  }
  for (const el of [root, ...root.querySelectorAll('[aria-label], [title], [placeholder]')]) {
    for (const a of ['aria-label', 'title', 'placeholder']) {
      if (el.hasAttribute(a)) out.push(el.getAttribute(a));
    }
  }
  return out.filter(Boolean);
}"""
