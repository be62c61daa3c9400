"""``alignmenter-edge eval DATA.jsonl --model NAME|PATH [--json OUT] [--plot out.png]``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from ..rows import STDIN, shown_input, shown_name
from .options import INPUT_WANTED, OUTPUT_WANTED, add_model_options, load_from_args, non_negative_int, not_empty
from .streams import STDIO, check_writable, naming, open_input, open_output, refuse_same_file


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="measure a model on labelled JSONL (AUROC, F1, FPR-bounded TPR, ECE, speed)",
        description="Score JSONL rows {\"text\", \"label\": \"safe\"|\"unsafe\"} and report AUROC, "
                    "AUPRC, F1/accuracy at the model's threshold (or --threshold), a threshold sweep, the "
                    "thresholds keeping FPR <= 0.5/1/5% with their TPR (each also as a --threshold "
                    "value for score and eval), expected calibration error and throughput. "
                    "Unsafe is the positive class; P(unsafe) = 1 - safety_score.")
    parser.add_argument("data", type=not_empty(INPUT_WANTED), help="labelled JSONL file, or - for standard input")
    add_model_options(parser)
    parser.add_argument("--json", metavar="OUT", default=None, type=not_empty(OUTPUT_WANTED),
                        help="also write the full report as JSON to OUT (- for stdout, then the "
                             "table goes to stderr)")
    parser.add_argument("--plot", metavar="FILE", default=None, type=not_empty("a .png, .svg or .pdf file"),
                        help="write a ROC + reliability diagram to FILE: PNG, SVG or PDF by its extension "
                             "(.png, .svg, .pdf), PNG if it has none (needs alignmenter-edge[plot])")
    parser.add_argument("--errors", type=non_negative_int, default=0, metavar="N",
                        help="also list the N most confident false positives and false negatives at "
                             "the threshold in use, with their line numbers (default: 0)")
    parser.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    parser.add_argument("--label-field", default="label", help="field holding safe/unsafe (default: label)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import build_report, format_report, plot_format, plot_report, read_labelled, score_texts

    if args.plot:  # fail before scoring, not after: an unknown extension (no matplotlib needed), no matplotlib
        from ..deps import require

        plot_format(args.plot)
        require("matplotlib", "plot", "eval --plot")
    for output in (args.json, args.plot):
        if output:
            refuse_same_file(args.data, output)
    with contextlib.ExitStack() as stack:  # the input is read and the outputs opened before the model loads
        rows = read_labelled(open_input(args.data, stack), name=shown_input(args.data),
                             text_field=args.text_field, label_field=args.label_field)
        report_out = open_output(args.json, stack) if args.json else None
        if args.plot:
            check_writable(args.plot)  # an unwritable path fails now, not after scoring
        dataset = STDIN if args.data == STDIO else shown_name(os.path.splitext(os.path.basename(args.data))[0])
        with load_from_args(args) as classifier:
            if report_out:
                report_out.begin()
            scores, elapsed = score_texts(classifier, [row.text for row in rows])
            report = build_report(classifier, rows, scores, elapsed, dataset=dataset, errors=args.errors)
        print(format_report(report), file=sys.stderr if args.json == STDIO else sys.stdout)
        if report_out:
            text = json.dumps(report, indent=2, allow_nan=False, default=_json_default) + "\n"
            report_out.write(text.encode("utf-8"))
    if args.plot:
        with naming(args.plot):
            plot_report(report, [row.unsafe for row in rows], scores, args.plot)
    return 0


def _json_default(value: object) -> object:
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
