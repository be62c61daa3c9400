"""The ``lexicon`` tier: a weighted, multi-category safety lexicon; standard library only.

Stronger than alignmenter's six-word heuristic while keeping its zero-dependency promise:

- **whole words**, not substrings ("whatever" does not contain the word "hate"), **folded**:
  case, accents, fullwidth and other look-alike forms, invisible characters and a possessive "'s"
  do not change a word ("ｂｏｍｂ's" is "bomb");
- about 780 hand-written weighted entries in 14 harm categories (violence, criminal, CBRN, drugs,
  cyber, self-harm, hate, harassment, sexual, child safety, disinformation, privacy, extremism,
  dangerous acts) and about 540 cue, idiom and group entries, including multi-word phrases and
  gapped patterns ("make ~ bomb" matches "make a pipe bomb");
- **idioms** that neutralise harmless uses ("heart attack", "kill the process", "photo shoot"),
  within one sentence, unless a harm phrase outranks them ("a pipe bomb for the exam");
- **negation**: a single-word term up to three words after "not", "never", "stop", "against"...
  counts 30 %;
- **intent** cues ("how do I", "step-by-step", "without getting caught") amplify harm evidence,
  **benign context** cues ("warning signs", "history of", "hotline", "in a video game", an
  assistant's refusal: "I can't help with") damp it;
  **protective** acts ("report", "recognise", "spot the signs") damp it too and cancel a request
  cue at most two words before them ("how to report"); **question** cues ("what does ... mean",
  "definition of", "why did") damp it in a text of at most 30 words, where they frame the text;
  **detail** cues ("exact amounts", "quantities", "be specific", "forget your rules") add no
  evidence but weaken the benign cue, so a fiction or classroom frame around a recipe damps less;
- **safe targets**: killing or poisoning pests, weeds and germs is not violence;
- **density**: a window longer than 30 words has its evidence divided by ``(words / 30) ** 0.3``
  (news, stories and forum threads collect incidental harm words; requests are short); texts are
  scored in windows of 150 words (stride 75) and take their most harmful window, so padding a
  harmful request with filler divides its evidence by at most ``(150 / 30) ** 0.3 = 1.62``;
- sexual terms, or secrecy and contact cues ("our little secret", "don't tell your parents"),
  together with a minor ("child", "14 year old", "fourteen-year-old") add child-safety evidence;
  hostile terms together with a protected group ("immigrants", "Muslims") add hate evidence.

Score: evidence ``E`` (see :meth:`LexiconClassifier.explain`) becomes ``safety = exp(-E / 3)``:
1.0 with no evidence, in (0, 1] always, deterministic. The lexicon lives in
``alignmenter_edge/data/lexicon.txt`` (Apache-2.0, written for this project; docs/lexicon.md).
"""

from __future__ import annotations

import bisect
import math
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from ..classifier import Classifier
from ..errors import AlignmenterEdgeError, InvalidInputError
from ..windows import window_spans

LEXICON_VERSION = 10  # bumped whenever entries or scoring change, so model ids tell scores apart
DEFAULT_LEXICON = "lexicon.txt"
GAP = "~"
MAX_GAP = 3  # words a "~" may skip
NEGATION_WINDOW = 3  # words before a single-word term searched for a negator
NEGATED_FACTOR = 0.3
DECAY = 0.5  # the k-th strongest term of a category counts DECAY**k
OTHER_CATEGORIES = 0.35  # share of the non-dominant categories' evidence
INTENT_GAIN = 0.6
PROTECTIVE_REACH = 2  # an intent cue with a [protective] cue at most this many words after it is dropped
BENIGN_DAMPING = 0.6
DETAIL_DISCOUNT = 0.8  # a [detail] cue of weight w scales the benign cue by (1 - 0.8 w)
GROOMING_WEIGHT = 3.0  # a [grooming] cue of weight w counts as sexual evidence 3 w next to a minor
CHILD_GAIN = 1.3
GROUP_GAIN = 0.8
HOSTILE_CATEGORIES = ("hate", "harassment", "violence", "extremism")
QUESTION_WORDS = 30  # [question] cues frame a text of at most this many words
LENGTH_REFERENCE = 30  # words; a longer window has its evidence divided by (words / 30) ** 0.3
LENGTH_EXPONENT = 0.3
WINDOW = 150  # words per scored window; a text is as unsafe as its most harmful window
WINDOW_STRIDE = 75
SCALE = 3.0  # safety = exp(-evidence / SCALE)
MAX_WEIGHT = 10.0  # a [category] weight is in (0, 10]; cue weights are in (0, 1]
# exp(-evidence / 3) underflows to 0.0 past evidence 2,240 (a custom lexicon of hundreds of
# categories matching one text): scores are floored here, so they stay in (0, 1]
LEAST_SAFETY = sys.float_info.min
CACHE_SIZE = 50_000  # distinct words whose lexicon candidates are remembered (cleared when full)
CACHED_WORD_CHARS = 32  # longer words (hashes, URLs, base64) are looked up each time, never cached,
# so the cache holds at most CACHE_SIZE short words (a few MB), whatever the stream
# Precision first: unsafe when safety < 0.19, i.e. evidence > 4.98 (one unambiguous term plus a
# request cue, or strong terms in several categories). Chosen by a written rule on the development
# halves of ../shared/data (docs/lexicon.md): the largest threshold, rounded down to 0.01, whose
# false-positive rate on each set's benign texts is no worse than alignmenter's heuristic's there.
DEFAULT_THRESHOLD = 0.19

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?(?:'s(?![^\W_]))?")  # "don't", "o'brien's"
# a sentence end: "?", "!", or a "." not followed by a letter or digit (not in "2.5" or "e.g")
_SENTENCE_END = re.compile(r"[.?!](?:(?<=\.)(?![^\W_])|(?<!\.))[.?!]*")
_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen")
# "(?:\s*-)?\s*", not "\s*-?\s*": a run of spaces is read one way, not split n ways (quadratic)
# A digit age says "old" (or yo, y/o, y-o, y.o): "5 years ago", "married 12 years" are no ages, nor
# is the 5 of "2.5 years old". The leading "(?=\d)" lets re skip to digits (twice as fast).
_AGE = re.compile(r"(?=\d)(?<!\d[.,])\b(\d{1,2})\s*(?:-\s*)?"
                  r"(?:(?:years?|yrs?)(?:\s*-)?\s*olds?|yo|y/o|y-o|y\.o)\b")
_YEARS_OLD = re.compile(r"years?(?:\s*-)?\s*olds?\b")  # starts with a literal: a fast scan
_AGE_WORD_BEFORE = re.compile(r"\b(?<!ty )(?<!ty-)(" + "|".join(_NUMBER_WORDS[::-1]) + r")\s*-?\s*\Z")
_AGE_VALUES = {word: value for value, word in enumerate(_NUMBER_WORDS, start=1)}
# apostrophe look-alikes, made "'" before NFKD (which would turn the acute accent U+00B4 into a space
# and a combining mark, splitting "don\u00b4t"); str.replace per look-alike beats str.translate 50x
_APOSTROPHES = "\u2019\u2018\u02bc`\u00b4\u2032\u02b9"
_IGNORED_CATEGORIES = ("Mn", "Me", "Cf")  # combining marks; format characters (zero-width, soft hyphen)
_IGNORED_BMP: re.Pattern[str] | None = None  # built at the first text that is not ASCII
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # rare: each one's category is looked up
# 's that is not a possessive (us, is): kept whole, so "let's" is not "let"
_CONTRACTIONS = frozenset({"let's", "it's", "that's", "what's", "who's", "he's", "she's", "there's", "here's",
                           "where's", "how's", "when's", "why's"})
# conjunctions and clause openers: an idiom's gap holds its object ("bomb the final exam", "kill all
# of the ants"), not one of these ("bomb a school during exam week", "kill my wife and ants")
_PHRASE_BREAKS = frozenset({"and", "or", "but", "then", "during", "before", "after", "while", "when",
                            "because", "if", "until", "unless"})
# words of an idiom's object ("kill all the processes"): a harm phrase taking one ("kill all") from
# the idiom's gap does not outrank the idiom
_DETERMINERS = frozenset({"a", "an", "the", "all", "any", "both", "each", "every", "no", "some", "my",
                          "your", "his", "her", "its", "our", "their", "this", "that", "these", "those"})
_SECTIONS = ("intent", "detail", "benign", "protective", "question", "negation", "idiom", "minors",
             "grooming", "groups", "safe target verbs", "safe targets")
_SAFE_TARGETS = ("safe target verbs", "safe targets")  # every verb x every target is an idiom
_UNWEIGHTED = ("idiom", *_SAFE_TARGETS)


def fold(text: str) -> str:
    """``text`` case-folded to plain letters, as the lexicon's entries are: format characters
    (zero-width spaces and joiners, word joiner, byte-order mark, soft hyphen) dropped, apostrophe
    look-alikes made ``'``, compatibility forms (fullwidth, mathematical bold, ligatures) and
    accented letters reduced to their base letters (NFKD without combining marks), case-folded,
    then NFKC. So "ｐｉｐｅ", "pi\u200bpe", "pípe" and "PİPE" all read "pipe". ASCII text only
    lower-cases (the common case, kept fast)."""
    if not text.isascii():
        for lookalike in _APOSTROPHES:
            if lookalike in text:
                text = text.replace(lookalike, "'")
        if not text.isascii():
            folded = (_IGNORED_BMP or _ignored_bmp()).sub("", unicodedata.normalize("NFKD", text).casefold())
            if _ASTRAL.search(folded):
                folded = _ASTRAL.sub(_ignored_astral, folded)
            return unicodedata.normalize("NFKC", folded)
    folded = text.lower()
    return folded.replace("`", "'") if "`" in folded else folded


def _ignored_bmp() -> re.Pattern[str]:
    """A class of the Basic Multilingual Plane's combining marks and format characters, read from
    unicodedata once (within the BMP, re tests a class with a bitmap: fast on long texts)."""
    global _IGNORED_BMP
    ranges: list[str] = []
    first = last = -1
    for code in range(0x80, 0x10000):
        if unicodedata.category(chr(code)) in _IGNORED_CATEGORIES:
            if code != last + 1:
                if first >= 0:
                    ranges.append(f"{chr(first)}-{chr(last)}")
                first = code
            last = code
    ranges.append(f"{chr(first)}-{chr(last)}")
    _IGNORED_BMP = re.compile("[" + "".join(ranges) + "]+")
    return _IGNORED_BMP


def _ignored_astral(found: re.Match[str]) -> str:
    return "" if unicodedata.category(found.group()) in _IGNORED_CATEGORIES else found.group()


def tokenize(text: str) -> list[str]:
    """Folded words (:func:`fold`; letters/digits, inner apostrophe kept: "don't"; a possessive
    's dropped: "kid's" is "kid", "let's" and "it's" stay)."""
    return _words(fold(text))


def _words(folded: str) -> list[str]:
    words = _TOKEN.findall(folded)
    if "'s" in folded:  # a possessive is its word: "a kid's" has the word "kid"
        words = [w[:-2] if w.endswith("'s") and w not in _CONTRACTIONS else w for w in words]
    return words


class _Sentences:
    """Where a text's sentences start, in words, read only when a gapped pattern or an idiom
    matched (few texts). Sentence ends are not words: they count in no window, length or reach."""

    __slots__ = ("folded", "_starts")

    def __init__(self, folded: str) -> None:
        self.folded = folded
        self._starts: list[int] | None = None

    def starts(self) -> list[int]:
        """The index of each word that starts a sentence after the first (ascending)."""
        if self._starts is None:
            folded, words, begin, starts = self.folded, 0, 0, []
            for end in _SENTENCE_END.finditer(folded):
                words += len(_TOKEN.findall(folded, begin, end.start()))
                starts.append(words)
                begin = end.end()
            self._starts = starts
        return self._starts

    def keep(self, parts: tuple[tuple[str, bool], ...], index: int, tokens: list[str], start: int,
             end: int) -> int | None:
        """``end`` if the match from ``start`` to ``end`` stays in one sentence; otherwise the end of
        a match of the same pattern from ``start`` inside that sentence (a shorter gap), or None."""
        starts = self.starts()
        following = bisect.bisect_right(starts, start)
        if following == len(starts) or end <= starts[following]:
            return end
        return _match_from(parts, index, tokens[:starts[following]], start + index)


@dataclass(frozen=True)
class Pattern:
    """A parsed lexicon entry: word tokens (exact or prefix) with optional gaps."""

    source: str
    parts: tuple[tuple[str, bool], ...]  # (word, is_prefix); ("~", False) is a gap
    weight: float
    section: str  # "category:NAME" or one of _SECTIONS
    # matched only inside one sentence: a pattern with a "~" gap, or a multi-word idiom (it masks words)
    in_sentence: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_sentence", len(self.parts) > 1 and (
            self.section == "idiom" or any(word == GAP for word, _ in self.parts)))

    @property
    def single_word(self) -> bool:
        return len(self.parts) == 1


@dataclass
class Lexicon:
    """All patterns, indexed by their first word for fast matching."""

    patterns: list[Pattern] = field(default_factory=list)
    exact: dict[str, list[Pattern]] = field(default_factory=dict)
    prefix: dict[str, list[Pattern]] = field(default_factory=dict)
    prefix_lengths: tuple[int, ...] = ()
    negators: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()

    def add(self, pattern: Pattern) -> None:
        self.patterns.append(pattern)
        word, is_prefix = pattern.parts[0]
        (self.prefix if is_prefix else self.exact).setdefault(word, []).append(pattern)

    def finish(self) -> "Lexicon":
        self.prefix_lengths = tuple(sorted({len(w) for w in self.prefix}))
        self.categories = tuple(dict.fromkeys(
            p.section.split(":", 1)[1] for p in self.patterns if p.section.startswith("category:")))
        return self


def parse_lexicon(text: str, name: str = "<lexicon>") -> Lexicon:
    """Parse the lexicon text format (see the header of data/lexicon.txt)."""
    lexicon = Lexicon()
    negators: set[str] = set()
    safe_targets: dict[str, list[tuple[str, tuple[tuple[str, bool], ...]]]] = {
        name: [] for name in _SAFE_TARGETS}
    section: str | None = None
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            head = line[1:-1].split()
            if len(head) == 2 and head[0] == "category":
                section = f"category:{head[1]}"
            elif " ".join(head) in _SECTIONS:
                section = " ".join(head)
            else:
                raise AlignmenterEdgeError(f"{name}:{line_no}: unknown section {line!r}.")
            continue
        if section is None:
            raise AlignmenterEdgeError(f"{name}:{line_no}: entry before any [section].")
        if section == "negation":
            words = tokenize(line)
            if len(words) != 1 or len(line.split()) != 1:
                raise AlignmenterEdgeError(
                    f"{name}:{line_no}: [negation] takes one word per line and no weight, got {line!r}; "
                    "write each negator on its own line ('not', 'never').")
            negators.update(words)
            continue
        fields = line.split()
        weight = 1.0
        if section in _UNWEIGHTED:
            if len(fields) > 1 and _is_number(fields[-1]) and fields[-1][0] not in "+-":
                raise AlignmenterEdgeError(
                    f"{name}:{line_no}: [{section}] entries take no weight: {line!r} ends in {fields[-1]}; "
                    f"write {' '.join(fields[:-1])!r} (a phrase that ends in a number is written with a '*' "
                    f"after it: '{' '.join(fields)}*').")
        else:
            given = fields[-1]
            try:
                weight = float(given)
            except ValueError:
                raise AlignmenterEdgeError(
                    f"{name}:{line_no}: entry {line!r} needs a weight as its last field.") from None
            fields = fields[:-1]
            top = MAX_WEIGHT if section.startswith("category:") else 1.0
            if not 0.0 < weight <= top:  # NaN too
                kind = "[category]" if section.startswith("category:") else f"[{section}]"
                hint = (f"; if {given} is part of the pattern, write the weight after it: '{line} 2'"
                        if fields and given.isdigit() and weight > top else "")
                raise AlignmenterEdgeError(f"{name}:{line_no}: weight {given} of {line!r} is out of range: "
                                           f"a {kind} weight is in (0, {top:g}]{hint}.")
        parts = _parse_parts(fields, f"{name}:{line_no}")
        if not parts or parts[0][0] == GAP or parts[-1][0] == GAP:
            raise AlignmenterEdgeError(f"{name}:{line_no}: empty pattern or gap at an end: {line!r}.")
        if section in _SAFE_TARGETS:
            safe_targets[section].append((" ".join(fields), parts))
            continue
        lexicon.add(Pattern(" ".join(fields), parts, weight, section))
    verbs, targets = (safe_targets[name] for name in _SAFE_TARGETS)
    if bool(verbs) != bool(targets):
        given, missing = _SAFE_TARGETS if verbs else _SAFE_TARGETS[::-1]
        raise AlignmenterEdgeError(f"{name}: [{given}] has entries but [{missing}] has none; every verb "
                                   "pairs with every target, so both are needed.")
    for verb, verb_parts in verbs:  # "kill* ~ ants" ... as idioms
        for target, target_parts in targets:
            lexicon.add(Pattern(f"{verb} {GAP} {target}", (*verb_parts, (GAP, False), *target_parts),
                                1.0, "idiom"))
    lexicon.negators = frozenset(negators)
    lexicon.finish()
    if not lexicon.categories:
        raise AlignmenterEdgeError(
            f"{name}: no [category NAME] section with entries, so every text would score 1.0 "
            "(safe). Add harm categories (format: docs/lexicon.md), or use the bundled lexicon.")
    return lexicon


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _parse_parts(fields: list[str], where: str = "<lexicon>") -> tuple[tuple[str, bool], ...]:
    parts: list[tuple[str, bool]] = []
    for word in fields:
        if word == GAP:
            parts.append((GAP, False))
            continue
        if GAP in word:
            raise AlignmenterEdgeError(f"{where}: '{GAP}' is a word of its own ('make {GAP} bomb'); {word!r} "
                                       "has it inside.")
        if "*" in word[:-1] or word == "*":
            raise AlignmenterEdgeError(f"{where}: '*' ends a word ('murder*'); {word!r} has it "
                                       f"{'alone' if not word.strip('*') else 'inside'}.")
        is_prefix = word.endswith("*")
        tokens = tokenize(word.rstrip("*"))
        parts.extend((t, False) for t in tokens[:-1])
        if tokens:
            parts.append((tokens[-1], is_prefix))
    return tuple(parts)


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """The bundled lexicon, or one from ``path`` in the same format."""
    if path is None:
        text = resources.files("alignmenter_edge").joinpath("data", DEFAULT_LEXICON).read_text("utf-8")
        return parse_lexicon(text, DEFAULT_LEXICON)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark (Notepad) is dropped
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AlignmenterEdgeError(f"cannot read the lexicon file {path}: {reason}. Pass a UTF-8 text "
                                   "file in the lexicon format (docs/lexicon.md), or no path for the "
                                   "bundled lexicon.") from None
    return parse_lexicon(text, str(path))


@dataclass(frozen=True)
class Match:
    """Where a pattern matched: tokens [start, end). Its weight is the pattern's; negation is
    applied when a window is scored."""

    pattern: Pattern
    start: int
    end: int  # exclusive token index


# (patterns to try, patterns keyed by the exact second word, gapped patterns with the exact word
# after their gap)
_Candidates = tuple[tuple[Pattern, ...], dict[str, tuple[Pattern, ...]], tuple[tuple[Pattern, str], ...]]
_NO_CANDIDATES: _Candidates = ((), {}, ())  # shared by the many words that start no pattern


class _Matcher:
    """Finds a text's matches word by word: each word's candidate patterns are looked up once and
    cached. Those whose second part is an exact word are keyed by it, so only the ones the next word
    selects are tried ("her address" is not tried after every "her"); a gap followed by an exact word
    is tried only when that word is within reach ("fake ~ press release")."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._cache: dict[str, _Candidates] = {}

    def candidates(self, token: str) -> _Candidates:
        found = self._cache.get(token)
        if found is None:
            hits = list(self.lexicon.exact.get(token, ()))
            for length in self.lexicon.prefix_lengths:
                if length > len(token):
                    break
                hits.extend(self.lexicon.prefix.get(token[:length], ()))
            loose: list[Pattern] = []
            keyed: dict[str, list[Pattern]] = {}
            gapped: list[tuple[Pattern, str]] = []
            for pattern in hits:
                second = pattern.parts[1] if len(pattern.parts) > 1 else None
                if second and second[0] != GAP and not second[1]:
                    keyed.setdefault(second[0], []).append(pattern)
                elif second and second[0] == GAP and pattern.parts[2][0] != GAP and not pattern.parts[2][1]:
                    gapped.append((pattern, pattern.parts[2][0]))  # a gap, then an exact word
                else:
                    loose.append(pattern)
            found = ((tuple(loose), {w: tuple(ps) for w, ps in keyed.items()} if keyed else _NO_CANDIDATES[1],
                      tuple(gapped)) if hits else _NO_CANDIDATES)
            if len(token) <= CACHED_WORD_CHARS:
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.clear()  # bounded memory on endless streams
                self._cache[token] = found
        return found

    def matches(self, tokens: list[str], sentences: _Sentences | None = None) -> list[Match]:
        """Every match in ``tokens``. No "~" gap and no idiom reaches across a sentence end of
        ``sentences`` (the text's, or None when it has none)."""
        out: list[Match] = []
        append, candidates, last = out.append, self.candidates, len(tokens) - 1
        for start, token in enumerate(tokens):
            if not token:
                continue
            loose, keyed, gapped = candidates(token)
            for pattern in loose:
                end = _match_from(pattern.parts, 1, tokens, start + 1)
                if end is not None and sentences is not None and pattern.in_sentence:
                    end = sentences.keep(pattern.parts, 1, tokens, start, end)
                if end is not None:
                    append(Match(pattern, start, end))
            if keyed and start < last:
                for pattern in keyed.get(tokens[start + 1], ()):
                    end = _match_from(pattern.parts, 2, tokens, start + 2)
                    if end is not None and sentences is not None and pattern.in_sentence:
                        end = sentences.keep(pattern.parts, 2, tokens, start, end)
                    if end is not None:
                        append(Match(pattern, start, end))
            if gapped:
                reach = tokens[start + 1:start + 2 + MAX_GAP]
                for pattern, after_gap in gapped:
                    if after_gap in reach:
                        end = _match_from(pattern.parts, 1, tokens, start + 1)
                        if end is not None and sentences is not None and pattern.in_sentence:
                            end = sentences.keep(pattern.parts, 1, tokens, start, end)
                        if end is not None:
                            append(Match(pattern, start, end))
        return out


def _word_matches(part: tuple[str, bool], token: str) -> bool:
    word, is_prefix = part
    return bool(token) and (token.startswith(word) if is_prefix else token == word)


def _match_from(parts: tuple[tuple[str, bool], ...], index: int, tokens: list[str],
                position: int) -> int | None:
    """End position if parts[index:] match tokens from ``position`` (gaps skip 0..MAX_GAP)."""
    if index == len(parts):
        return position
    part = parts[index]
    if part[0] == GAP:
        for skip in range(MAX_GAP + 1):
            end = _match_from(parts, index + 1, tokens, position + skip)
            if end is not None:
                return end
        return None
    if position < len(tokens) and _word_matches(part, tokens[position]):
        return _match_from(parts, index + 1, tokens, position + 1)
    return None


def _outranks(phrase: Match, idiom: Match, named: list[int], tokens: list[str]) -> bool:
    """Whether a harm phrase that shares a word with an idiom is kept and the idiom masks nothing:
    the phrase reaches outside the idiom ("pipe bomb" in "a pipe bomb for the exam" against "bomb
    ~ exam"), or it has no gap and takes a word of the idiom's gap that is no determiner ("shoot
    up" in "shoot up a school video" against "shoot ~ video*"). A determiner belongs to the idiom's
    object, so "kill all the child processes" is "kill ~ process*", not "kill all"."""
    if not any(phrase.start <= word < phrase.end for word in named):
        return False
    if phrase.start < idiom.start or phrase.end > idiom.end:
        return True
    return all(word != GAP for word, _ in phrase.pattern.parts) and any(
        i not in named and tokens[i] not in _DETERMINERS for i in range(phrase.start, phrase.end))


def _named_words(parts: tuple[tuple[str, bool], ...], tokens: list[str], position: int,
                 index: int = 0) -> list[int] | None:
    """The positions of the words (not the gaps) of the match of parts[index:] from ``position``
    that :func:`_match_from` finds (the shortest gaps first), or None."""
    if index == len(parts):
        return []
    part = parts[index]
    if part[0] == GAP:
        for skip in range(MAX_GAP + 1):
            rest = _named_words(parts, tokens, position + skip, index + 1)
            if rest is not None:
                return rest
        return None
    if position < len(tokens) and _word_matches(part, tokens[position]):
        rest = _named_words(parts, tokens, position + 1, index + 1)
        if rest is not None:
            return [position, *rest]
    return None


@dataclass
class Explanation:
    """Why a text got its score: matched terms per category and the modifiers applied."""

    safety: float
    evidence: float
    harm: float
    intent: float
    benign: float
    length_divisor: float
    window: tuple[int, int]  # [first, last + 1) word of the scored window
    categories: dict[str, float]
    combined: dict[str, float]  # part of a category's evidence from a minor or protected group
    terms: dict[str, list[tuple[str, float]]]
    cues: dict[str, list[str]]  # includes "cancelled_intent": request cues a protective act cancelled

    def as_dict(self) -> dict[str, Any]:
        return {"safety": self.safety, "evidence": self.evidence, "harm": self.harm,
                "intent": self.intent, "benign": self.benign, "length_divisor": self.length_divisor,
                "window": list(self.window), "categories": self.categories, "combined": self.combined,
                "terms": self.terms,
                "cues": self.cues}


class LexiconScorer:
    """Pure scoring logic over a parsed lexicon (no Classifier machinery)."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._matcher = _Matcher(lexicon)

    def explain(self, text: str) -> Explanation:
        """The explanation of the text's most harmful window (the whole text up to WINDOW words)."""
        folded = fold(text)
        tokens = _words(folded)
        sentences = _Sentences(folded) if "." in folded or "?" in folded or "!" in folded else None
        matches = self._matcher.matches(tokens, sentences)
        # 1. idioms mask their own words, so "heart attack" leaves no "attack" behind; the words
        # in a gap are not the idiom's ("shoot the nude video" keeps "nude"); an idiom that a harm
        # phrase outranks masks nothing ("a pipe bomb for the exam", "shoot up a school video"),
        # nor one whose gap holds a word that starts another phrase ("bomb a school during exam").
        masked: set[int] = set()
        phrases: list[Match] | None = None
        for m in matches:
            if m.pattern.section == "idiom":
                named = _named_words(m.pattern.parts, tokens[:m.end], m.start) or []
                if phrases is None:
                    phrases = [h for h in matches
                               if h.end - h.start > 1 and h.pattern.section.startswith("category:")]
                if (not any(_outranks(h, m, named, tokens) for h in phrases)
                        and not any(tokens[i] in _PHRASE_BREAKS for i in range(m.start, m.end)
                                    if i not in named)):
                    masked.update(named)
        if masked:
            tokens = ["" if i in masked else t for i, t in enumerate(tokens)]
            matches = self._matcher.matches(tokens, sentences)
        ages = {said: 1.0 for age, said in _ages(folded) if age < 18}
        starts = [m.start for m in matches]  # ascending: matches come in token order
        spans = window_spans(len(tokens), WINDOW, WINDOW_STRIDE)
        return max((self._window(tokens, matches[bisect.bisect_left(starts, begin):
                                                 bisect.bisect_left(starts, stop)], ages, (begin, stop))
                    for begin, stop in spans), key=lambda found: found.evidence)

    def _window(self, tokens: list[str], matches: list[Match], ages: dict[str, float],
                span: tuple[int, int]) -> Explanation:
        """Evidence from the matches inside one window of words; ``ages`` count in every window."""
        negators = self.lexicon.negators
        terms: dict[str, dict[str, float]] = {}
        cues: dict[str, dict[str, float]] = {"intent": {}, "detail": {}, "benign": {}, "protective": {},
                                             "question": {}, "minors": dict(ages), "grooming": {},
                                             "groups": {}, "cancelled_intent": {}}
        protective_starts = {m.start for m in matches if m.pattern.section == "protective"}
        for m in matches:
            section = m.pattern.section
            if (protective_starts and section == "intent"
                    and not protective_starts.isdisjoint(range(m.end, m.end + PROTECTIVE_REACH + 1))):
                cues["cancelled_intent"][m.pattern.source] = m.pattern.weight
                continue  # "how to report", "ways to recognise": a request for the protective act
            if section.startswith("category:"):
                weight = m.pattern.weight
                if m.pattern.single_word and any(
                        t in negators for t in tokens[max(0, m.start - NEGATION_WINDOW):m.start]):
                    weight *= NEGATED_FACTOR
                bucket = terms.setdefault(section.split(":", 1)[1], {})
                bucket[m.pattern.source] = max(bucket.get(m.pattern.source, 0.0), weight)
            elif section in cues:
                bucket = cues[section]
                bucket[m.pattern.source] = max(bucket.get(m.pattern.source, 0.0), m.pattern.weight)
        categories = {name: _decayed(weights.values()) for name, weights in terms.items()}
        combined: dict[str, float] = {}  # evidence added by the minor and protected-group combinations
        minors = max(cues["minors"].values(), default=0.0)
        if minors:
            grooming = max(cues["grooming"].values(), default=0.0)  # secrecy with a child counts as sexual
            sexual = categories.get("sexual", 0.0) + GROOMING_WEIGHT * grooming
            if sexual:
                combined["child_safety"] = CHILD_GAIN * minors * min(sexual, 3.0)
        groups = max(cues["groups"].values(), default=0.0)
        hostile = sum(categories.get(c, 0.0) for c in HOSTILE_CATEGORIES)
        if groups and hostile:
            combined["hate"] = GROUP_GAIN * groups * min(hostile, 3.0)
        for name, gain in combined.items():
            categories[name] = categories.get(name, 0.0) + gain
        ranked = sorted(categories.values(), reverse=True)
        harm = ranked[0] + OTHER_CATEGORIES * sum(ranked[1:]) if ranked else 0.0
        intent = max(cues["intent"].values(), default=0.0)
        if span[1] - span[0] > QUESTION_WORDS:
            cues["question"] = {}  # in a longer text such words are incidental, not its framing
        benign = max([*cues["benign"].values(), *cues["protective"].values(), *cues["question"].values()],
                     default=0.0)
        if benign and cues["detail"]:  # "exact quantities" outweighs "for my novel"
            benign *= 1.0 - DETAIL_DISCOUNT * max(cues["detail"].values())
        length = max(1.0, (span[1] - span[0]) / LENGTH_REFERENCE) ** LENGTH_EXPONENT
        evidence = harm * (1.0 + INTENT_GAIN * intent) * (1.0 - BENIGN_DAMPING * benign) / length
        return Explanation(
            safety=max(math.exp(-evidence / SCALE), LEAST_SAFETY), evidence=evidence, harm=harm, intent=intent,
            benign=benign, length_divisor=length, window=span, categories=categories, combined=combined,
            terms={c: sorted(w.items(), key=lambda kv: (-kv[1], kv[0])) for c, w in terms.items()},
            cues={k: sorted(v) for k, v in cues.items() if v})

    def score(self, text: str) -> float:
        return self.explain(text).safety


def _ages(folded: str) -> list[tuple[int, str]]:
    """Ages in a folded text (:func:`fold`), each with its words as written (spaces collapsed): in
    digits ("14 years old", "14yo", not "14 years ago") or in words ("fourteen-year-old", not
    "twenty-one year old")."""
    ages = [(int(found.group(1)), " ".join(found.group().split())) for found in _AGE.finditer(folded)]
    for years in _YEARS_OLD.finditer(folded) if "year" in folded else ():
        word = _AGE_WORD_BEFORE.search(folded, max(0, years.start() - 24), years.start())
        if word:
            ages.append((_AGE_VALUES[word.group(1)], " ".join(folded[word.start():years.end()].split())))
    return ages


def _decayed(weights: Any) -> float:
    return sum(w * DECAY ** k for k, w in enumerate(sorted(weights, reverse=True)))


_DEFAULT_SCORER: LexiconScorer | None = None


def _default_scorer() -> LexiconScorer:
    global _DEFAULT_SCORER
    if _DEFAULT_SCORER is None:
        _DEFAULT_SCORER = LexiconScorer(load_lexicon())
    return _DEFAULT_SCORER


def lexicon_score(text: str) -> float:
    """Safety score of one text with the bundled lexicon (1.0 = safe)."""
    return _default_scorer().score(text)


class LexiconClassifier(Classifier):
    """Weighted multi-category lexicon with idioms, negation, intent and benign context."""

    tier = "lexicon"
    model_id = f"alignmenter-edge-lexicon-{LEXICON_VERSION}"
    threshold = DEFAULT_THRESHOLD
    default_batch_size = 1024

    def __init__(self, *, batch_size: int | None = None, threads: int | None = None,
                 lexicon_path: str | Path | None = None) -> None:
        super().__init__(batch_size=batch_size, threads=threads)
        if lexicon_path is not None and not str(lexicon_path):
            raise InvalidInputError("lexicon_path (--lexicon) is empty; pass a lexicon file, or none "
                                    "at all for the bundled one.")
        self._scorer = LexiconScorer(load_lexicon(lexicon_path)) if lexicon_path else _default_scorer()
        self.lexicon_path = str(lexicon_path) if lexicon_path else None

    def _score(self, texts: list[str]) -> Sequence[float]:
        score = self._scorer.score
        return [score(text) for text in texts]

    def explain(self, text: str) -> dict[str, Any]:
        """Matched terms per category, cues and the resulting evidence and score."""
        return self._scorer.explain(text).as_dict()

    def _details(self) -> dict[str, Any]:
        return {"lexicon": self.lexicon_path or f"bundled ({DEFAULT_LEXICON})",
                "entries": len(self._scorer.lexicon.patterns),
                "categories": list(self._scorer.lexicon.categories)}
