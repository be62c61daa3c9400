"""Classifier calls and time: alignmenter's built-in safety path vs the alignmenter-edge drop-in.

    flock /tmp/alignmenter-bench.lock python benchmarks/alignmenter_calls.py \
        [--sessions 100] [--hf-model DIR --bundle DIR] [--data ../shared/data]

Runs alignmenter 0.3.5's own ``Runner`` (Python API) on a recorded session dataset — no provider
is called — with only the safety scorers, so the run time is the safety path plus alignmenter's
fixed run overhead (database, reports). alignmenter reruns every scorer for each scenario tag and
each persona (its analytics breakdowns); that is where its repeated classifier calls come from.
Every classifier is wrapped to count calls and the time spent inside it.

Paths:
* ``builtin-heuristic``: ``SafetyScorer`` with alignmenter's own heuristic;
* ``edge-heuristic``: ``EdgeSafetyScorer`` on our heuristic tier (the built-in classifier "none");
* ``builtin-transformers``: alignmenter's ``distilled-safety-roberta`` loader (transformers
  pipeline, one text per call), pointed at ``--hf-model`` (the model it names is not on the Hub);
* ``dropin-onnx``: ``SafetyScorer(classifier=load_safety_classifier(bundle))`` — alignmenter calls
  it per turn, our cache sends each distinct text to the model once;
* ``edge-onnx``: ``EdgeSafetyScorer`` on the bundle — every assistant turn in length-sorted
  batches, once.

``--hf-model``/``--bundle`` default to the tiny trained test model built by
benchmarks/memory_over_time.py under benchmarks/work/memory/ (the same weights in both formats).
Dataset: sessions of 2 user + 2 assistant turns, assistant texts drawn (distinct) from
../shared/data, 4 scenario tags, 2 personas; written to benchmarks/work/alignmenter/.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import add_note_argument, load_texts, write_result  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "alignmenter"
TINY = ROOT / "benchmarks" / "work" / "memory"


class Counted:
    """Wraps a text → float classifier: counts calls, time inside, exceptions."""

    def __init__(self, fn: Callable[[str], float]) -> None:
        self.fn, self.calls, self.seconds = fn, 0, 0.0

    def __call__(self, text: str) -> float:
        self.calls += 1
        start = time.perf_counter()
        try:
            return self.fn(text)
        finally:
            self.seconds += time.perf_counter() - start


def build_dataset(path: Path, sessions: int, data: str, seed: int = 0) -> dict[str, Any]:
    texts, source = load_texts(data, seed=seed)
    texts = list(dict.fromkeys(t for t in texts if t.strip()))
    rng = random.Random(seed)
    scenarios = ["scenario:support", "scenario:harmful_request", "scenario:smalltalk", "scenario:policy"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for s in range(sessions):
            tags = [scenarios[s % 4]]
            persona = "persona_a" if s % 2 else "persona_b"
            for turn in range(1, 5):
                role = "user" if turn % 2 else "assistant"
                text = texts[(2 * s + turn // 2) % len(texts)] if role == "assistant" else \
                    rng.choice(["Can you help?", "Go on.", "Tell me more.", "Why?"])
                f.write(json.dumps({"session_id": f"s{s:04d}", "turn_index": turn, "role": role,
                                    "text": text, "tags": tags, "persona_id": persona},
                                   ensure_ascii=False) + "\n")
    assistant = [t for s in range(sessions) for t in (texts[(2 * s + 1) % len(texts)], texts[(2 * s + 2) % len(texts)])]
    return {"path": str(path.relative_to(ROOT)), "sessions": sessions, "assistant_turns": 2 * sessions,
            "distinct_assistant_texts": len(set(assistant)), "text_source": source,
            "mean_assistant_chars": round(sum(map(len, assistant)) / len(assistant), 1)}


def run_alignmenter(dataset: Path, scorers: list) -> tuple[float, dict]:
    from alignmenter.runner import Runner, RunConfig
    from alignmenter.providers.classifiers import __file__ as classifiers_file

    persona = Path(classifiers_file).parents[1] / "data" / "configs" / "persona" / "default.yaml"
    config = RunConfig(model="openai:gpt-4o-mini", dataset_path=dataset, persona_path=persona,
                       report_out_dir=WORK / "runs")
    runner = Runner(config, scorers, generate_transcripts=False)
    start = time.perf_counter()
    run_dir = runner.execute()
    seconds = time.perf_counter() - start
    return seconds, json.loads((run_dir / "results.json").read_text())["scores"]["primary"]


def transformers_classifier(hf_model: Path) -> tuple[Callable[[str], float], dict]:
    """alignmenter's own distilled-safety-roberta closure, with its pipeline on a local model."""
    from alignmenter.providers import classifiers
    import transformers

    failures = {"exceptions": 0}

    def local_pipeline(task: str, model: str) -> Any:
        pipe = transformers.pipeline(task, model=str(hf_model), device="cpu")

        def counted(text: str) -> Any:
            try:
                return pipe(text)
            except Exception:
                failures["exceptions"] += 1  # alignmenter then returns 1.0: fails open
                raise
        return counted

    classifiers._load_distilled_roberta.cache_clear()
    original = classifiers.pipeline
    classifiers.pipeline = local_pipeline
    try:
        fn = classifiers._load_distilled_roberta()
    finally:
        classifiers.pipeline = original
        classifiers._load_distilled_roberta.cache_clear()
    assert fn is not None, "alignmenter's loader could not load the local model"
    return fn, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--hf-model", default=str(TINY / "tiny-roberta-hf"))
    parser.add_argument("--bundle", default=str(TINY / "tiny-roberta-int8"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="alignmenter_calls")
    add_note_argument(parser)
    args = parser.parse_args()

    import torch
    from alignmenter.providers import classifiers
    from alignmenter.scorers.safety import SafetyScorer

    from alignmenter_edge.alignmenter import EdgeSafetyScorer, load_safety_classifier

    torch.set_num_threads(args.threads)
    keywords = Path(classifiers.__file__).parents[1] / "data" / "configs" / "safety_keywords.yaml"
    dataset = WORK / f"sessions-{args.sessions}.jsonl"
    data_info = build_dataset(dataset, args.sessions, args.data)
    paths: dict[str, dict[str, Any]] = {}

    def builtin(name: str, fn: Callable[[str], float], **extra: Any) -> None:
        counted = Counted(fn)
        seconds, scores = run_alignmenter(dataset, [SafetyScorer(keyword_path=keywords, classifier=counted)])
        paths[name] = {"run_seconds": round(seconds, 3), "classifier_calls": counted.calls,
                       "model_texts": counted.calls, "classifier_seconds": round(counted.seconds, 3),
                       "safety_score": scores["safety"]["score"], "classifier_mean": scores["safety"]["fused_judge"],
                       **extra}

    def edge(name: str, model: str) -> None:
        none = Counted(classifiers.load_safety_classifier("none"))
        scorer = EdgeSafetyScorer(model, threads=args.threads)
        stats0 = dict(scorer.classifier.stats)
        inner = scorer.classifier.classifier
        timed = {"seconds": 0.0}
        original = inner.score_batch

        def score_batch(texts):
            start = time.perf_counter()
            try:
                return original(texts)
            finally:
                timed["seconds"] += time.perf_counter() - start
        inner.score_batch = score_batch
        seconds, scores = run_alignmenter(dataset, [SafetyScorer(keyword_path=keywords, classifier=none), scorer])
        stats = {k: v - stats0[k] for k, v in scorer.classifier.stats.items()}
        paths[name] = {"run_seconds": round(seconds, 3), "classifier_calls": stats["model_batches"],
                       "model_texts": stats["model_texts"], "cache_hits": stats["cache_hits"],
                       "classifier_seconds": round(timed["seconds"], 3),
                       "edge_score": scores[scorer.id]["score"], "tier": scores[scorer.id]["tier"],
                       "builtin_classifier_calls_with_none": none.calls}
        scorer.close()

    builtin("builtin-heuristic", classifiers._heuristic_classifier)
    edge("edge-heuristic", "heuristic")
    hf_model, bundle = Path(args.hf_model), Path(args.bundle)
    if hf_model.is_dir() and bundle.is_dir():
        fn, failures = transformers_classifier(hf_model)
        builtin("builtin-transformers", fn, model=str(hf_model.relative_to(ROOT)) if hf_model.is_relative_to(ROOT) else str(hf_model))
        paths["builtin-transformers"]["failed_open_exceptions"] = failures["exceptions"]
        dropin = load_safety_classifier(bundle, threads=args.threads)
        builtin("dropin-onnx", dropin)
        paths["dropin-onnx"].update(model_texts=dropin.stats["model_texts"],
                                    model_batches=dropin.stats["model_batches"],
                                    cache_hits=dropin.stats["cache_hits"])
        edge("edge-onnx", str(bundle))
    turns = data_info["assistant_turns"]
    for result in paths.values():
        result["classifier_calls_per_turn"] = round(result["classifier_calls"] / turns, 3)
        result["model_texts_per_turn"] = round(result["model_texts"] / turns, 3)
    path = write_result(args.name, {"dataset": data_info, "threads": args.threads,
                                    "models": {"hf": args.hf_model, "bundle": args.bundle},
                                    "paths": paths}, note=args.note)
    for name, result in paths.items():
        print(f"{name:22} calls {result['classifier_calls']:6} model texts {result['model_texts']:6} "
              f"in-classifier {result['classifier_seconds']:8.3f} s  run {result['run_seconds']:8.3f} s")
    print(path)


if __name__ == "__main__":
    main()
