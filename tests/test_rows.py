"""RowReader's line splitting, read in pieces as a pipe delivers them."""

from __future__ import annotations

import io

import pytest

from alignmenter_edge.rows import RowReader


class Trickle(io.BytesIO):
    """A stream that hands out at most ``size`` bytes per read, as a slow pipe does."""

    def __init__(self, data: bytes, size: int) -> None:
        super().__init__(data)
        self.size = size

    def read1(self, size: int = -1) -> bytes:
        return super().read1(self.size)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1 << 16])
def test_lines_end_at_lf_crlf_and_a_lone_cr_wherever_the_reads_split_them(size):
    data = b"a\r\nb\rc\n\r\nd\r\r\ne\xc3\xa9" + b"x" * 70_000 + b"\rlast"
    reader = RowReader(Trickle(data, size), fmt="text")
    rows = [(row.line_no, row.text) for row in reader]
    assert rows == [(1, "a"), (2, "b"), (3, "c"), (5, "d"), (7, "e\u00e9" + "x" * 70_000), (8, "last")]
    assert reader.bytes_read == len(data)


def test_a_crlf_split_between_two_reads_is_one_line_ending():
    reader = RowReader(Trickle(b'{"text": "one"}\r\n{"text": "two"}\r\n', 16), fmt="jsonl")
    assert [(row.line_no, row.text) for row in reader] == [(1, "one"), (2, "two")]


def test_any_split_into_reads_gives_the_lines_bytes_splitlines_gives():
    import random

    from alignmenter_edge.rows import _lines

    rng = random.Random(7)
    for _ in range(300):
        data = bytes(rng.choice(b"ab\r\n") for _ in range(rng.randrange(40)))
        for size in (1, 2, 3, 5):
            assert list(_lines(Trickle(data, size))) == data.splitlines(keepends=True), (data, size)


@pytest.mark.parametrize("first", [b"[", b"  [  ", b'[{"text": "a"}, {"text": "b"}]', b'["a", "b"]', b'[ {'])
def test_a_json_array_is_not_guessed_to_be_text_lines(first):
    """Guessed as text, each line of a JSON array was scored as a text ('[', '{"text": ...},'), exit 0."""
    reader = RowReader(io.BytesIO(b"\n" + first + b'\n{"text": "a"}\n]\n'), name="in.txt")
    with pytest.raises(ValueError, match=r"in.txt:2: the file looks like a JSON array .* not JSONL or text "
                                         r"lines; convert it to one JSON object per line, e\.g\. with jq "
                                         r"-c '\.\[\]', or pass --format text if these are text lines"):
        list(reader)


@pytest.mark.parametrize("first", [b"[INST] hello", b"[1/3] part one", b"[] empty brackets", b"[citation needed]"])
def test_text_that_opens_with_a_bracket_is_still_text(first):
    reader = RowReader(io.BytesIO(first + b"\nsecond\n"), name="in.txt")
    assert [row.text for row in reader] == [first.decode(), "second"]


def test_format_text_reads_a_json_array_as_text_lines():
    reader = RowReader(io.BytesIO(b'[\n{"text": "a"}\n]\n'), fmt="text", name="in.txt")
    assert [row.text for row in reader] == ["[", '{"text": "a"}', "]"]
