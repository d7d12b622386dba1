// Every text of the board comes from a message catalogue (i18n/<lang>.json); numbers,
// durations and times are formatted for the chosen locale. The language is `?lang=`,
// else the browser's first supported one, else English. A test checks that both
// catalogues have every key the page and the scripts use.

import { LANGUAGES } from './address.js';

let messages = {};
let locale = 'en';
let numbers = new Intl.NumberFormat('en');
let twoDigits = new Intl.NumberFormat('en', { minimumIntegerDigits: 2, useGrouping: false });
// One formatter per language: making one is far dearer than formatting with it.
const PERCENT = { style: 'percent', maximumFractionDigits: 0 };
let percents = new Intl.NumberFormat('en', PERCENT);

/** `?lang=` if given, else the first of the browser's languages we have, else English. */
export function pickLanguage(requested, preferred = navigator.languages ?? [navigator.language]) {
  if (requested && LANGUAGES.includes(requested)) return requested;
  for (const tag of preferred ?? []) {
    const primary = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return 'en';
}

/** Load one catalogue; the page's `lang` follows. */
export async function loadLanguage(lang) {
  const response = await fetch(new URL(`i18n/${lang}.json`, import.meta.url), { cache: 'no-cache' });
  if (!response.ok) throw new Error(`catalogue ${lang}: HTTP ${response.status}`);
  messages = await response.json();
  locale = lang;
  numbers = new Intl.NumberFormat(lang);
  twoDigits = new Intl.NumberFormat(lang, { minimumIntegerDigits: 2, useGrouping: false });
  percents = new Intl.NumberFormat(lang, PERCENT);
  document.documentElement.lang = lang;
}

export function currentLocale() {
  return locale;
}

/** The message `key` with its `{placeholders}` filled in (the key itself if missing). */
export function t(key, params) {
  const text = messages[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Translate the static page: `data-i18n="key"` (text), `data-i18n-attr="title:key aria-label:key"`. */
export function translatePage(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(/\s+/).filter(Boolean)) {
      const [attribute, key] = pair.split('=');
      el.setAttribute(attribute, t(key));
    }
  }
}

/** 1234 → "1,234" / "1 234". */
export function number(value) {
  return numbers.format(value);
}

/** 75 → "1:15", 3700 → "1:01:40" (the locale's digits); null → "". */
export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = twoDigits.format(s % 60);
  return h > 0 ? `${numbers.format(h)}:${twoDigits.format(m)}:${rest}` : `${numbers.format(m)}:${rest}`;
}

/** 67 → "67%" / "67 %". */
export function percent(value) {
  return percents.format(value / 100);
}

/** The wall clock, in the locale's way. */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** A collator for operator names and extensions: "Agent 2" before "Agent 10". */
export function naturalCollator() {
  return new Intl.Collator(locale, { numeric: true, sensitivity: 'base' });
}
