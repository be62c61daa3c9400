"""The alignmenter drop-in, tested against the real alignmenter 0.3.5, offline.

No provider is called: alignmenter reuses the recorded transcripts of the dataset unless
``--generate-transcripts`` is passed, and its own classifier is pinned to ``heuristic`` (its
``auto`` would try to download a model from the Hugging Face Hub).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alignmenter_edge import AlignmenterEdgeError, InvalidInputError, ModelOutputError, UnknownModelError
from alignmenter_edge.alignmenter import (
    EdgeSafetyScorer,
    EdgeScorerConfigError,
    SafetyClassifierFn,
    load_safety_classifier,
    scorer_settings,
)
import alignmenter_edge.registry as registry
from alignmenter_edge.classifier import Classifier
from tests.helpers import require

require("alignmenter")
from alignmenter.providers import classifiers as alignmenter_classifiers  # noqa: E402
from alignmenter.runner import Runner, RunConfig, group_sessions, load_dataset  # noqa: E402
from alignmenter.scorers import load_custom_scorer  # noqa: E402
from alignmenter.scorers.safety import SafetyScorer  # noqa: E402

DATA = Path(__file__).parent / "data"
SESSIONS = DATA / "alignmenter_sessions.jsonl"
GUARD = DATA / "offline_guard.py"
ALIGNMENTER_DATA = Path(alignmenter_classifiers.__file__).parents[1] / "data"
KEYWORDS = ALIGNMENTER_DATA / "configs" / "safety_keywords.yaml"
PERSONA = ALIGNMENTER_DATA / "configs" / "persona" / "default.yaml"
MODEL_BUNDLES = ("tiny_roberta_bundle", "tiny_constitutional_bundle")




def assistant_texts() -> list[str]:
    rows = [json.loads(line) for line in SESSIONS.read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows if r["role"] == "assistant" and r["text"]]


class Counting:
    """Wraps a ClassifierFn and counts calls (how the README numbers are measured)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, text: str) -> float:
        self.calls += 1
        return self.fn(text)


@pytest.fixture(autouse=True)
def _fresh_scorer_cache(monkeypatch):
    from alignmenter_edge import alignmenter as module

    monkeypatch.setattr(module, "_SHARED", {})
    for env in ("ALIGNMENTER_EDGE_MODEL", "ALIGNMENTER_EDGE_THREADS", "ALIGNMENTER_EDGE_BATCH_SIZE",
                "ALIGNMENTER_EDGE_CONFIG", "ALIGNMENTER_EDGE_SCORER_ID", "ALIGNMENTER_EDGE_THRESHOLD"):
        monkeypatch.delenv(env, raising=False)


# --- load_safety_classifier ------------------------------------------------------------------

def test_signature_matches_alignmenter():
    ours = inspect.signature(load_safety_classifier)
    theirs = inspect.signature(alignmenter_classifiers.load_safety_classifier)
    assert list(ours.parameters)[0] == list(theirs.parameters)[0] == "identifier"
    extra = list(ours.parameters.values())[1:]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not p.empty for p in extra)


@pytest.mark.parametrize("identifier", ["heuristic", "HEURISTIC", " Heuristic "])
def test_heuristic_identical_to_alignmenter(identifier):
    fn = load_safety_classifier(identifier)
    texts = assistant_texts() + ["", "   ", "WHATEVER", "hack hack hack hack hack hack", "\x00attack"]
    assert [fn(t) for t in texts] == [alignmenter_classifiers._heuristic_classifier(t) for t in texts]
    assert fn("") == 1.0  # alignmenter-identical and documented: empty text scores 1.0


def test_none_is_explicit_one():
    fn = load_safety_classifier("none")
    assert fn.info.tier == "none" and fn("I will attack you") == 1.0


def test_auto_and_none_identifier_load_a_tier(data_home):
    for identifier in (None, "auto", ""):
        fn = load_safety_classifier(identifier)
        assert fn.info.tier not in ("none",)
        assert 0.0 <= fn("hello") <= 1.0


def test_unknown_identifier_raises_instead_of_silent_heuristic(data_home):
    # alignmenter returns its heuristic for any unknown identifier; we refuse.
    assert alignmenter_classifiers.load_safety_classifier("no-such-model") is \
        alignmenter_classifiers._heuristic_classifier
    with pytest.raises(UnknownModelError, match="no-such-model"):
        load_safety_classifier("no-such-model")


@pytest.mark.parametrize("identifier", ["distilled-safety-roberta", "ProtectAI/distilled-safety-roberta",
                                        "roberta-onnx"])
def test_roberta_names_without_bundle_raise(data_home, identifier):
    with pytest.raises(AlignmenterEdgeError) as info:
        load_safety_classifier(identifier)
    message = str(info.value)
    assert "pip install" in message or "export" in message  # names the fix


def test_cache_counts_and_reuses_scores():
    fn = load_safety_classifier("heuristic")
    seen = []
    original = fn.classifier.score_batch
    fn.classifier.score_batch = lambda texts: seen.append(list(texts)) or original(texts)
    assert fn("attack") == 0.8
    assert fn("attack") == 0.8
    assert fn.score_batch(["attack", "hate", "hate"]) == [0.8, 0.8, 0.8]
    assert seen == [["attack"], ["hate"]]
    assert fn.stats == {"calls": 5, "cache_hits": 3, "model_texts": 2, "model_batches": 2}


def test_cache_is_bounded():
    fn = load_safety_classifier("heuristic", cache_size=1)
    for text in ("a", "a", "b", "a"):
        fn(text)
    assert fn.stats["model_texts"] == 3  # one entry: "b" replaced "a"
    assert fn.cached == 1
    big = load_safety_classifier("heuristic", cache_size=64)
    big.score_batch([f"text {i}" for i in range(1000)])
    assert big.cached == 64
    off = load_safety_classifier("heuristic", cache_size=0)
    off("a"), off("a")
    assert off.stats["model_texts"] == 2


@pytest.mark.parametrize("cache_size", [10**8 + 1, 10**12, -1, True, 2.0])
def test_a_cache_size_out_of_range_is_a_config_error_not_a_memory_error(tmp_path, cache_size):
    """10**12 slots reached the table allocation: a bare MemoryError."""
    match = r"cache_size must be an integer >= 0 and <= 100000000"
    with pytest.raises(EdgeScorerConfigError, match=match + r", got .*"):
        load_safety_classifier("heuristic", cache_size=cache_size)
    with pytest.raises(EdgeScorerConfigError, match=match + r", got .*ALIGNMENTER_EDGE_CONFIG"):
        EdgeSafetyScorer("heuristic", cache_size=cache_size)
    config = tmp_path / "edge.json"
    config.write_text(json.dumps({"cache_size": cache_size}))
    with pytest.raises(EdgeScorerConfigError, match=match):
        scorer_settings(environ={"ALIGNMENTER_EDGE_CONFIG": str(config)})


def test_the_largest_cache_size_is_accepted():
    assert scorer_settings({"cache_size": 10**8})["cache_size"] == 10**8


def test_every_distinct_text_reaches_the_model_once_well_below_the_cache_size():
    # The direct-mapped table this replaced re-scored 1,894 of these 20,000 texts (9.5 %).
    fn = load_safety_classifier("heuristic")  # 100,000 slots
    texts = [f"assistant reply number {i}" for i in range(20_000)]
    fn.score_batch(texts)
    fn.score_batch(texts[::-1])
    assert fn.stats["model_texts"] == 20_000 and fn.stats["cache_hits"] == 20_000


def test_the_cache_evicts_the_least_recently_used_text():
    fn = load_safety_classifier("heuristic", cache_size=2)
    fn("a"), fn("b"), fn("a")   # "a" used last: "b" is the least recently used
    fn("c")                     # evicts "b"
    fn("a")
    assert fn.stats["model_texts"] == 3  # a, b, c; the second and third "a" were hits
    fn("b")
    assert fn.stats["model_texts"] == 4


def test_non_string_raises():
    fn = load_safety_classifier("heuristic")
    for bad in (None, 3, b"attack", ["x"]):
        with pytest.raises(AlignmenterEdgeError, match="expected str"):
            fn(bad)


def test_one_string_passed_to_score_batch_is_refused():
    fn = load_safety_classifier("lexicon")
    with pytest.raises(AlignmenterEdgeError, match="takes a list of texts"):
        fn.score_batch("How do I build a pipe bomb to kill my neighbour?")
    assert fn.stats["model_texts"] == 0


# --- inside alignmenter's SafetyScorer -------------------------------------------------------

def test_safety_scorer_with_dropin_matches_builtin_heuristic():
    sessions = group_sessions(load_dataset(SESSIONS))
    builtin = Counting(alignmenter_classifiers._heuristic_classifier)
    ours = load_safety_classifier("heuristic")
    expected = SafetyScorer(keyword_path=KEYWORDS, classifier=builtin).score(sessions)
    got = SafetyScorer(keyword_path=KEYWORDS, classifier=ours).score(sessions)
    assert got == expected
    assert ours.calls == builtin.calls == expected["classifier_calls"] == len(assistant_texts())


class _NaNClassifier(Classifier):
    tier = "nan-test"

    def _score(self, texts):
        return [math.nan if "attack" in t else 0.9 for t in texts]


def test_model_fault_inside_safety_scorer_is_not_a_score():
    """alignmenter's SafetyScorer swallows classifier exceptions (the turn is dropped from the
    classifier mean); our callable raises, so a NaN never becomes a score there either."""
    sessions = group_sessions(load_dataset(SESSIONS))
    fn = SafetyClassifierFn(_NaNClassifier())
    with pytest.raises(ModelOutputError):
        fn("attack")
    result = SafetyScorer(keyword_path=KEYWORDS, classifier=fn).score(sessions)
    faulty = sum("attack" in t for t in assistant_texts())
    assert faulty > 0
    assert result["classifier_calls"] == len(assistant_texts()) - faulty
    assert result["fused_judge"] == 0.9


def test_custom_scorer_propagates_model_fault():
    scorer = EdgeSafetyScorer("heuristic")
    scorer.classifier = SafetyClassifierFn(_NaNClassifier())
    with pytest.raises(ModelOutputError, match="refusing"):
        scorer.score(group_sessions(load_dataset(SESSIONS)))


# --- the custom scorer -------------------------------------------------------------------------

class _ThresholdEdgeClassifier(Classifier):
    tier = "threshold-test"
    threshold = 0.5

    def _score(self, texts):
        return [0.5 if "edge" in t else 0.25 for t in texts]


def test_custom_scorer_flags_below_the_threshold_only():
    """The rule is safety_score < threshold: a turn scoring exactly the threshold is not flagged."""
    sessions = [{"session_id": "b", "turns": [{"role": "assistant", "turn_index": 0, "text": "on the edge"},
                                              {"role": "assistant", "turn_index": 1, "text": "below it"}]}]
    scorer = EdgeSafetyScorer("heuristic")
    scorer.classifier = SafetyClassifierFn(_ThresholdEdgeClassifier())
    result = scorer.score(sessions)
    assert result["flagged"] == 1 and result["flag_rate"] == 0.5
    assert result["lowest"] == [{"session_id": "b", "turn_index": 1, "score": 0.25}]


@pytest.mark.parametrize("role", ["Assistant", " assistant ", "ASSISTANT"])
def test_custom_scorer_reads_roles_as_alignmenters_runner_does(role):
    """alignmenter's Runner takes a role as (role or "user").strip().lower(): "Assistant" turns
    are assistant turns there, so they are scored here, not skipped as if there were none."""
    sessions = [{"session_id": "r", "turns": [{"role": role, "turn_index": 0, "text": "I will attack you"},
                                              {"role": "User", "turn_index": 1, "text": "attack"}]}]
    result = EdgeSafetyScorer("heuristic").score(sessions)
    assert result["turns"] == 1 and result["score"] == pytest.approx(0.8)


def test_custom_scorer_with_nothing_scored_reports_no_rate():
    sessions = [{"session_id": "u", "turns": [{"role": "user", "turn_index": 0, "text": "attack"}]}]
    result = EdgeSafetyScorer("heuristic").score(sessions)
    assert result["turns"] == 0 and result["score"] is None and result["flag_rate"] is None


def test_custom_scorer_says_which_installed_bundle_auto_passed_over(monkeypatch, tmp_path, capsys):
    """With a model bundle installed but its runtime missing, auto scores with lexicon; the
    result and stderr say so (alignmenter shows only the scorer's result)."""
    from tests.test_registry import make_bundle

    monkeypatch.setenv("ALIGNMENTER_EDGE_HOME", str(tmp_path / "home"))
    make_bundle(tmp_path / "home" / "bundles" / "rb")
    spec = registry.TIERS["roberta-onnx"]
    monkeypatch.setitem(registry.TIERS, "roberta-onnx", registry.TierSpec(
        spec.name, spec.loader, spec.description, needs_bundle=True, extra="onnx",
        modules=("alignmenter_edge_tests_no_such_module",), strength=spec.strength))
    scorer = EdgeSafetyScorer()
    result = scorer.score([{"session_id": "n", "turns": [{"role": "assistant", "turn_index": 0, "text": "hi"}]}])
    assert result["tier"] == "lexicon"
    assert len(result["notes"]) == 1 and "auto passed over the installed roberta-onnx bundle rb" in result["notes"][0]
    assert result["notes"][0] in capsys.readouterr().err


def test_custom_scorer_loads_through_alignmenter(monkeypatch):
    monkeypatch.setenv("ALIGNMENTER_EDGE_MODEL", "heuristic")
    scorer = load_custom_scorer("alignmenter_edge.alignmenter:EdgeSafetyScorer")
    assert scorer.id == "edge_safety" and scorer.classifier.info.tier == "heuristic"


def test_custom_scorer_scores_like_builtin_and_once():
    sessions = group_sessions(load_dataset(SESSIONS))
    scorer = EdgeSafetyScorer("heuristic")
    first = scorer.score(sessions)
    builtin = SafetyScorer(keyword_path=KEYWORDS, classifier=alignmenter_classifiers._heuristic_classifier)
    expected = builtin.score(sessions)
    texts = assistant_texts()
    assert first["turns"] == expected["turns"] == len(texts)
    assert first["empty_turns"] == 1
    assert first["score"] == pytest.approx(expected["fused_judge"], abs=1e-3)
    assert first["classifier_batches"] == 1 and first["classifier_texts"] == len(set(texts))
    assert first["flagged"] == 1 and first["lowest"] == [{"session_id": "s07", "turn_index": 2, "score": 0.0}]
    again = scorer.score(sessions[:3])
    assert again["classifier_texts"] == 0 and again["cache_hits"] == again["turns"] > 0


def test_custom_scorer_non_string_text_names_the_turn():
    sessions = [{"session_id": "x", "turns": [{"role": "assistant", "turn_index": 4, "text": 12}]}]
    with pytest.raises(AlignmenterEdgeError, match=r"session 'x', turn 4: 'text' is int"):
        EdgeSafetyScorer("heuristic").score(sessions)


LONE_SURROGATE_ROW = json.loads('"bad \\ud800 reply"')  # alignmenter's read_jsonl lets it through


def test_custom_scorer_names_the_turn_whose_text_holds_a_lone_surrogate():
    """It reached the tokenizer of a model tier as a cryptic TypeError (and the heuristic gave 1.0)."""
    scorer = EdgeSafetyScorer("heuristic")
    sessions = [{"session_id": "s1", "turns": [{"role": "assistant", "turn_index": 0, "text": "fine"},
                                               {"role": "assistant", "turn_index": 3, "text": LONE_SURROGATE_ROW}]}]
    before = scorer.classifier.stats["model_texts"]
    with pytest.raises(InvalidInputError, match=r"session 's1', turn 3: text holds a lone surrogate \(invalid "
                                                r"Unicode: U\+D800 at character 4\).*Fix the dataset row"):
        scorer.score(sessions)
    assert scorer.classifier.stats["model_texts"] == before  # refused before anything was scored


@pytest.mark.parametrize("identifier", ["heuristic", "lexicon", "none"])
def test_dropin_refuses_a_lone_surrogate_instead_of_scoring_it(identifier):
    fn = load_safety_classifier(identifier)
    with pytest.raises(InvalidInputError, match=r"text holds a lone surrogate \(invalid Unicode: U\+D800 at "
                                                r"character 4\)"):
        fn(LONE_SURROGATE_ROW)
    with pytest.raises(InvalidInputError, match=r"text #1 holds a lone surrogate"):
        fn.score_batch(["fine", LONE_SURROGATE_ROW])
    assert fn.stats["model_texts"] == 0
    assert fn("fine \U0001f600") == fn.classifier("fine \U0001f600")  # a surrogate pair is one character


def test_runner_end_to_end_scores_each_text_once(tmp_path):
    """alignmenter's Python API: Runner over the recorded dataset, no provider, our scorer added.
    alignmenter reruns every scorer per scenario and persona; our model sees each text once."""
    builtin = Counting(alignmenter_classifiers._heuristic_classifier)
    edge = EdgeSafetyScorer("heuristic")
    config = RunConfig(model="openai:gpt-4o-mini", dataset_path=SESSIONS, persona_path=PERSONA,
                       report_out_dir=tmp_path)
    runner = Runner(config, [SafetyScorer(keyword_path=KEYWORDS, classifier=builtin), edge],
                    generate_transcripts=False)
    run_dir = runner.execute()
    results = json.loads((run_dir / "results.json").read_text())
    analytics = json.loads((run_dir / "analytics.json").read_text())
    texts = assistant_texts()
    assert results["scores"]["primary"]["edge_safety"]["turns"] == len(texts)
    assert edge.classifier.stats["model_texts"] == len(set(texts))
    assert edge.classifier.stats["model_batches"] == 1
    groups = [g for kind in analytics.values() for g in kind.values()]
    assert groups and all("edge_safety" in g["scores"] for g in groups)
    # alignmenter's own path called its classifier once per turn per group it appears in.
    assert builtin.calls > 2 * len(texts)
    assert builtin.calls == len(texts) + sum(g["scores"]["safety"]["classifier_calls"] for g in groups)


def _alignmenter_cli(tmp_path: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    log = tmp_path / "network.log"
    log.touch()
    full_env = {**os.environ, "ALIGNMENTER_SAFETY_CLASSIFIER": "heuristic", "HF_HUB_OFFLINE": "1",
                "OFFLINE_GUARD_ALLOW_SOCKETS": "1", "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "",
                "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
                **env}
    return subprocess.run(
        [sys.executable, str(GUARD), str(log), "alignmenter.cli:app", "run",
         "--model", "openai:gpt-4o-mini", "--dataset", str(SESSIONS), "--persona", str(PERSONA),
         "--keywords", str(KEYWORDS), "--out", str(tmp_path / "reports"),
         "--custom-scorer", "alignmenter_edge.alignmenter:EdgeSafetyScorer", *extra],
        cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_alignmenter_cli_end_to_end_offline(tmp_path):
    proc = _alignmenter_cli(tmp_path, {"ALIGNMENTER_EDGE_MODEL": "heuristic",
                                       "ALIGNMENTER_EDGE_BATCH_SIZE": "4"})
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert (tmp_path / "network.log").read_text() == ""  # nothing tried the network
    (run_dir,) = (tmp_path / "reports").iterdir()
    results = json.loads((run_dir / "results.json").read_text())["scores"]["primary"]
    edge = results["edge_safety"]
    assert edge["tier"] == "heuristic" and edge["turns"] == results["safety"]["turns"] == 15
    assert edge["score"] == pytest.approx(results["safety"]["fused_judge"], abs=1e-3)
    assert edge["classifier_texts"] == len(set(assistant_texts()))


@pytest.mark.slow
def test_alignmenter_cli_reports_bad_model_setting(tmp_path):
    proc = _alignmenter_cli(tmp_path, {"ALIGNMENTER_EDGE_MODEL": "no-such-model"})
    assert proc.returncode == 2
    output = proc.stderr + proc.stdout
    assert "no-such-model" in output and "ALIGNMENTER_EDGE_MODEL" in output
    assert "Traceback" not in output


# --- settings ------------------------------------------------------------------------------

def test_settings_precedence(tmp_path):
    config = tmp_path / "edge.yaml"
    config.write_text("model: heuristic\nthreads: 1\nbatch_size: 8\n")
    env = {"ALIGNMENTER_EDGE_CONFIG": str(config), "ALIGNMENTER_EDGE_BATCH_SIZE": "16"}
    assert scorer_settings(environ=env) == {"model": "heuristic", "threads": 1, "batch_size": 16,
                                            "cache_size": 100_000, "id": "edge_safety", "threshold": None}
    assert scorer_settings({"batch_size": 2}, environ=env)["batch_size"] == 2


@pytest.mark.parametrize("env, match", [
    ({"ALIGNMENTER_EDGE_THREADS": "two"}, "threads must be an integer"),
    ({"ALIGNMENTER_EDGE_BATCH_SIZE": "0"}, "batch_size must be an integer >= 1"),
    ({"ALIGNMENTER_EDGE_CONFIG": "/nonexistent/edge.yaml"}, "cannot read"),
])
def test_bad_settings_name_the_fix(env, match):
    with pytest.raises(EdgeScorerConfigError, match=match):
        scorer_settings(environ=env)


@pytest.mark.parametrize("content", ["model: 42\n", "model: [heuristic]\n", "model: ''\n"])
def test_config_model_must_be_a_name_or_path(tmp_path, content):
    config = tmp_path / "edge.yaml"
    config.write_text(content)
    with pytest.raises(EdgeScorerConfigError, match=r"scorer model must be a non-empty string, got .* "
                                                     r"\(set it with ALIGNMENTER_EDGE_MODEL or the scorer config\)"):
        scorer_settings(environ={"ALIGNMENTER_EDGE_CONFIG": str(config)})


@pytest.mark.parametrize("content", ["model: '   '\n", "model: \"\\t\"\n"])
def test_a_whitespace_only_config_model_is_refused_not_read_as_auto(tmp_path, content):
    config = tmp_path / "edge.yaml"
    config.write_text(content)
    with pytest.raises(EdgeScorerConfigError, match=r"scorer model must be a non-empty string, got .*ALIGNMENTER_EDGE_MODEL"):
        scorer_settings(environ={"ALIGNMENTER_EDGE_CONFIG": str(config)})


def test_a_whitespace_only_config_id_is_refused(tmp_path):
    config = tmp_path / "edge.yaml"
    config.write_text("id: '  '\n")
    with pytest.raises(EdgeScorerConfigError, match=r"scorer id must be a non-empty string, got '  '.*"
                                                     r"ALIGNMENTER_EDGE_SCORER_ID"):
        scorer_settings(environ={"ALIGNMENTER_EDGE_CONFIG": str(config)})


def test_config_values_are_stripped(tmp_path):
    config = tmp_path / "edge.yaml"
    config.write_text("model: ' heuristic '\nid: ' mine '\n")
    settings = scorer_settings(environ={"ALIGNMENTER_EDGE_CONFIG": str(config)})
    assert settings["model"] == "heuristic" and settings["id"] == "mine"


@pytest.mark.parametrize("spelling", ["None", "NONE", "nOne"])
def test_only_none_in_lower_case_disables_classification_from_config_or_environment(tmp_path, spelling):
    """YAML reads `model: None` as the string 'None': it loaded the none tier, every turn 1.0."""
    config = tmp_path / "edge.yaml"
    config.write_text(f"model: {spelling}\n")
    match = rf"scorer model '{spelling}' would disable classification \(every text scores 1\.0\); write none"
    with pytest.raises(EdgeScorerConfigError, match=match):
        scorer_settings(environ={"ALIGNMENTER_EDGE_CONFIG": str(config)})
    with pytest.raises(EdgeScorerConfigError, match=match + ".*ALIGNMENTER_EDGE_MODEL"):
        EdgeSafetyScorer(spelling)
    with pytest.raises(EdgeScorerConfigError, match=match):
        scorer_settings(environ={"ALIGNMENTER_EDGE_MODEL": spelling})
    assert scorer_settings(environ={"ALIGNMENTER_EDGE_MODEL": " none "})["model"] == "none"
    assert scorer_settings({"model": Path(spelling)})["model"] == spelling  # a Path is a directory path
    assert load_safety_classifier(spelling).info.tier == "none"  # alignmenter's loader lower-cases too
    assert alignmenter_classifiers.load_safety_classifier(spelling)("attack") == 1.0


def test_config_file_unknown_key(tmp_path):
    config = tmp_path / "edge.json"
    config.write_text(json.dumps({"model": "heuristic", "treads": 2}))
    with pytest.raises(EdgeScorerConfigError, match="unknown setting.*treads"):
        scorer_settings(environ={"ALIGNMENTER_EDGE_CONFIG": str(config)})


def test_threshold_setting_precedence(tmp_path):
    config = tmp_path / "edge.yaml"
    config.write_text("model: heuristic\nthreshold: 0.7\n")
    env = {"ALIGNMENTER_EDGE_CONFIG": str(config)}
    assert scorer_settings(environ=env)["threshold"] == 0.7
    assert scorer_settings(environ={**env, "ALIGNMENTER_EDGE_THRESHOLD": " 0.35 "})["threshold"] == 0.35
    assert scorer_settings({"threshold": 0.2}, environ=env)["threshold"] == 0.2


@pytest.mark.parametrize("value", ["0", "nan", "1.5", "high"])
def test_bad_threshold_in_the_environment_names_the_fix(value):
    with pytest.raises(EdgeScorerConfigError, match=r"threshold must be a finite number in \(0, 1\].*"
                                                     r"ALIGNMENTER_EDGE_THRESHOLD or the scorer config"):
        scorer_settings(environ={"ALIGNMENTER_EDGE_THRESHOLD": value})


@pytest.mark.parametrize("value", [0, -1, 2, True, "none", [0.3]])
def test_bad_threshold_in_the_config_names_the_fix(tmp_path, value):
    config = tmp_path / "edge.json"
    config.write_text(json.dumps({"threshold": value}))
    with pytest.raises(EdgeScorerConfigError, match=r"threshold must be a finite number in \(0, 1\]"):
        scorer_settings(environ={"ALIGNMENTER_EDGE_CONFIG": str(config)})


def test_custom_scorer_flags_below_its_threshold_setting(monkeypatch):
    """The setting moves the flagging cut-off; the scores, and the model's own threshold, stay."""
    sessions = [{"session_id": "b", "turns": [{"role": "assistant", "turn_index": 0, "text": "on the edge"},
                                              {"role": "assistant", "turn_index": 1, "text": "below it"}]}]
    monkeypatch.setenv("ALIGNMENTER_EDGE_THRESHOLD", "0.6")
    scorer = EdgeSafetyScorer("heuristic")
    scorer.classifier = SafetyClassifierFn(_ThresholdEdgeClassifier())
    result = scorer.score(sessions)
    assert result["flagged"] == 2 and result["threshold"] == 0.6 and result["model_threshold"] == 0.5
    assert [t["score"] for t in result["lowest"]] == [0.25, 0.5]
    scorer = EdgeSafetyScorer("heuristic", threshold=0.3)  # the constructor's beats the environment's
    scorer.classifier = SafetyClassifierFn(_ThresholdEdgeClassifier())
    assert scorer.score(sessions)["flagged"] == 1


def test_scorer_id_override_replaces_safety_card(monkeypatch):
    monkeypatch.setenv("ALIGNMENTER_EDGE_SCORER_ID", "safety")
    assert EdgeSafetyScorer("heuristic").id == "safety"


@pytest.mark.parametrize("scorer_id", ["stability", "authenticity", "grounding", "faithfulness"])
def test_scorer_id_of_another_builtin_scorer_is_refused(monkeypatch, scorer_id):
    """alignmenter stores results by scorer id: ours would replace that scorer's result and its
    threshold gate would no longer see it (a failing run would pass)."""
    monkeypatch.setenv("ALIGNMENTER_EDGE_SCORER_ID", scorer_id)
    with pytest.raises(EdgeScorerConfigError, match=rf"scorer id '{scorer_id}' is the id of alignmenter's "
                                                     rf"built-in {scorer_id} scorer.*ALIGNMENTER_EDGE_SCORER_ID"):
        EdgeSafetyScorer("heuristic")
    monkeypatch.delenv("ALIGNMENTER_EDGE_SCORER_ID")
    with pytest.raises(EdgeScorerConfigError, match="ALIGNMENTER_EDGE_SCORER_ID"):
        EdgeSafetyScorer("heuristic", id=scorer_id)


@pytest.mark.parametrize("scorer_id", ["edge_safety", "safety", "my_edge", "Stability"])
def test_scorer_ids_that_replace_no_other_builtin_are_accepted(monkeypatch, scorer_id):
    monkeypatch.setenv("ALIGNMENTER_EDGE_SCORER_ID", scorer_id)
    assert EdgeSafetyScorer("heuristic").id == scorer_id


def test_the_refused_scorer_ids_are_alignmenters_builtin_scorers_but_safety():
    import importlib
    import pkgutil

    import alignmenter.scorers
    from alignmenter_edge.alignmenter import OTHER_BUILTIN_SCORER_IDS

    ids = set()
    for module in pkgutil.iter_modules(alignmenter.scorers.__path__):
        for value in vars(importlib.import_module(f"alignmenter.scorers.{module.name}")).values():
            if isinstance(value, type) and value.__module__.startswith("alignmenter.scorers.") \
                    and isinstance(getattr(value, "id", None), str):
                ids.add(value.id)
    assert OTHER_BUILTIN_SCORER_IDS == ids - {"safety"}


def test_a_run_with_a_refused_scorer_id_fails_to_start_instead_of_hiding_a_gate(tmp_path, monkeypatch):
    """The reviewer's case: a failing stability gate vanished from results.json."""
    monkeypatch.setenv("ALIGNMENTER_EDGE_SCORER_ID", "stability")
    with pytest.raises(EdgeScorerConfigError):
        load_custom_scorer("alignmenter_edge.alignmenter:EdgeSafetyScorer")


def test_compare_runs_share_one_model():
    assert EdgeSafetyScorer("heuristic").classifier is EdgeSafetyScorer("heuristic").classifier


# --- model tiers (tiny real-architecture bundles from the fixtures) ----------------------------

# With default settings every tier is batch-invariant (int8 RoBERTa runs one window per call by
# default, see tiers/roberta_onnx.py), so the drop-in's cached single calls equal one batch call.
DROPIN_BUNDLES = ("tiny_roberta_bundle", "tiny_roberta_bundle_fp32", "tiny_constitutional_bundle")


@pytest.mark.parametrize("fixture", DROPIN_BUNDLES)
def test_model_bundle_dropin_and_scorer(request, fixture, tmp_path):
    bundle = request.getfixturevalue(fixture)
    fn = load_safety_classifier(bundle)
    texts = assistant_texts()
    direct = fn.classifier.score_batch(texts)
    assert [fn(t) for t in texts] == pytest.approx(direct, abs=1e-5)
    sessions = group_sessions(load_dataset(SESSIONS))
    scorer = EdgeSafetyScorer(bundle)
    result = scorer.score(sessions)
    assert result["tier"] == fn.info.tier and result["bundle_digest"] == fn.info.bundle_digest
    assert result["score"] == pytest.approx(sum(direct) / len(direct), abs=1e-3)
    assert result["classifier_texts"] == len(set(texts))
    in_safety_scorer = SafetyScorer(keyword_path=KEYWORDS, classifier=fn).score(sessions)
    assert in_safety_scorer["classifier_calls"] == len(texts)
    assert fn.stats["model_texts"] == len(set(texts))  # alignmenter's calls were cache hits
    # a lone surrogate reached the model tiers' tokenizers: TypeError: TextEncodeInput must be ...
    with pytest.raises(InvalidInputError, match="text holds a lone surrogate"):
        fn(LONE_SURROGATE_ROW)
    bad = [{"session_id": "s", "turns": [{"role": "assistant", "turn_index": 1, "text": LONE_SURROGATE_ROW}]}]
    with pytest.raises(InvalidInputError, match="session 's', turn 1: text holds a lone surrogate"):
        scorer.score(bad)
