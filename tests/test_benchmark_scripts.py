"""Every benchmark script starts: its imports resolve and it prints its usage.

The benchmarks are not run by the suite (they take minutes to hours and need ../shared/data),
so a renamed helper would otherwise break one silently, as it once did. The shared plumbing of
benchmarks/common.py is tested directly: what every result file records about its run, and the
cold-start timer that starts before the child process is spawned.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from benchmarks import common

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if p.stem not in ("__init__", "common"))


def test_the_benchmarks_are_found():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_benchmark_script_prints_its_usage(script: Path):
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                          timeout=120, cwd=BENCHMARKS.parent)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


# ------------------------------------------------------------------------------------------
# benchmarks/common.py: what every result records, and the from-spawn timer


ZEN5_CPUINFO = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 26
model		: 2
model name	: AMD EPYC
stepping	: 1
flags		: fpu sse4_2 avx2 avx512f avx512_vnni avx_vnni avx512_bf16

processor	: 1
model name	: something else
"""


def test_cpu_description_tells_cpu_generations_apart():
    info = common.cpu_info(ZEN5_CPUINFO)
    assert (info["model_name"], info["vendor"], info["family"], info["model"]) == ("AMD EPYC", "AuthenticAMD", 26, 2)
    assert info["flags"]["avx512_vnni"] is True and info["flags"]["amx_int8"] is False
    assert set(info["flags"]) >= {"avx512_vnni", "amx_tile", "amx_int8", "amx_bf16"}
    assert common.cpu_model(ZEN5_CPUINFO) == "AMD EPYC (family 26, model 2)"


def test_every_result_file_carries_commit_command_time_machine_and_note(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py", "--flag", "a b"])
    monkeypatch.setattr(common, "_parent_args", lambda: ["bash"])
    common.write_report("r", {"machine": {"threads": 2}, "rows": [1]}, "| table |\n", note="quiet machine")
    common.write_result("j", {"rows": [2]})
    for name in ("r", "j"):
        payload = json.loads((tmp_path / f"{name}.json").read_text())
        assert payload["benchmark"] == name
        assert re.fullmatch(r"[0-9a-f]{40}", payload["git"]["commit"])
        assert isinstance(payload["git"]["dirty"], bool)
        assert payload["command"].endswith("benchmarks/x.py --flag 'a b'")
        assert datetime.fromisoformat(payload["measured_at"]).utcoffset() == timedelta(0)
        cpu = payload["machine"]["cpu_info"]
        assert {"model_name", "family", "model", "flags"} <= set(cpu)
        assert {"avx512_vnni", "amx_int8"} <= set(cpu["flags"])
        assert "load_average" in payload["machine"] and "python" in payload["machine"]
        packages = payload["machine"]["packages"]
        assert packages["alignmenter-edge"] == __import__("alignmenter_edge").__version__
        assert set(packages) >= {"onnxruntime", "tokenizers", "numpy", "llama-cpp-python"}
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["machine"]["threads"] == 2 and report["rows"] == [1] and report["note"] == "quiet machine"
    assert json.loads((tmp_path / "j.json").read_text())["note"] is None
    markdown = (tmp_path / "r.md").read_text()
    assert markdown.startswith("| table |") and report["git"]["commit"][:12] in markdown
    assert "Note: quiet machine" in markdown


def test_the_command_line_shows_the_flock_wrapper(monkeypatch):
    lock = ["flock", "/tmp/alignmenter-bench.lock", "python", "benchmarks/x.py", "--note", "a b"]
    monkeypatch.setattr(common, "_parent_args", lambda: lock)
    assert common.command_line(["benchmarks/x.py"]) == "flock /tmp/alignmenter-bench.lock python benchmarks/x.py --note 'a b'"
    monkeypatch.setattr(common, "_parent_args", lambda: [])
    assert common.command_line(["benchmarks/x.py", "--n", "1"]) == "python benchmarks/x.py --n 1"


def test_from_spawn_timer_includes_the_childs_start_and_stops_at_its_ready_line():
    child = ("import sys, time, json; sys.path.insert(0, %r); from benchmarks.common import signal_ready; "
             "started = time.perf_counter(); time.sleep(0.3); signal_ready(); "
             "in_process = time.perf_counter() - started; time.sleep(0.6); "
             "print(json.dumps({'in_process_s': in_process}))" % str(BENCHMARKS.parent))
    result = common.run_child_timed([sys.executable, "-c", child])
    assert result["in_process_s"] >= 0.3
    assert result["from_spawn_s"] > result["in_process_s"]  # interpreter start-up and imports too
    assert result["from_spawn_s"] < result["process_wall_s"] - 0.5  # not the child's exit
    with pytest.raises(RuntimeError, match="never printed"):
        common.run_child_timed([sys.executable, "-c", "print('{}')"])
    with pytest.raises(RuntimeError, match="exited with 3"):
        common.run_child_json([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert common.run_child_json([sys.executable, "-c", "print('x'); print('{\"a\": 1}')"]) == {"a": 1}


def test_units_mib_and_mb_are_not_confused():
    assert common.mib_to_mb(199.43) == pytest.approx(209.12, abs=0.01)  # a "199 MB" that misses <= 200 MB
    assert common.gib_to_gb(1.4466) == pytest.approx(1.5533, abs=1e-4)  # a "1.45 GB" that misses <= 1.5 GB
