"""Shared benchmark plumbing: what a result records about itself (commit, command, time,
machine), text loading, child processes (their JSON result; the time from spawn to a ready
line), RSS, result files.

Every benchmark writes its result through ``write_result`` or ``write_report``, which add
``measured_at`` (UTC), ``git`` (commit and whether the work tree had other changes), ``command``
(the exact command line, with the ``flock`` wrapper when there was one), ``note`` (``--note``,
free text about the conditions; nothing is assumed when it is absent) and ``machine`` (CPU model
name with vendor, family and model numbers, the flags that tell CPU generations apart, cores,
Python, load average).

Only the standard library is imported at module level, so a child process can import this
module before its timed work without paying for much.

Units: ``rss_mib``/``peak_rss_mib`` are MiB (2**20 bytes), as Linux reports them in kB = KiB.
Goals are in MB/GB (10**6 / 10**9 bytes): compare through ``mib_to_mb``/``gib_to_gb``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
READY = "@@benchmark-ready"  # a child prints this line at the moment a from-spawn timer stops
NOTABLE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
MIB, GIB = 2**20, 2**30


# ------------------------------------------------------------------------------------------
# what a result records about itself


def _first_cpuinfo_block(text: str | None = None) -> dict[str, str]:
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor is enough
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_info(cpuinfo: str | None = None) -> dict[str, Any]:
    """The first processor of /proc/cpuinfo: model name, vendor, family, model and stepping
    numbers (which tell Zen 4 from Zen 5 where the name says only "AMD EPYC") and whether each
    of NOTABLE_FLAGS is set. Empty fields where there is no /proc/cpuinfo."""
    fields = _first_cpuinfo_block(cpuinfo)
    flags = set(fields.get("flags", "").split())

    def number(key: str) -> int | None:
        try:
            return int(fields[key])
        except (KeyError, ValueError):
            return None

    return {"model_name": fields.get("model name", ""), "vendor": fields.get("vendor_id", ""),
            "family": number("cpu family"), "model": number("model"), "stepping": number("stepping"),
            "flags": {flag: flag in flags for flag in NOTABLE_FLAGS}}


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name with its family and model numbers ("AMD EPYC (family 26, model 2)");
    "" where there is no /proc/cpuinfo."""
    info = cpu_info(cpuinfo)
    name = info["model_name"]
    if name and info["family"] is not None and info["model"] is not None:
        return f"{name} (family {info['family']}, model {info['model']})"
    return name


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import platform

    from alignmenter_edge.system import cpu_features, physical_cores, usable_cpus

    try:
        load: Any = list(os.getloadavg())
    except OSError:
        load = None
    return {"cpu": cpu_model() or platform.machine(), "cpu_info": cpu_info(), "cpu_features": cpu_features(),
            "usable_cpus": usable_cpus(), "physical_cores": physical_cores(),
            "python": platform.python_version(), "platform": platform.platform(), "load_average": load,
            "packages": package_versions()}


MEASURED_PACKAGES = ("alignmenter-edge", "onnxruntime", "tokenizers", "numpy", "llama-cpp-python", "torch",
                     "transformers", "alignmenter")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages the numbers depend on (None: not installed); an import
    or a kernel can change speed between versions."""
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in MEASURED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(root: Path = ROOT) -> dict[str, Any]:
    """``git rev-parse HEAD`` and whether the work tree differs from it (tracked or untracked
    files, benchmarks/results/ not counted: earlier results of the same session land there)."""
    import subprocess

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", ".", ":(exclude)benchmarks/results")
    paths = [line[3:] for line in (status or "").splitlines() if line.strip()]
    return {"commit": commit.strip() if commit else None, "dirty": None if status is None else bool(paths),
            "dirty_paths": paths[:20]}


def _parent_args() -> list[str]:
    try:
        parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []
    return [a.decode(errors="replace") for a in parent if a]


def command_line(argv: Sequence[str] | None = None) -> str:
    """This run's command line as typed: the parent's when the parent is ``flock`` (so the lock
    shows), else ``python`` and sys.argv."""
    import shlex

    argv = list(sys.argv if argv is None else argv)
    parent_args = _parent_args()
    if parent_args and Path(parent_args[0]).name == "flock":
        return shlex.join(parent_args)
    return shlex.join(["python", *argv])


def result_metadata(note: str | None = None) -> dict[str, Any]:
    """The fields every result file carries (see the module docstring)."""
    from datetime import datetime, timezone

    return {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git": git_state(),
            "command": command_line(), "note": note, "machine": machine()}


def with_metadata(name: str, result: dict[str, Any], note: str | None = None) -> dict[str, Any]:
    """``result`` with the shared metadata in front; a ``machine`` dict of the result's own
    (threads, library versions) is merged into the shared one, a ``note`` of its own is kept
    when ``note`` is None."""
    meta = result_metadata(note if note is not None else result.get("note"))
    rest = {k: v for k, v in result.items() if k not in ("benchmark", "machine", "note", *meta)}
    return {"benchmark": result.get("benchmark", name), **meta,
            "machine": {**meta["machine"], **(result.get("machine") or {})}, **rest}


def add_note_argument(parser: Any) -> None:
    parser.add_argument("--note", help="free text recorded as the result's 'note', e.g. what else ran on the "
                                       "machine meanwhile (nothing is recorded when absent)")


def write_result(name: str, result: dict[str, Any], note: str | None = None) -> Path:
    """Write ``results/NAME.json``: ``result`` with the shared metadata."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(with_metadata(name, result, note), indent=2) + "\n", encoding="utf-8")
    return path


def provenance_line(payload: dict[str, Any]) -> str:
    git = payload.get("git") or {}
    commit = (git.get("commit") or "unknown")[:12] + (" + uncommitted changes" if git.get("dirty") else "")
    line = (f"Recorded {payload.get('measured_at')} at commit {commit} on {payload['machine'].get('cpu')}: "
            f"`{payload.get('command')}`")
    if payload.get("note"):
        line += f". Note: {payload['note']}"
    return line + "."


def write_report(name: str, report: dict[str, Any], markdown: str, note: str | None = None) -> Path:
    """Write ``results/NAME.json`` (the report with the shared metadata) and ``results/NAME.md``
    (``markdown`` and a provenance line); print the latter."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = with_metadata(name, report, note)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    text = markdown.rstrip("\n") + "\n\n" + provenance_line(payload) + "\n"
    (RESULTS / f"{name}.md").write_text(text, encoding="utf-8")
    print(text)
    return path


# ------------------------------------------------------------------------------------------
# texts


def read_texts(data_dir: str | Path | None) -> list[str]:
    """Field ``text`` of every line of every ``*.jsonl`` under ``data_dir`` (files by name, lines
    in order); [] when there is no such directory."""
    texts: list[str] = []
    if data_dir and Path(data_dir).is_dir():
        for path in sorted(Path(data_dir).glob("*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                texts.extend(json.loads(line)["text"] for line in handle if line.strip())
    return texts


def load_texts(data_dir: str | Path | None, limit: int | None = None, seed: int = 0) -> tuple[list[str], str]:
    """``read_texts`` shuffled with ``seed`` (the first ``limit``), else generated prompts."""
    import random

    texts, source = read_texts(data_dir), f"{data_dir}/*.jsonl"
    if not texts:
        texts, source = generated_texts(limit or 2000, seed), "generated"
    random.Random(seed).shuffle(texts)
    return (texts[:limit] if limit else texts), source


def generated_texts(count: int, seed: int = 0) -> list[str]:
    """Chat-like prompts for machines without ../shared/data: 5 to ~400 words (most under 60)
    of the synthetic RoBERTa task's filler and keywords."""
    import random

    from alignmenter_edge.export.roberta_synthetic import FILLER, SAFE_KEYWORDS, UNSAFE_KEYWORDS

    rng = random.Random(seed)
    words = FILLER + list(SAFE_KEYWORDS) + list(UNSAFE_KEYWORDS)
    out = []
    for _ in range(count):
        n = int(min(400, max(5, rng.lognormvariate(3.3, 0.9))))
        out.append(" ".join(rng.choice(words) for _ in range(n)))
    return out


# ------------------------------------------------------------------------------------------
# child processes


def _child_error(cmd: Sequence[str], code: int, stderr: str) -> RuntimeError:
    return RuntimeError(f"{' '.join(map(str, cmd[:4]))} ... exited with {code}:\n{stderr[-3000:]}")


def _last_json(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.strip() and line.strip() != READY]
    if not lines:
        raise RuntimeError("the child printed no result line")
    return json.loads(lines[-1])


def run_child_json(cmd: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` to the end; its last stdout line is its JSON result."""
    import subprocess

    done = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise _child_error(cmd, done.returncode, done.stderr)
    return _last_json(done.stdout)


def signal_ready() -> None:
    """In a child: stop the parent's from-spawn timer (``run_child_timed``) now."""
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()


def run_child_timed(cmd: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` timed from just before it is spawned: ``from_spawn_s`` is when the parent read
    the child's READY line (``signal_ready``), so interpreter start-up and every import are in it;
    ``process_wall_s`` is when the child had exited. Returns the child's last-line JSON with both."""
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.PIPE, stderr=err, env=env)
        assert proc.stdout is not None
        ready_at, out = None, []
        for raw in iter(proc.stdout.readline, b""):
            if ready_at is None and raw.rstrip(b"\r\n") == READY.encode():
                ready_at = time.perf_counter()
            else:
                out.append(raw.decode("utf-8", errors="replace"))
        code = proc.wait()
        ended = time.perf_counter()
        err.seek(0)
        stderr = err.read()
    if code != 0:
        raise _child_error(cmd, code, stderr)
    if ready_at is None:
        raise RuntimeError(f"the child never printed {READY!r}:\n{stderr[-3000:]}")
    result = _last_json("".join(out))
    result["from_spawn_s"] = ready_at - start
    result["process_wall_s"] = ended - start
    return result


# ------------------------------------------------------------------------------------------
# memory


def rss_mib() -> float:
    """Resident set size of this process now, in MiB (VmRSS of /proc/self/status)."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmRSS:"))


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss), in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mib_to_mb(mib: float) -> float:
    return mib * MIB / 1e6


def gib_to_gb(gib: float) -> float:
    return gib * GIB / 1e9
