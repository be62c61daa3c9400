"""``alignmenter-edge explain``: why the lexicon tier scores a text as it does."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Iterable

from ..classifier import is_flagged
from ..errors import InvalidInputError
from ..rows import RowReader, utf8_problem
from .options import threshold_value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain", help="show the lexicon's matched terms, cues and evidence for texts",
        description="Score each text with the lexicon tier and show why: the terms matched per harm "
                    "category, the request, benign, protective and question cues, and the evidence "
                    "behind the score (safety = exp(-evidence / 3); unsafe below the threshold). "
                    "Only the lexicon explains itself; the model tiers give scores alone.")
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="texts to explain; - reads one per line "
                                                                 "from standard input")
    parser.add_argument("--lexicon", metavar="PATH", default=None,
                        help="a lexicon file in the bundled format (default: the bundled lexicon)")
    parser.add_argument("--threshold", type=threshold_value, default=None, metavar="T",
                        help="flag below this score, in (0, 1] (default: the lexicon's, 0.19)")
    parser.add_argument("--json", action="store_true", help="one JSON object per text instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tiers.lexicon import LexiconClassifier

    _refuse_undecodable(args.texts)
    lexicon = LexiconClassifier(lexicon_path=args.lexicon)
    if args.threshold is not None:
        lexicon.use_threshold(args.threshold)
    for text in _texts(args.texts):
        found = lexicon.explain(text)
        found["text"] = text
        found["flagged"] = is_flagged(found["safety"], lexicon.threshold)
        found["threshold"] = lexicon.threshold
        print(json.dumps(found, ensure_ascii=False, allow_nan=False) if args.json else _readable(found))
    return 0


_COMBINED = {"child_safety": "a minor together with sexual or grooming terms",
             "hate": "a protected group together with hostile terms"}  # Explanation.combined keys


def _refuse_undecodable(arguments: list[str]) -> None:
    """Refuse a TEXT argument holding bytes that are not UTF-8 (Python passes them on as lone
    surrogates, which can be neither printed as UTF-8 nor written as JSON), in stdin's words."""
    for number, argument in enumerate(arguments, start=1):
        problem = _undecodable(argument)
        if problem:
            raise InvalidInputError(f"TEXT argument {number}: {problem}; pass the text as UTF-8.")


def _undecodable(argument: str) -> str | None:
    """What is wrong with an argument that is not valid Unicode, or None if it is."""
    try:
        argument.encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    try:
        os.fsencode(argument).decode("utf-8")  # the bytes as given on the command line
    except UnicodeDecodeError as exc:
        return utf8_problem(exc, "the argument")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        pass
    return "invalid Unicode (a lone surrogate)"


def _texts(arguments: list[str]) -> Iterable[str]:
    """Each argument, or for ``-`` each line of stdin read as ``score`` reads plain text (blank
    lines skipped, a leading byte-order mark dropped, invalid UTF-8 an error in score's words)."""
    for argument in arguments:
        if argument == "-":
            yield from (row.text for row in RowReader(sys.stdin.buffer, fmt="text", name="-", offer_skip=False))
        else:
            yield argument


def _readable(found: dict[str, Any]) -> str:
    from ..tiers.lexicon import BENIGN_DAMPING, INTENT_GAIN

    verdict = "UNSAFE" if found["flagged"] else "safe"
    lines = [f"{found['safety']:.3f}  {verdict} (threshold {found['threshold']})  {found['text']}"]
    for category, total in found["categories"].items():
        parts = [", ".join(f"{term} {weight:g}" for term, weight in found["terms"].get(category, []))]
        if category in found["combined"]:
            parts.append(f"+{found['combined'][category]:.2f} from {_COMBINED[category]}")
        lines.append(f"  {category}: {total:.2f}  ({'; '.join(p for p in parts if p)})")
    for kind, cues in found["cues"].items():
        label = "intent cancelled by a protective act" if kind == "cancelled_intent" else kind
        lines.append(f"  {label}: {', '.join(cues)}")
    lines.append(f"  evidence {found['evidence']:.2f} = harm {found['harm']:.2f} x (1 + {INTENT_GAIN:g} x intent "
                 f"{found['intent']:g}) x (1 - {BENIGN_DAMPING:g} x benign {found['benign']:g}) / length "
                 f"{found['length_divisor']:.2f}; words {found['window'][0]}-{found['window'][1]}")
    return "\n".join(lines)
