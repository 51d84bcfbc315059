"""Pinyin for the evasion-resistant matcher: 微信 written as "wei xin", "weixin" or "wei信".

- ``syllable(char)``: the toneless pinyin of one 汉字 (its most common reading; ü as v: 绿 → lv);
- ``term_pinyin(term)``: a word-list term in pinyin, read as a phrase (银行 → yinhang); Latin
  letters and digits stay as they are;
- ``fuzzy(spelling)``: pinyin as near-homophones hear it: zh/ch/sh as z/c/s and -ng as -n
  (好pin for 好评 = haoping, wei xing for 微信), applied to the text's pinyin and the terms' alike;
- ``boundaries(run)``: where a run of Latin letters can be cut into pinyin syllables
  ("jiaweixin" → {0, 3, 6, 9}); an English word that is not pinyin gives only its two ends, so a
  term's pinyin never matches in the middle of one ("qun" is not found in "aqunb").

Built on pypinyin's dictionaries (pinned in requirements.txt); everything is cached per process.
"""

from __future__ import annotations

from functools import cache, lru_cache

from pypinyin import Style, lazy_pinyin
from pypinyin.contrib.tone_convert import to_normal
from pypinyin.pinyin_dict import pinyin_dict

VOWELS = set("aeiouv")
LONGEST_SYLLABLE = 6  # zhuang, chuang, shuang


def _plain(reading: str) -> str:
    return to_normal(reading, v_to_u=False).replace("ü", "v").lower()


@cache
def syllables() -> frozenset[str]:
    """Every toneless syllable of the dictionary, without the vowel-less interjections (m, n, ng,
    hm …) that would let almost any Latin word be cut into "syllables"."""
    found = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            plain = _plain(reading)
            if plain.isascii() and plain.isalpha() and VOWELS & set(plain):
                found.add(plain)
    return frozenset(found)


@lru_cache(maxsize=8192)
def syllable(char: str) -> str | None:
    """The toneless pinyin of ``char`` (its first, most common reading), or None for a character
    that is not in the dictionary."""
    readings = pinyin_dict.get(ord(char))
    if not readings:
        return None
    return _plain(readings.split(",")[0])


@lru_cache(maxsize=8192)
def term_pinyins(term: str) -> tuple[str, ...]:
    """``term`` in pinyin: read as a phrase, and character by character when that differs (a
    text's 汉字 are read one by one, so 行 in a mixed "yin行" reads xing). Empty when the term has
    no 汉字 (it needs no pinyin form)."""
    if not any(syllable(char) for char in term):
        return ()
    phrase = "".join(_plain(part) for part in lazy_pinyin(term, style=Style.NORMAL, errors="default"))
    by_char = "".join(syllable(char) or char for char in term)
    return tuple(dict.fromkeys([phrase, by_char]))


@lru_cache(maxsize=4096)
def boundaries(run: str) -> frozenset[int]:
    """The positions of ``run`` (lower-case Latin letters) where some cutting of the *whole* run
    into pinyin syllables has a cut, ends included; just ``{0, len(run)}`` when no cutting exists."""
    size = len(run)
    known = syllables()
    reach_from_start = [False] * (size + 1)
    reach_from_start[0] = True
    for start in range(size):
        if not reach_from_start[start]:
            continue
        for length in range(1, min(LONGEST_SYLLABLE, size - start) + 1):
            if run[start:start + length] in known:
                reach_from_start[start + length] = True
    if not reach_from_start[size]:
        return frozenset({0, size})
    reach_to_end = [False] * (size + 1)
    reach_to_end[size] = True
    for end in range(size, 0, -1):
        if not reach_to_end[end]:
            continue
        for length in range(1, min(LONGEST_SYLLABLE, end) + 1):
            if run[end - length:end] in known:
                reach_to_end[end - length] = True
    return frozenset(i for i in range(size + 1) if reach_from_start[i] and reach_to_end[i])


@lru_cache(maxsize=8192)
def fuzzy(spelling: str) -> tuple[str, tuple[int, ...]]:
    """``spelling`` with the letters near-homophones drop (the h of zh/ch/sh, the g of ng), and
    the index in ``spelling`` of every letter kept."""
    def dropped(i: int) -> bool:
        before, char = spelling[i - 1] if i else "", spelling[i]
        return (char == "h" and before in ("z", "c", "s")) or (char == "g" and before == "n")

    kept = tuple(i for i in range(len(spelling)) if not dropped(i))
    return "".join(spelling[i] for i in kept), kept
