"""Shared benchmark plumbing: machine description, text loading, result files."""

from __future__ import annotations

import json
import os
import platform
import random
import resource
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo with its family and model numbers, which tell
    CPU generations apart where the name does not ("AMD EPYC (family 26, model 2)"); "" where
    there is no /proc/cpuinfo."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    fields: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            break  # the first processor is enough
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name", "")
    if name and "cpu family" in fields and "model" in fields:
        return f"{name} (family {fields['cpu family']}, model {fields['model']})"
    return name


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    from alignmenter_edge.system import cpu_features, physical_cores, usable_cpus

    return {"cpu": cpu_model(), "usable_cpus": usable_cpus(), "physical_cores": physical_cores(),
            "cpu_features": cpu_features(), "python": platform.python_version(),
            "platform": platform.platform(), "load_average": os.getloadavg(),
            "note": "2-core machine shared with other work; compare ratios within one run"}


def load_texts(data_dir: str | None, limit: int | None = None, seed: int = 0) -> tuple[list[str], str]:
    """Texts from every *.jsonl under ``data_dir`` (field ``text``), else generated prompts."""
    texts: list[str] = []
    if data_dir and Path(data_dir).is_dir():
        for path in sorted(Path(data_dir).glob("*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                texts.extend(json.loads(line)["text"] for line in handle if line.strip())
        source = f"{data_dir}/*.jsonl"
    if not texts:
        texts, source = generated_texts(limit or 2000, seed), "generated"
    random.Random(seed).shuffle(texts)
    return (texts[:limit] if limit else texts), source


def generated_texts(count: int, seed: int = 0) -> list[str]:
    """Chat-like prompts of 5–120 words, for machines without ../shared/data."""
    rng = random.Random(seed)
    vocab = ("how do i make a safe plan for the trip to attack this bug in my python code tonight "
             "please explain why the weather is cold and what hack helps with violence in movies "
             "write a story about friendship hate speech moderation policy recipe bread").split()
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(5, 120))) for _ in range(count)]


def rss_mb() -> float:
    """Resident set size of this process now, in MB (Linux /proc)."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmRSS:"))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``results/NAME.json`` with a timestamp and the machine description."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(), **result}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def write_report(name: str, report: dict[str, Any], markdown: str) -> None:
    """Write ``results/NAME.json`` (the report as given) and ``results/NAME.md``, print the latter."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)
