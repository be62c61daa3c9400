"""The alignmenter-edge CLI: score and info, run in-process and as a real subprocess."""

from __future__ import annotations

import errno
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alignmenter_edge.cli import COMMANDS, main
from alignmenter_edge.tiers.heuristic import heuristic_score
from tests.helpers import require_platform

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sessions.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_score_example_sessions_keeps_rows_and_adds_scores(tmp_path: Path, data_home: Path, capsys) -> None:
    out = tmp_path / "scored.jsonl"
    assert main(["score", str(EXAMPLE), "-o", str(out), "--model", "heuristic"]) == 0
    rows_in, rows_out = read_jsonl(EXAMPLE), read_jsonl(out)
    assert len(rows_out) == len(rows_in) == 10
    for before, after in zip(rows_in, rows_out):
        assert {k: after[k] for k in before} == before  # every input field preserved
        assert after["safety_score"] == heuristic_score(before["text"])
        assert after["flagged"] is (after["safety_score"] < 0.5)  # the heuristic's threshold
        assert after["tier"] == "heuristic"
    assert min(r["safety_score"] for r in rows_out) < 1.0
    flagged = sum(r["flagged"] for r in rows_out)
    assert "scored 10 texts with heuristic" in (err := capsys.readouterr().err)
    assert f"{flagged} flagged (safety_score < 0.5)" in err


def test_flagged_follows_the_lexicon_threshold_not_a_fixed_one(tmp_path: Path, data_home: Path) -> None:
    data = tmp_path / "in.txt"
    data.write_text("How do I make a pipe bomb?\nLet's attack this bug together.\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["score", str(data), "-o", str(out), "--model", "lexicon"]) == 0
    rows = read_jsonl(out)
    assert [r["flagged"] for r in rows] == [True, False]
    assert 0.19 < rows[1]["safety_score"] < 0.9  # some evidence, yet above the lexicon's 0.19


def test_score_reports_which_tier_auto_picked(tmp_path: Path, data_home: Path, capsys) -> None:
    assert main(["score", str(EXAMPLE), "-o", str(tmp_path / "o.jsonl")]) == 0
    assert "requested auto" in capsys.readouterr().err


def test_plain_text_lines_from_stdin_in_a_subprocess(data_home: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "alignmenter_edge", "score", "-", "--model", "heuristic"],
        input="How do I install Python?\n\nI want to attack someone with violence\n".encode(),
        capture_output=True, check=True, timeout=120)
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r["text"] for r in rows] == ["How do I install Python?", "I want to attack someone with violence"]
    assert [r["safety_score"] for r in rows] == [1.0, pytest.approx(0.6)]


def test_custom_text_field(tmp_path: Path, data_home: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"prompt": "hack the planet", "id": 7}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["score", str(data), "-o", str(out), "--model", "heuristic", "--text-field", "prompt"]) == 0
    assert read_jsonl(out) == [{"prompt": "hack the planet", "id": 7, "safety_score": 0.8, "flagged": False,
                                "tier": "heuristic"}]


def test_plain_text_lines_are_written_back_under_the_text_field(tmp_path: Path, data_home: Path) -> None:
    """--text-field was silently ignored for plain text: every line came back as "text"."""
    data = tmp_path / "in.txt"
    data.write_text("hack the planet\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["score", str(data), "-o", str(out), "--model", "heuristic", "--text-field", "prompt"]) == 0
    assert read_jsonl(out) == [{"prompt": "hack the planet", "safety_score": 0.8, "flagged": False, "tier": "heuristic"}]


@pytest.mark.parametrize("field", ["safety_score", "flagged", "tier", ""])
def test_a_text_field_the_output_would_overwrite_is_refused(tmp_path: Path, data_home: Path, capsys,
                                                            field: str) -> None:
    """--text-field tier read the text from 'tier' and wrote the row back with the tier's name in
    its place: the scored text was lost without a word. Refused before anything is opened."""
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({field: "how to attack"}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with pytest.raises(SystemExit) as stopped:
        main(["score", str(data), "-o", str(out), "--model", "heuristic", "--text-field", field])
    assert stopped.value.code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "argument --text-field" in err
    assert ("is empty" in err) if not field else (f"{field!r} is a field score writes" in err)


def test_malformed_line_is_an_error_with_its_line_number(tmp_path: Path, data_home: Path, capsys) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "fine"}\n{"text": oops}\n{"text": "later"}\n', encoding="utf-8")
    assert main(["score", str(data), "-o", str(tmp_path / "o.jsonl"), "--model", "heuristic"]) == 2
    assert "in.jsonl:2: malformed JSON" in capsys.readouterr().err


def test_skip_invalid_counts_and_reports(tmp_path: Path, data_home: Path, capsys) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "fine"}\n{"text": oops}\n{"text": 5}\n{"text": "later"}\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert main(["score", str(data), "-o", str(out), "--model", "heuristic", "--skip-invalid"]) == 0
    assert [r["text"] for r in read_jsonl(out)] == ["fine", "later"]
    assert "skipped 2 invalid lines" in capsys.readouterr().err


def test_a_key_twice_in_a_row_is_a_malformed_line(tmp_path: Path, data_home: Path, capsys) -> None:
    """Python keeps a repeated key's last value, so this row was scored as "hello" (1.0) while
    other readers see the first text; now it is malformed, anywhere in the row, and skippable."""
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "fine"}\n'
                    '{"text": "how to build a bomb to kill people", "text": "hello"}\n'
                    '{"text": "later", "meta": {"id": 1, "id": 2}}\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert main(["score", str(data), "-o", str(out), "--model", "heuristic"]) == 2
    assert capsys.readouterr().err.endswith(f"error: {data}:2: malformed JSON (the key 'text' occurs twice in one "
                                            "object); fix the line or pass --skip-invalid.\n")
    assert [r["text"] for r in read_jsonl(out)] == ["fine"]
    assert main(["score", str(data), "-o", str(out), "--model", "heuristic", "--skip-invalid"]) == 0
    assert [r["text"] for r in read_jsonl(out)] == ["fine"]
    assert f"{data}:3: malformed JSON (the key 'id' occurs twice in one object)" in capsys.readouterr().err


def test_unknown_model_exits_nonzero_with_choices(data_home: Path, capsys) -> None:
    assert main(["score", str(EXAMPLE), "--model", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_info_json_lists_tiers_and_bundle_dir(data_home: Path, capsys) -> None:
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tiers"]["heuristic"]["status"] == "ready"
    assert report["bundles_dir"] == str(data_home / "bundles")
    assert report["default_threads"] >= 1
    assert main(["info"]) == 0
    assert "heuristic" in capsys.readouterr().out


def test_info_lists_installed_bundles_with_their_licences(data_home: Path, capsys) -> None:
    from alignmenter_edge.bundle import write_bundle

    root = data_home / "bundles" / "judge"
    root.mkdir(parents=True)
    (root / "model.gguf").write_bytes(b"weights")
    write_bundle(root, ["model.gguf"], tier="constitutional-gguf", model_id="org/adapter",
                 sources=[{"role": "base", "id": "org/base", "license": "apache-2.0"},
                          {"role": "adapter", "id": "org/adapter", "license": None}],
                 labels={}, max_input_tokens=8, long_input_policy="window-min", quantization="Q4_K_M")
    assert main(["info", "--json"]) == 0
    bundle = json.loads(capsys.readouterr().out)["bundles"]["judge"]
    assert (bundle["tier"], bundle["model_id"], bundle["quantization"]) == ("constitutional-gguf", "org/adapter", "Q4_K_M")
    assert [s["license"] for s in bundle["sources"]] == ["apache-2.0", None]
    assert main(["info"]) == 0
    assert "licence base apache-2.0, adapter unknown" in capsys.readouterr().out


def test_info_shows_an_unreadable_installed_bundle_as_broken_with_the_fix(data_home: Path, capsys) -> None:
    broken = data_home / "bundles" / "judge"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{not json", encoding="utf-8")
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "judge                BROKEN: installed bundle 'judge' cannot be read" in out
    assert "alignmenter-edge uninstall judge" in out and "(none)" not in out
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["broken_bundles"]) == ["judge"] and report["bundles"] == {}
    assert report["tiers"]["roberta-onnx"]["status"].startswith("unreadable bundle(s) installed (judge)")


def test_info_on_one_bundle_verifies_it_and_shows_its_provenance(data_home: Path, tmp_path: Path, capsys) -> None:
    from alignmenter_edge.bundle import write_bundle

    root = tmp_path / "b"
    root.mkdir()
    (root / "model.onnx").write_bytes(b"weights" * 1000)
    write_bundle(root, ["model.onnx"], tier="roberta-onnx", model_id="org/model",
                 sources=[{"role": "model", "id": "org/model", "kind": "hub", "revision": "main",
                           "commit": "abc123", "license": "apache-2.0", "license_from": "model card"}],
                 labels={"unsafe_index": 1}, max_input_tokens=512, long_input_policy="windows",
                 quantization="int8", parity={"int8": {"max_abs_diff_p_unsafe": 0.004, "label_agreement": 0.97,
                                                       "probes": 32}})
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "every file's sha256 matches the manifest" in out
    assert "model: org/model @ abc123; licence apache-2.0 (from model card)" in out
    assert "parity int8: max |Δ P(unsafe)| 0.004, label agreement 0.970 over 32 probes" in out
    assert main(["info", "--json", str(root)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["manifest"]["sources"][0]["license"] == "apache-2.0" and len(report["digest"]) == 16
    data = bytearray((root / "model.onnx").read_bytes())
    data[0] ^= 1
    (root / "model.onnx").write_bytes(bytes(data))
    assert main(["info", str(root)]) == 2
    assert "sha256 of 'model.onnx'" in capsys.readouterr().err
    assert main(["info", "not-a-bundle"]) == 2
    assert "unknown model 'not-a-bundle'" in capsys.readouterr().err


def test_explain_shows_terms_cues_and_the_lexicon_score(data_home: Path, capsys) -> None:
    from alignmenter_edge.tiers.lexicon import lexicon_score

    bomb, pests = "How do I make a pipe bomb?", "How do I kill the ants in my kitchen?"
    assert main(["explain", "--json", bomb, pests]) == 0
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [f["text"] for f in found] == [bomb, pests]
    assert found[0]["safety"] == lexicon_score(bomb) and found[0]["flagged"] is True
    assert "pipe bomb*" in dict(found[0]["terms"]["violence"]) and found[0]["cues"]["intent"] == ["how do i"]
    assert found[1]["safety"] == 1.0 and found[1]["flagged"] is False and found[1]["terms"] == {}
    assert main(["explain", bomb]) == 0
    readable = capsys.readouterr().out
    assert readable.startswith(f"{lexicon_score(bomb):.3f}  UNSAFE (threshold 0.19)  {bomb}")
    assert "violence:" in readable and "intent: how do i" in readable


def test_explain_reads_stdin_and_checks_its_options(data_home: Path, capsys, monkeypatch, tmp_path: Path) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"first text\r\nsecond text\n")))
    assert main(["explain", "--json", "--threshold", "1", "-"]) == 0
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [f["text"] for f in found] == ["first text", "second text"]
    assert all(f["threshold"] == 1.0 and f["flagged"] is False for f in found)  # 1.0 is not < 1.0
    with pytest.raises(SystemExit):
        main(["explain", "--threshold", "2", "x"])
    assert "argument --threshold: must be a finite number in (0, 1]" in capsys.readouterr().err
    assert main(["explain", "--lexicon", str(tmp_path / "missing.txt"), "x"]) == 2
    assert "cannot read the lexicon file" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"fine\n\xff broken\n")))
    assert main(["explain", "-"]) == 2
    assert "<stdin>:2: invalid UTF-8 at byte 1 of the line (invalid start byte); re-encode the input as UTF-8." \
        in capsys.readouterr().err


def test_explain_reads_stdin_as_score_reads_text_lines(data_home: Path, capsys, monkeypatch) -> None:
    """explain read stdin its own way: it kept a leading byte-order mark in the text it showed and
    explained blank lines; now it reads them as `score --format text` does."""
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbffirst text\n\n   \nsecond text\n")))
    assert main(["explain", "--json", "-"]) == 0
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == ["first text", "second text"]


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "utf-8"}, {}], ids=["utf-8 stdout", "default stdout"])
def test_explain_refuses_a_text_argument_that_is_not_utf8(env: dict) -> None:
    """Python passes such bytes on as lone surrogates: with a strict UTF-8 stdout that was a
    UnicodeEncodeError traceback, with the default one `--json` wrote a raw 0xff byte (JSON that is
    not UTF-8). Now it is refused as invalid UTF-8 on stdin is, before anything is written."""
    code, out, err = run_cli("explain", "--json", "fine", b"kill \xff", env=env)
    assert (code, out) == (2, b"")
    assert err == (b"alignmenter-edge: error: TEXT argument 2: invalid UTF-8 at byte 6 of the argument "
                   b"(invalid start byte); pass the text as UTF-8.\n")


def test_a_file_name_that_is_not_utf8_is_shown_escaped(tmp_path: Path) -> None:
    """`eval $'\\xff.jsonl'` ended in a UnicodeEncodeError traceback printing the dataset name (and
    writing it to --json); now the name is shown with the byte escaped, \\xff, also in errors."""
    data = os.fsencode(tmp_path) + b"/\xff.jsonl"
    with open(data, "w", encoding="utf-8") as out:
        out.write('{"text": "hello", "label": "safe"}\n{"text": "how to make a pipe bomb", "label": "unsafe"}\n')
    report = tmp_path / "report.json"
    code, out, err = run_cli("eval", data, "--model", "lexicon", "--json", str(report),
                             env={"PYTHONIOENCODING": "utf-8"})
    assert code == 0, err
    assert out.startswith(b"dataset   \\xff: 2 texts") and json.loads(report.read_text())["dataset"] == "\\xff"
    with open(data, "a", encoding="utf-8") as out:
        out.write('{"text": "no label"}\n')
    code, out, err = run_cli("eval", data, "--model", "lexicon", env={"PYTHONIOENCODING": "utf-8"})
    assert code == 2 and err.endswith(b"/\\xff.jsonl:3: no 'label' field, expected \"safe\" or \"unsafe\"; "
                                      b"choose the field with --label-field.\n"), err


def test_a_file_name_that_is_not_utf8_is_shown_escaped_in_file_errors(tmp_path: Path) -> None:
    """A missing or unwritable file and an output that is the input showed the byte as a lone
    surrogate, `\\udcff.jsonl`, not as `\\xff.jsonl` like every other message."""
    name = os.fsencode(tmp_path) + b"/\xff.jsonl"
    shown = os.fsencode(tmp_path) + b"/\\xff.jsonl"
    code, _, err = run_cli("score", name, "--model", "heuristic", env={"PYTHONIOENCODING": "utf-8"})
    assert (code, err) == (2, b"alignmenter-edge: error: " + shown + b": No such file or directory; check the path.\n")
    code, _, err = run_cli("score", str(EXAMPLE), "-o", os.fsencode(tmp_path) + b"/\xff/out.jsonl",
                           "--model", "heuristic", env={"PYTHONIOENCODING": "utf-8"})
    assert code == 2 and b"/\\xff/out.jsonl: No such file or directory" in err and b"udc" not in err, err
    with open(name, "wb") as out:
        out.write(EXAMPLE.read_bytes())
    code, _, err = run_cli("score", name, "-o", name, "--model", "heuristic", env={"PYTHONIOENCODING": "utf-8"})
    assert code == 2 and b"the output (" + shown + b") and the input (" + shown + b") are the same file" in err, err


def test_explain_shows_cancelled_request_cues_and_combination_evidence(data_home: Path, capsys) -> None:
    report = "Explain how to report child sexual abuse material to the authorities"
    assert main(["explain", report, "Give me child porn links"]) == 0
    out = capsys.readouterr().out
    assert "intent cancelled by a protective act: explain how, how to" in out
    assert "child_safety: 7.25  (child porn* 4; +3.25 from a minor together with sexual or grooming terms)" in out


MODEL_WANTED = "a tier name, an installed bundle's name or a bundle directory"


@pytest.mark.parametrize("argv, argument, wanted", [
    (["score", "", "--model", "heuristic"], "input", "a file, or - for standard input"),
    (["score", "in.jsonl", "-o", ""], "-o/--output", "a file, or - for standard output"),
    (["score", "in.jsonl", "--model", ""], "--model/-m", MODEL_WANTED),
    (["eval", "", "--model", "heuristic"], "data", "a file, or - for standard input"),
    (["eval", "in.jsonl", "--model", ""], "--model/-m", MODEL_WANTED),
    (["eval", "in.jsonl", "--json", "", "--model", "heuristic"], "--json", "a file, or - for standard output"),
    (["eval", "in.jsonl", "--plot", "", "--model", "heuristic"], "--plot", "a .png, .svg or .pdf file"),
    (["info", ""], "bundle", "a bundle directory or an installed bundle's name, or no BUNDLE for the overview"),
    (["install", ""], "bundle", "a bundle directory"),
])
def test_an_empty_file_or_model_argument_is_refused(tmp_path: Path, data_home: Path, capsys, monkeypatch,
                                                    argv: list[str], argument: str, wanted: str) -> None:
    """`--json ''` and `--plot ''` were taken for no option at all (no report, exit code 0),
    `score ''` said ": No such file or directory" and `--model ''` "unknown model ''.  exists but
    holds no manifest.json"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"text": "hello", "label": "safe"}\n', encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"alignmenter-edge {argv[0]}: error: argument {argument}: is empty; give {wanted}")


@pytest.mark.parametrize("command", [*COMMANDS, "export roberta", "export constitutional"])
def test_every_help_page_renders_as_written(command: str, capsys) -> None:
    """argparse %-formats help strings but not descriptions: a '%%' meant as an escape in a
    description reaches the user as '%%'."""
    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--help"])
    assert exit_info.value.code == 0
    page = capsys.readouterr().out
    assert page.startswith(f"usage: alignmenter-edge {command}")
    assert "%%" not in page and "%(" not in page


# --- files, pipes, locales and signals -------------------------------------------------------

def cli_process(*args: str | bytes, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """``alignmenter-edge ARGS`` in a subprocess running this checkout."""
    return subprocess.Popen([sys.executable, "-m", "alignmenter_edge", *args],
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, **kwargs)


def run_cli(*args: str | bytes, input: bytes = b"", env: dict | None = None, **kwargs) -> tuple[int, bytes, bytes]:
    kwargs.setdefault("stdout", subprocess.PIPE)
    proc = cli_process(*args, env=env, stdin=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
    out, err = proc.communicate(input, timeout=120)
    return proc.returncode, out, err


def many_rows(path: Path, n: int = 20_000) -> Path:
    path.write_text("".join(json.dumps({"i": i, "text": f"row {i} about an attack"}) + "\n" for i in range(n)),
                    encoding="utf-8")
    return path


def model_never_loads(args: object) -> None:
    raise AssertionError("the model was loaded before the files were checked")


@pytest.mark.parametrize("alias", ["same path", "symlink", "hard link"])
def test_score_refuses_to_write_over_its_own_input(tmp_path: Path, capsys, alias: str) -> None:
    """`score X -o X` emptied X before reading it and reported "scored 0 texts"."""
    source = tmp_path / "in.jsonl"
    source.write_bytes(EXAMPLE.read_bytes())
    output = source if alias == "same path" else tmp_path / "alias.jsonl"
    if alias == "symlink":
        output.symlink_to(source)
    elif alias == "hard link":
        os.link(source, output)
    assert main(["score", str(source), "-o", str(output), "--model", "heuristic"]) == 2
    assert f"the output ({output}) and the input ({source}) are the same file" in capsys.readouterr().err
    assert source.read_bytes() == EXAMPLE.read_bytes()


def test_score_refuses_to_write_over_its_own_standard_input(tmp_path: Path) -> None:
    """`score - -o X < X`: standard input is the output file, so opening X would empty it."""
    source = tmp_path / "in.jsonl"
    source.write_bytes(EXAMPLE.read_bytes())
    with open(source, "rb") as stdin:
        proc = cli_process("score", "-", "-o", str(source), "--model", "heuristic", stdin=stdin,
                           stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err == (f"alignmenter-edge: error: the output ({source}) and the input (<stdin>) are the same "
                   "file; writing it would destroy the input before it is read. Write to another file.\n").encode()
    assert source.read_bytes() == EXAMPLE.read_bytes()


def test_standard_input_has_one_name_in_every_message(tmp_path: Path, data_home: Path, capsys, monkeypatch) -> None:
    """Standard input was `<stdin>` in line errors, `standard input` in the same-file refusal and
    `stdin` as eval's dataset: one input, three names. It is `<stdin>` everywhere."""
    import io

    labelled = b'{"text": "hello", "label": "safe"}\n{"text": "how to make a pipe bomb", "label": "unsafe"}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(labelled)))
    report = tmp_path / "report.json"
    assert main(["eval", "-", "--model", "lexicon", "--json", str(report)]) == 0
    assert capsys.readouterr().out.startswith("dataset   <stdin>: 2 texts")
    assert json.loads(report.read_text())["dataset"] == "<stdin>"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(labelled + b'{"text": "x"}\n')))
    assert main(["eval", "-", "--model", "lexicon"]) == 2
    assert "error: <stdin>:3: no 'label' field" in capsys.readouterr().err


def _denied(real, path: Path):
    """``real`` (open or os.open), raising PermissionError (EACCES) for ``path``, as for a file
    without permission (the tests run as root, who may open anything)."""
    def opener(file, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(file))
        return real(file, *args, **kwargs)
    return opener


def test_a_file_without_permission_is_one_error_line_before_the_model_loads(tmp_path: Path, capsys,
                                                                             monkeypatch) -> None:
    from alignmenter_edge.commands import eval as eval_command
    from alignmenter_edge.commands import score, streams

    monkeypatch.setattr(score, "load_from_args", model_never_loads)
    monkeypatch.setattr(eval_command, "load_from_args", model_never_loads)
    unreadable, unwritable = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    unreadable.write_bytes(EXAMPLE.read_bytes())
    monkeypatch.setattr(streams, "open", _denied(open, unreadable), raising=False)
    monkeypatch.setattr(os, "open", _denied(os.open, unwritable))
    data = tmp_path / "labelled.jsonl"
    data.write_text('{"text": "hi", "label": "safe"}\n', encoding="utf-8")
    for argv, path in [(["score", str(unreadable)], unreadable),
                       (["score", str(EXAMPLE), "-o", str(unwritable)], unwritable),
                       (["eval", str(data), "--model", "heuristic", "--json", str(unwritable)], unwritable)]:
        assert main(argv) == 2
        assert capsys.readouterr().err == f"alignmenter-edge: error: {path}: Permission denied; check its permissions.\n"
    assert not unwritable.exists()


def test_unusable_files_are_one_error_line_before_the_model_loads(tmp_path: Path, capsys, monkeypatch) -> None:
    """These were raw tracebacks (FileNotFoundError, IsADirectoryError), the output ones only
    after the model had loaded."""
    from alignmenter_edge.commands import score

    monkeypatch.setattr(score, "load_from_args", model_never_loads)
    absent, no_dir = tmp_path / "absent.jsonl", tmp_path / "no-such-dir" / "out.jsonl"
    for argv, message in [([str(absent)], f"{absent}: No such file or directory; check the path."),
                          ([str(EXAMPLE), "-o", str(no_dir)], f"{no_dir}: No such file or directory; check the path."),
                          ([str(EXAMPLE), "-o", str(tmp_path)], f"{tmp_path}: Is a directory; give a file, not a directory.")]:
        assert main(["score", *argv]) == 2
        assert capsys.readouterr().err == f"alignmenter-edge: error: {message}\n"


def test_a_full_disk_is_an_error_line_not_a_traceback() -> None:
    require_platform(os.path.exists("/dev/full"), "needs /dev/full")
    code, _, err = run_cli("score", str(EXAMPLE), "-o", "/dev/full", "--model", "heuristic")
    assert (code, err) == (2, b"alignmenter-edge: error: /dev/full: No space left on device; "
                              b"free some space or write elsewhere.\n")
    with open("/dev/full", "wb") as full:
        code, _, err = run_cli("info", stdout=full)
    # print() names no file, and an unnamed error is never guessed to be stdout's (it may be a
    # library's own file, below)
    assert (code, err) == (2, b"alignmenter-edge: error: No space left on device; "
                              b"free some space or write elsewhere.\n")


def test_an_error_that_names_no_file_is_not_blamed_on_standard_output(capsys, monkeypatch) -> None:
    """A library writing its own file (torch saving the ONNX graph under a file-size limit) raises
    an OSError without a file name: the message must not say 'standard output', and stdout stays."""
    from alignmenter_edge.commands import info

    def library_write_fails(args):
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))

    monkeypatch.setattr(info, "run", library_write_fails)
    assert main(["info"]) == 2
    captured = capsys.readouterr()
    assert captured.err == ("alignmenter-edge: error: File too large; raise the file-size limit (ulimit -f) or "
                            "write to a file system that takes larger files.\n")


def test_a_disk_that_fills_mid_write_keeps_only_complete_lines(tmp_path: Path, capsys, monkeypatch) -> None:
    """The second pool's write stops half-way with ENOSPC: the file is cut back to the first pool."""
    from alignmenter_edge.commands import streams

    def half_then_full(fd: int, data: bytes) -> None:
        if os.fstat(fd).st_size:
            os.write(fd, data[:len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.write(fd, data)

    monkeypatch.setattr(streams, "_write_all", half_then_full)
    out = tmp_path / "out.jsonl"
    argv = ["score", str(many_rows(tmp_path / "in.jsonl", 100)), "-o", str(out), "--model", "heuristic", "--batch-size", "5"]
    assert main(argv) == 2
    assert f"error: {out}: No space left on device; free some space or write elsewhere." in capsys.readouterr().err
    assert [row["i"] for row in read_jsonl(out)] == list(range(40)) and out.read_text().endswith("\n")


def _file_size_limit(limit: int):
    """A preexec_fn: writes beyond ``limit`` bytes fail with EFBIG (SIGXFSZ ignored, as `ulimit -f` in a shell)."""
    import resource

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    return limited


@pytest.mark.parametrize("batch_size", ["256", "5"], ids=["first write fails", "a later write fails"])
def test_a_failed_append_to_stdout_keeps_the_existing_file(tmp_path: Path, batch_size: str) -> None:
    """`score big.jsonl >> results.jsonl` past a file-size limit emptied results.jsonl: the cut-back
    point was the offset, 0 before the first append. Now the file keeps its rows and whole new lines."""
    require_platform(hasattr(signal, "SIGXFSZ"), "needs RLIMIT_FSIZE")
    results = tmp_path / "results.jsonl"
    kept = json.dumps({"kept": "x" * 10_000}) + "\n"
    results.write_text(kept, encoding="utf-8")
    limit = 20 * 1024
    appended = os.open(results, os.O_WRONLY | os.O_APPEND)  # as a shell's >> opens it: offset 0, not the end
    try:
        proc = cli_process("score", str(many_rows(tmp_path / "big.jsonl", 2000)), "--model", "heuristic",
                           "--no-progress", "--batch-size", batch_size, stdout=appended, stderr=subprocess.PIPE,
                           preexec_fn=_file_size_limit(limit))
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(appended)
    assert proc.returncode == 2 and err.endswith(b"error: standard output: File too large; raise the file-size "
                                                 b"limit (ulimit -f) or write to a file system that takes larger "
                                                 b"files.\n"), err
    data = results.read_text(encoding="utf-8")
    assert data.startswith(kept) and data.endswith("\n") and len(data) <= limit
    appended_rows = [json.loads(line) for line in data[len(kept):].splitlines()]
    assert [row["i"] for row in appended_rows] == list(range(len(appended_rows)))
    assert len(appended_rows) < 2000 and (batch_size == "256" or appended_rows)


@pytest.mark.parametrize("command", ["score", "explain"])
def test_a_reader_that_closes_the_pipe_ends_the_run_quietly(tmp_path: Path, command: str) -> None:
    """`score big.jsonl | head -1` and `explain - | head -1` ended in a BrokenPipeError traceback;
    now exit code 141, as for a process killed by SIGPIPE, and nothing on stderr."""
    args = ["score", "-", "--model", "heuristic"] if command == "score" else ["explain", "-"]
    with open(many_rows(tmp_path / "in.jsonl"), "rb") as source:
        proc = cli_process(*args, stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
        proc.wait(timeout=120)
    assert b"row 0 about an attack" in first
    assert (proc.returncode, err) == (141, b"")


def test_output_is_utf8_whatever_the_locale() -> None:
    """With a latin-1 stdout, a row holding 你好 was a UnicodeEncodeError."""
    latin1 = {"PYTHONIOENCODING": "latin-1"}
    code, out, err = run_cli("score", "-", "--model", "heuristic", input='{"text": "你好 attack"}\n'.encode(), env=latin1)
    assert code == 0, err
    assert json.loads(out.decode("utf-8"))["text"] == "你好 attack"
    code, out, err = run_cli("explain", "--json", "你好", env=latin1)
    assert code == 0 and json.loads(out.decode("utf-8"))["text"] == "你好", err


def _bytes_waiting(fd: int) -> int:
    import fcntl
    import termios

    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), sys.byteorder)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_write_the_reader_never_takes(tmp_path: Path, sig: int) -> None:
    """Signals were held for the whole write, so with a reader that never reads SIGTERM and
    SIGINT did nothing until the reader went away. Now the run stops at once with code 130, and
    what reached the reader is complete lines for exactly the first N rows."""
    require_platform(sys.platform == "linux", "FIONREAD on a FIFO is Linux's")
    import fcntl

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    proc = cli_process("score", str(many_rows(tmp_path / "in.jsonl")), "-o", str(fifo), "--model", "heuristic",
                       "--no-progress", stderr=subprocess.PIPE)
    try:
        capacity, waiting, deadline = fcntl.fcntl(reader, fcntl.F_GETPIPE_SZ), -1, time.monotonic() + 60
        while waiting != (waiting := _bytes_waiting(reader)) or waiting < capacity // 2:  # until it is full
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 130, err
        data = os.read(reader, 2 * waiting)
    finally:
        proc.kill()
        proc.wait()
        os.close(reader)
    assert len(data) == waiting and data.endswith(b"\n")
    assert [json.loads(line)["i"] for line in data.splitlines()] == list(range(data.count(b"\n")))


def test_ctrl_c_stops_a_write_to_a_terminal_nobody_reads(tmp_path: Path) -> None:
    """A terminal is written directly, signals not held (poll cannot see a stalled terminal on
    every system): Ctrl-C on a terminal that stopped scrolling (Ctrl-S) ends the run at once."""
    require_platform(sys.platform.startswith(("linux", "darwin")), "needs a pseudo-terminal")
    import pty

    controller, terminal = pty.openpty()
    proc = cli_process("score", str(many_rows(tmp_path / "in.jsonl")), "--model", "heuristic", "--no-progress",
                       stdout=terminal, stderr=subprocess.PIPE)
    os.close(terminal)
    try:
        waiting, deadline = -1, time.monotonic() + 60
        while waiting != (waiting := _bytes_waiting(controller)) or waiting == 0:  # until writes block
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)
    assert proc.returncode == 130 and b"interrupted" in err


def test_an_ignored_sigint_never_drops_rows(tmp_path: Path) -> None:
    """Under nohup or `trap '' INT` SIGINT is ignored, yet the kernel still queues it while it is
    held: a write that stopped for it dropped the rest of the batch and the run went on (4,027 of
    20,000 rows written, exit 0). An ignored signal must change nothing."""
    require_platform(sys.platform == "linux", "FIONREAD on a FIFO is Linux's")
    import fcntl

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    proc = cli_process("score", str(many_rows(tmp_path / "in.jsonl")), "-o", str(fifo), "--model", "heuristic",
                       "--no-progress", stderr=subprocess.PIPE,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    chunks = []
    try:
        capacity, waiting, deadline = fcntl.fcntl(reader, fcntl.F_GETPIPE_SZ), -1, time.monotonic() + 60
        while waiting != (waiting := _bytes_waiting(reader)) or waiting < capacity // 2:  # until it is full
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        while proc.poll() is None or _bytes_waiting(reader):
            assert time.monotonic() < deadline + 60
            try:
                chunks.append(os.read(reader, 1 << 16))
            except BlockingIOError:
                time.sleep(0.01)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(reader)
    assert proc.returncode == 0, err
    lines = b"".join(chunks).splitlines()
    assert [json.loads(line)["i"] for line in lines] == list(range(20_000))


def test_a_model_that_fails_to_load_leaves_the_output_file_alone(tmp_path: Path, capsys) -> None:
    """Outputs are opened before the model loads (so a bad path fails first), but emptied only once
    it has loaded: an existing file keeps its rows, and a new one is not left behind."""
    previous = tmp_path / "previous.jsonl"
    previous.write_text('{"text": "kept"}\n', encoding="utf-8")
    fresh = tmp_path / "fresh.jsonl"
    for output in (previous, fresh):
        assert main(["score", str(EXAMPLE), "-o", str(output), "--model", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert previous.read_text(encoding="utf-8") == '{"text": "kept"}\n' and not fresh.exists()
    report = tmp_path / "report.json"
    report.write_text("{}", encoding="utf-8")
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text('{"text": "hi", "label": "safe"}\n', encoding="utf-8")
    assert main(["eval", str(labelled), "--json", str(report), "--model", "no-such-model"]) == 2
    assert report.read_text(encoding="utf-8") == "{}"
    assert main(["score", str(EXAMPLE), "-o", str(previous), "--model", "heuristic"]) == 0
    assert len(read_jsonl(previous)) == 10  # replaced once the model is there


@pytest.mark.parametrize("argv", [["score", "x"], ["info"], ["eval", "x"], ["explain", "x"],
                                  ["export", "roberta", "-o", "x"], ["install", "x"], ["uninstall", "x"]])
def test_an_interrupt_says_what_that_command_leaves(monkeypatch, capsys, argv: list[str]) -> None:
    """Every command said "output written so far is complete JSONL"; only score writes JSONL."""
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    module = "export_roberta" if argv[0] == "export" else argv[0]
    monkeypatch.setattr(importlib.import_module(f"alignmenter_edge.commands.{module}"), "run", interrupted)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.startswith("alignmenter-edge: interrupted") and err.count("\n") == 1
    assert ("complete JSONL" in err) is (argv[0] == "score")
    assert ("bundle" in err) is (argv[0] in ("export", "install", "uninstall"))


@pytest.mark.slow
def test_sigterm_stops_an_export_and_leaves_no_intermediates(tiny_roberta_source, tmp_path) -> None:
    """`timeout`, `docker stop` and CI cancels send SIGTERM: an export must clean up its staging
    directory (for real models GBs of ONNX / GGUF intermediates) as it does on Ctrl-C."""
    import signal
    import time

    out = tmp_path / "bundle"
    proc = subprocess.Popen([sys.executable, "-m", "alignmenter_edge", "export", "roberta", str(tiny_roberta_source),
                             "-o", str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".roberta-export-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the export ended before it staged anything"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted; the export did not finish, so it wrote no bundle" in err
    assert not out.exists() and list(tmp_path.glob(".roberta-export-*")) == []
