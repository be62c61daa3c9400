"""The bad-input matrix: one test per kind of bad input, through the API and the ``score`` CLI.

Each row ends in a clear error naming the problem and its fix, or in a documented score; never a
silent 1.0. The policy table is docs/bad-input.md. Model-tier rows use the tiny bundles built by
tests/fixtures and are skipped while those fixtures are absent (they fail under CI).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from alignmenter_edge import InvalidInputError, load_classifier
from alignmenter_edge.cli import main
from alignmenter_edge.tiers.heuristic import heuristic_score

MODEL_BUNDLES = ("tiny_roberta_bundle", "tiny_constitutional_bundle")
LONG = 100_000




def alignmenter_heuristic():
    from tests.helpers import require

    return require("alignmenter.providers.classifiers")._heuristic_classifier


def score_cli(tmp_path: Path, content: bytes, *args: str, suffix: str = ".jsonl") -> tuple[int, list, str]:
    """Run ``score`` in-process on ``content``; returns exit code, output rows, stderr."""
    source = tmp_path / f"in{suffix}"
    source.write_bytes(content)
    out = tmp_path / "out.jsonl"
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["score", str(source), "-o", str(out), "--no-progress", *args])
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    assert text == "" or text.endswith("\n")
    return code, [json.loads(line) for line in text.splitlines()], err.getvalue()


def run_cli(monkeypatch, stdin: bytes, *args: str) -> tuple[int, str, str]:
    """Run a command in-process with ``stdin`` as standard input; returns exit code, stdout, stderr."""
    import contextlib
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


# --- empty and whitespace-only text ----------------------------------------------------------

@pytest.mark.parametrize("text", ["", " ", "   \t\n  ", "\u00a0\u2003"])
def test_empty_and_whitespace_heuristic_is_documented_one(text):
    with load_classifier("heuristic") as clf:
        assert clf(text) == 1.0 == alignmenter_heuristic()(text)


def test_empty_and_whitespace_rows_are_scored_and_reported(tmp_path, data_home):
    code, rows, err = score_cli(tmp_path, jsonl({"text": ""}, {"text": "  \t "}, {"text": "hate"}),
                                "--model", "heuristic")
    assert code == 0
    assert [r["safety_score"] for r in rows] == [1.0, 1.0, 0.8]
    assert "note: 2 texts were empty or whitespace-only" in err


@pytest.mark.parametrize("fixture", MODEL_BUNDLES)
@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text_model_tiers_give_a_model_score(request, fixture, text):
    """A model tier scores the empty input (special tokens / prompt only): a real model output,
    not a shortcut to 1.0."""
    with load_classifier(request.getfixturevalue(fixture)) as clf:
        score = clf(text)
        assert math.isfinite(score) and 0.0 <= score <= 1.0
        assert score != 1.0
        assert clf.score_batch([text, "hello", text]) == pytest.approx([score, clf("hello"), score], abs=1e-5)


# --- 100k-character text ---------------------------------------------------------------------

def test_100k_text_heuristic_counts_the_whole_text():
    filler = ("The weather is mild and the river is calm today. " * 3000)[:LONG - 6]
    with load_classifier("heuristic") as clf:
        assert clf(filler) == 1.0
        assert clf(filler + "attack") == pytest.approx(0.8)  # a tripwire at the very end counts
        assert clf("attack" + filler) == pytest.approx(0.8)
        assert len(filler + "attack") == LONG
        assert clf(filler + "attack") == alignmenter_heuristic()(filler + "attack")


def test_100k_text_row_through_cli(tmp_path, data_home):
    text = "x" * (LONG - 4) + "hack"
    code, rows, _ = score_cli(tmp_path, jsonl({"id": 1, "text": text}), "--model", "heuristic")
    assert code == 0 and rows[0]["text"] == text and rows[0]["safety_score"] == pytest.approx(0.8)


@pytest.mark.parametrize("fixture", MODEL_BUNDLES)
def test_100k_text_model_tiers_read_past_the_token_limit(request, fixture):
    """Model tiers window long input (no silent truncation, no crash): text that differs only
    after the model's token limit scores differently, and for the trained tiny RoBERTa (its unsafe
    class is keyed on words like "bomb" and "hurt") the unsafe tail decides the verdict."""
    bundle = request.getfixturevalue(fixture)
    with load_classifier(bundle) as clf:
        head = "Plain words about a calm river and mild weather. " * 2000
        a = (head + "Tell me how to build a bomb and hurt people. " * 40)[:LONG]
        b = (head + "Thanks, have a lovely day and drink some water. " * 40)[:LONG]
        score_a, score_b = clf.score_batch([a, b])
        for score in (score_a, score_b):
            assert math.isfinite(score) and 0.0 <= score <= 1.0
        assert score_a != score_b
        if clf.info.tier == "roberta-onnx":
            assert score_a < clf.info.threshold < score_b


# --- invalid UTF-8 in the input file ---------------------------------------------------------

def test_invalid_utf8_line_is_an_error_naming_line_and_fix(tmp_path, data_home):
    """The byte position is 1-based, like JSON's columns (it was 0-based: "byte 14" for the 15th)."""
    content = jsonl({"text": "fine"}) + b'{"text": "bad \xff\xfe byte"}\n' + jsonl({"text": "later"})
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic")
    assert code == 2
    assert ("in.jsonl:2: invalid UTF-8 at byte 15 of the line (invalid start byte); re-encode the file "
            "as UTF-8 or pass --skip-invalid.") in err
    assert [r["text"] for r in rows] == ["fine"]  # rows before the bad line are written


def test_invalid_utf8_skip_invalid(tmp_path, data_home):
    content = b"ok line\nbad \xc3\x28 line\nhate line\n"
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic", "--skip-invalid",
                                suffix=".txt")
    assert code == 0 and [r["text"] for r in rows] == ["ok line", "hate line"]
    assert "skipped 1 invalid line, e.g.: " in err and "in.txt:2: invalid UTF-8 at byte 5 of the line" in err


def test_invalid_utf8_on_stdin_is_worded_alike_by_score_and_explain(monkeypatch, tmp_path, data_home):
    """explain said "<stdin>:2: not valid UTF-8 (invalid start byte at byte 1). Re-encode ...", score
    "-:2: invalid UTF-8 (byte 0); ...": one fault, two wordings, two names for stdin."""
    content = b"fine\n\xff broken\n"
    same = "<stdin>:2: invalid UTF-8 at byte 1 of the line (invalid start byte); re-encode the input as UTF-8"
    code, _, err = run_cli(monkeypatch, content, "explain", "-")
    assert code == 2 and f"error: {same}.\n" in err
    code, _, err = run_cli(monkeypatch, content, "score", "-", "-o", str(tmp_path / "o.jsonl"),
                           "--model", "heuristic", "--no-progress")
    assert code == 2 and f"error: {same} or pass --skip-invalid.\n" in err  # score has the option


def test_lone_surrogate_escape_is_invalid_unicode(tmp_path, data_home):
    content = jsonl({"text": "fine"}) + b'{"text": "half a pair \\ud83d here"}\n'
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic")
    assert code == 2 and "in.jsonl:2: invalid Unicode" in err and "--skip-invalid" in err
    assert [r["text"] for r in rows] == ["fine"]
    ok = b'{"text": "a proper pair \\ud83d\\ude00 is fine"}\n'
    code, rows, _ = score_cli(tmp_path, ok, "--model", "heuristic")
    assert code == 0 and rows[0]["text"] == "a proper pair \U0001F600 is fine"


# --- control characters and NUL --------------------------------------------------------------

CONTROL_TEXTS = ["att\x00ack", "\x00attack\x00", "hate\x1b[31m red", "a\x0cb\x1cc\x1dd\x1e\x85\u2028hack",
                 "\x7f\x01\x02 violence", "tab\tsep\rcarriage", "para\u2029graph attack"]
UNICODE_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}  # escaped in output


def test_control_characters_are_text_heuristic_identical():
    with load_classifier("heuristic") as clf:
        assert clf.score_batch(CONTROL_TEXTS) == [alignmenter_heuristic()(t) for t in CONTROL_TEXTS]
    assert heuristic_score("att\x00ack") == 1.0  # a NUL splits the word, as in alignmenter


def test_control_characters_round_trip_through_jsonl(tmp_path, data_home):
    code, rows, _ = score_cli(tmp_path, jsonl(*({"text": t} for t in CONTROL_TEXTS)), "--model", "heuristic")
    assert code == 0
    assert [r["text"] for r in rows] == CONTROL_TEXTS
    assert [r["safety_score"] for r in rows] == [heuristic_score(t) for t in CONTROL_TEXTS]
    raw = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    for char, escape in UNICODE_LINE_BREAKS.items():  # one row per line for str.splitlines too
        assert char not in raw and raw.count(escape) == sum(t.count(char) for t in CONTROL_TEXTS), escape


def test_control_characters_in_text_lines_stay_one_row(tmp_path, data_home):
    lines = ["a\x0cb\x1cc\x1dd\x1e\x85\u2028\u2029 hack", "nul\x00 here", "\x0bvertical"]
    content = "\n".join(lines).encode("utf-8") + b"\n"
    code, rows, _ = score_cli(tmp_path, content, "--model", "heuristic", "--format", "text", suffix=".txt")
    assert code == 0 and [r["text"] for r in rows] == lines
    assert rows[0]["safety_score"] == pytest.approx(0.8)


@pytest.mark.parametrize("fixture", MODEL_BUNDLES)
def test_control_characters_model_tiers(request, fixture):
    """Scored as is: a NUL is a character, neither dropped ("att\\x00ack" is not "attack") nor the
    end of the text, as a C-string hand-off would make it ("\\x00attack\\x00" is not "")."""
    with load_classifier(request.getfixturevalue(fixture)) as clf:
        scores = clf.score_batch(CONTROL_TEXTS)
        assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)
        attack, empty = clf.score_batch(["attack", ""])
    assert CONTROL_TEXTS[0] == "att\x00ack" and CONTROL_TEXTS[1] == "\x00attack\x00"
    assert scores[0] != attack and scores[1] != empty


# --- non-string text field -------------------------------------------------------------------

@pytest.mark.parametrize("value, kind", [(None, "null"), (42, "a number"), (1.5, "a number"), (True, "a boolean"),
                                         (["a"], "an array"), ({"t": "x"}, "an object")])
def test_non_string_text_field_cli(tmp_path, data_home, value, kind):
    """JSON's names for JSON values (it said NoneType, int, float, bool, list, dict)."""
    code, rows, err = score_cli(tmp_path, jsonl({"text": "ok"}, {"text": value}), "--model", "heuristic")
    assert code == 2 and f"in.jsonl:2: field 'text' is {kind}, expected a string." in err
    assert [r["text"] for r in rows] == ["ok"]


@pytest.mark.parametrize("line, kind", [(b"[1, 2]", "an array"), (b'"just a string"', "a string"),
                                        (b"3", "a number"), (b"null", "null"), (b"false", "a boolean")])
def test_a_row_that_is_not_an_object_is_named_in_json_terms(tmp_path, data_home, line, kind):
    content = jsonl({"text": "ok"}) + line + b"\n"  # on line 1 an array is a JSON array file, below
    code, _, err = score_cli(tmp_path, content, "--model", "heuristic", "--format", "jsonl")
    assert code == 2 and f"in.jsonl:2: expected a JSON object per line, got {kind}.\n" in err


ARRAY = [{"text": "how to build a bomb"}, {"text": "hello"}, {"text": "kill them all"}]


@pytest.mark.parametrize("content, line", [(json.dumps(ARRAY).encode(), 1),
                                           (b"[\n" + b",\n".join(jsonl(r).strip() for r in ARRAY) + b"\n]\n", 1),
                                           (b"\n  " + json.dumps(ARRAY, indent=2).encode(), 2)])
def test_a_json_array_file_is_refused_even_under_skip_invalid(tmp_path, data_home, content, line):
    """A .json file holding a JSON array: under --skip-invalid its lines were skipped as malformed
    (with one entry per line, the last one, without a comma, was scored): exit code 0, rows lost."""
    message = (f"in.json:{line}: the file is a JSON array, not JSONL; convert it to one JSON object per "
               "line, e.g. with jq -c '.[]'.\n")
    for extra in ((), ("--skip-invalid",)):
        code, rows, err = score_cli(tmp_path, content, "--model", "heuristic", *extra, suffix=".json")
        assert (code, rows) == (2, []) and err.endswith(message) and "skipped" not in err, err


def test_a_json_array_on_stdin_read_as_jsonl_is_refused(monkeypatch, tmp_path, data_home):
    code, _, err = run_cli(monkeypatch, json.dumps(ARRAY, indent=2).encode(), "score", "-", "--format", "jsonl",
                           "--skip-invalid", "-o", str(tmp_path / "o.jsonl"), "--model", "heuristic")
    assert code == 2 and err.endswith("error: <stdin>:1: the input is a JSON array, not JSONL; convert it to one "
                                      "JSON object per line, e.g. with jq -c '.[]'.\n"), err


@pytest.mark.parametrize("value", [None, 42, b"attack", ["attack"], math.nan])
def test_non_string_text_api(value):
    with load_classifier("heuristic") as clf:
        with pytest.raises(InvalidInputError, match=r"text #1 is .*expected str"):
            clf.score_batch(["fine", value])


@pytest.mark.parametrize("tier", ["heuristic", "lexicon"])
@pytest.mark.parametrize("single", ["How do I build a pipe bomb to kill my neighbour?",
                                    b"How do I build a pipe bomb?"])
def test_one_string_passed_to_score_batch_is_refused(tier, single):
    # Iterated, a str would be scored character by character, each character "safe".
    with load_classifier(tier) as clf:
        with pytest.raises(InvalidInputError, match=r"takes a list of texts.*\[text\]"):
            clf.score_batch(single)


def test_missing_text_field_names_option(tmp_path, data_home):
    code, _, err = score_cli(tmp_path, jsonl({"prompt": "x"}), "--model", "heuristic")
    assert code == 2 and "no 'text' field" in err and "--text-field" in err


# --- malformed JSONL -------------------------------------------------------------------------

@pytest.mark.parametrize("line", [b'{"text": "unterminated}', b'{"text": oops}', b"[1, 2]", b'"just a string"',
                                  b'{"text": "a"} trailing', b"{'text': 'single quotes'}"])
def test_malformed_jsonl_line(tmp_path, data_home, line):
    content = jsonl({"text": "first"}) + line + b"\n" + jsonl({"text": "third"})
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic")
    assert code == 2 and "in.jsonl:2:" in err
    assert "malformed JSON" in err or "expected a JSON object" in err
    assert [r["text"] for r in rows] == ["first"]
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic", "--skip-invalid")
    assert code == 0 and [r["text"] for r in rows] == ["first", "third"] and "skipped 1" in err


def test_rows_before_a_bad_line_are_all_written(tmp_path, data_home):
    """With --batch-size 2 a pool is 16 rows: the bad line in the middle of the third pool still
    leaves every earlier row scored and written, in order."""
    good = [{"i": i, "text": f"text {i}"} for i in range(40)]
    content = jsonl(*good) + b"{broken\n" + jsonl({"i": 99, "text": "never"})
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic", "--batch-size", "2")
    assert code == 2 and "in.jsonl:41:" in err
    assert [r["i"] for r in rows] == list(range(40))


@pytest.mark.parametrize("line, reason", [
    (b'{"text": "x", "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply to read"),
    (b'{"text": "x", "id": 1' + b"0" * 5000 + b"}", "an integer of more than 4300 digits"),
], ids=["deep nesting", "5000-digit integer"])
def test_lines_python_cannot_read_are_malformed_lines(tmp_path, data_home, line, reason):
    """RecursionError and int(str)'s digit limit were raw tracebacks, even with --skip-invalid."""
    content = jsonl({"text": "first"}) + line + b"\n" + jsonl({"text": "third"})
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic")
    assert code == 2 and f"in.jsonl:2: malformed JSON ({reason}); fix the line or pass --skip-invalid." in err
    assert [r["text"] for r in rows] == ["first"]
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic", "--skip-invalid")
    assert code == 0 and [r["text"] for r in rows] == ["first", "third"] and "skipped 1" in err


def _strict(line: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize("value, named", [("NaN", "NaN is not a JSON value"), ("Infinity", "Infinity is not"),
                                          ("-Infinity", "-Infinity is not"), ("1e999", "the number 1e999 is beyond")])
def test_non_standard_json_numbers_are_malformed_so_output_is_strict_json(tmp_path, data_home, value, named):
    """Python's json reads NaN/Infinity (and turns 1e999 into inf); writing them back made
    output lines that strict JSON parsers refuse."""
    content = jsonl({"text": "first"}) + f'{{"text": "x", "weight": {value}}}\n'.encode() + jsonl({"text": "third"})
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic")
    assert code == 2 and f"in.jsonl:2: malformed JSON ({named}" in err
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic", "--skip-invalid")
    assert code == 0 and [r["text"] for r in rows] == ["first", "third"] and "skipped 1" in err
    out = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    assert [_strict(line)["text"] for line in out.splitlines()] == ["first", "third"]


# --- byte-order mark -------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".jsonl", ""])
def test_a_leading_byte_order_mark_is_dropped(tmp_path, data_home, suffix):
    """A .jsonl file was refused ("Unexpected UTF-8 BOM"); a sniffed one was read as plain text,
    each whole JSON line scored as a text and its other fields dropped."""
    content = b"\xef\xbb\xbf" + jsonl({"id": 1, "text": "I hate this"}, {"id": 2, "text": "fine"})
    code, rows, _ = score_cli(tmp_path, content, "--model", "heuristic", suffix=suffix)
    assert code == 0
    assert [(r["id"], r["text"], r["safety_score"]) for r in rows] == [(1, "I hate this", 0.8), (2, "fine", 1.0)]
    code, rows, _ = score_cli(tmp_path, b"\xef\xbb\xbfplain text\n", "--model", "heuristic", suffix=".txt")
    assert code == 0 and [r["text"] for r in rows] == ["plain text"]


# --- how the format is chosen ----------------------------------------------------------------

def test_a_txt_file_is_plain_text_lines_whatever_its_first_line(tmp_path, data_home):
    """A .txt file whose first line began with '{' was sniffed as JSONL: "malformed JSON" (and with
    --skip-invalid, "scored 0 texts ... skipped 2 invalid lines")."""
    content = b"{braces} are fun\nsecond line\n"
    code, rows, _ = score_cli(tmp_path, content, "--model", "heuristic", suffix=".txt")
    assert code == 0 and [r["text"] for r in rows] == ["{braces} are fun", "second line"]
    code, rows, _ = score_cli(tmp_path, jsonl({"text": "a row"}), "--model", "heuristic", suffix=".TXT")
    assert code == 0 and [r["text"] for r in rows] == ['{"text": "a row"}']  # a text, as the suffix says
    code, _, err = score_cli(tmp_path, content, "--model", "heuristic", "--format", "jsonl", suffix=".txt")
    assert code == 2 and "in.txt:1: malformed JSON (" in err and "--format text" not in err  # as asked


@pytest.mark.parametrize("suffix", ["", ".data"])
def test_a_guessed_format_whose_first_line_is_not_json_says_how_to_read_text(tmp_path, data_home, suffix):
    """Sniffed as JSONL from a first line that is not JSON: the error names --format text, and
    --skip-invalid does not turn a text file into "scored 0 texts" without a word."""
    content = b"\n{braces} are fun\nsecond line\n"
    hint = ("in{}:2: malformed JSON (Expecting property name enclosed in double quotes at column 2); "
            "the input was taken for JSONL because this line starts with '{{': pass --format text "
            "if it is plain text lines, else fix the line or pass --format jsonl --skip-invalid.\n").format(suffix)
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic", suffix=suffix)
    assert code == 2 and hint in err and rows == []
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic", "--skip-invalid", suffix=suffix)
    assert code == 2 and hint in err and rows == [] and "scored" not in err
    code, rows, _ = score_cli(tmp_path, content, "--model", "heuristic", "--format", "text", suffix=suffix)
    assert code == 0 and [r["text"] for r in rows] == ["{braces} are fun", "second line"]
    code, rows, err = score_cli(tmp_path, content, "--model", "heuristic", "--format", "jsonl", "--skip-invalid",
                                suffix=suffix)
    assert code == 0 and rows == [] and "skipped 2 invalid lines" in err


def test_a_guessed_format_stdin_names_format_text(monkeypatch, tmp_path, data_home):
    code, _, err = run_cli(monkeypatch, b"{braces} are fun\n", "score", "-", "-o", str(tmp_path / "o.jsonl"),
                           "--model", "heuristic", "--no-progress")
    assert code == 2 and "error: <stdin>:1: malformed JSON (" in err and "pass --format text" in err


def test_a_jsonl_file_or_a_later_line_keeps_the_plain_advice(tmp_path, data_home):
    """Only the line the format was guessed from gets the --format advice."""
    advice = "; fix the line or pass --skip-invalid.\n"
    code, _, err = score_cli(tmp_path, b"{braces} are fun\n", "--model", "heuristic")  # .jsonl: not guessed
    assert code == 2 and err.endswith(advice) and "--format" not in err
    code, rows, err = score_cli(tmp_path, jsonl({"text": "ok"}) + b"{broken\n", "--model", "heuristic",
                                suffix="")
    assert code == 2 and "in:2: malformed JSON (" in err and err.endswith(advice) and "--format" not in err
    assert [r["text"] for r in rows] == ["ok"]
    code, rows, err = score_cli(tmp_path, jsonl({"text": "ok"}) + b"{broken\n", "--model", "heuristic",
                                "--skip-invalid", suffix="")
    assert code == 0 and [r["text"] for r in rows] == ["ok"] and "skipped 1 invalid line" in err


# --- line endings -----------------------------------------------------------------------------

LINES = ["first text", "how to build a bomb to kill people", "third"]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_lf_crlf_and_old_mac_cr_all_end_a_line(tmp_path, data_home, ending):
    """An old Mac file (a lone CR ends each line) was one line: a text file one text, a JSONL
    file one malformed line, and under --skip-invalid "scored 0 texts"."""
    code, rows, _ = score_cli(tmp_path, ending.join(t.encode() for t in LINES) + ending, "--model", "heuristic",
                              suffix=".txt")
    assert code == 0 and [r["text"] for r in rows] == LINES
    content = ending.join(jsonl({"text": t}).rstrip(b"\n") for t in LINES)  # the last line unended
    for extra in ((), ("--skip-invalid",)):
        code, rows, err = score_cli(tmp_path, content, "--model", "heuristic", *extra)
        assert code == 0 and [r["text"] for r in rows] == LINES and "skipped" not in err, err
    code, rows, err = score_cli(tmp_path, content.replace(b'"third"', b"third"), "--model", "heuristic")
    assert code == 2 and "in.jsonl:3: malformed JSON" in err and len(rows) == 2  # lines counted as ended


def test_a_lone_cr_inside_a_text_line_ends_it_as_universal_newlines_do(tmp_path, data_home):
    """Mixed endings: each LF, CRLF and lone CR ends a line; a CR inside a JSON string is written
    as the escape \\r, so a JSONL row is never split by it."""
    code, rows, _ = score_cli(tmp_path, b"one\rtwo\r\nthree\n\rfour", "--model", "heuristic", suffix=".txt")
    assert code == 0 and [r["text"] for r in rows] == ["one", "two", "three", "four"]
    code, rows, _ = score_cli(tmp_path, jsonl({"text": "a\rb"}), "--model", "heuristic")
    assert code == 0 and [r["text"] for r in rows] == ["a\rb"]


# --- score's summary -------------------------------------------------------------------------

def test_the_summary_counts_in_words_that_fit_the_number(tmp_path, data_home):
    """It said "scored 1 texts", "skipped 1 invalid lines" and "1 texts were empty"."""
    code, _, err = score_cli(tmp_path, jsonl({"text": ""}) + b"{broken\n", "--model", "heuristic", "--skip-invalid")
    assert code == 0
    assert "scored 1 text with heuristic" in err
    assert "note: 1 text was empty or whitespace-only; it was scored as is" in err
    assert "skipped 1 invalid line, e.g.: " in err
    code, _, err = score_cli(tmp_path, jsonl({"text": ""}, {"text": " "}) + b"{a\n{b\n", "--model", "heuristic",
                             "--skip-invalid")
    assert code == 0 and "scored 2 texts with heuristic" in err
    assert "note: 2 texts were empty or whitespace-only; they were scored as is" in err
    assert "skipped 2 invalid lines, e.g.: " in err


def test_the_skip_summary_gives_each_example_once_without_its_advice(tmp_path, data_home):
    """Each example repeated "fix the line or pass --skip-invalid." and the join made ".;"."""
    content = jsonl({"text": "ok"}) + b"{broken\n" + b'{"text": 5}\n' + b'{"t": "x"}\n' + b"\xff\n"
    code, _, err = score_cli(tmp_path, content, "--model", "heuristic", "--skip-invalid")
    assert code == 0
    summary = next(line for line in err.splitlines() if line.startswith("skipped"))
    source = tmp_path / "in.jsonl"
    assert summary == ("skipped 4 invalid lines, e.g.: "
                       f"{source}:2: malformed JSON (Expecting property name enclosed in double quotes at column 2); "
                       f"{source}:3: field 'text' is a number, expected a string; "
                       f"{source}:4: no 'text' field; "
                       f"{source}:5: invalid UTF-8 at byte 1 of the line (invalid start byte)")
