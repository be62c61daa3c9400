"""``alignmenter-edge export roberta SOURCE -o BUNDLE``: RoBERTa classifier → roberta-onnx bundle.

Only argument parsing lives here; the export (torch, transformers, onnx) is imported when it runs.
"""

from __future__ import annotations

import argparse

from ..bundle import licence_summary


def add_parser(kinds: argparse._SubParsersAction) -> None:
    parser = kinds.add_parser(
        "roberta", help="RoBERTa sequence classifier → int8 ONNX bundle (roberta-onnx tier)",
        description="Export a RoBERTa safety classifier (local HF directory, or a hub id from the "
                    "local cache; --download to fetch) to ONNX, fuse, quantize to dynamic int8 "
                    "and write a verified bundle with parity figures in its manifest.")
    parser.add_argument("source", nargs="?", default=None,
                        help="local HF model directory or hub id (default: the spec's source id)")
    parser.add_argument("-o", "--output", required=True, help="bundle directory to create")
    parser.add_argument("--quantize", choices=("int8", "none"), default="int8",
                        help="int8: dynamic int8 with signed weights (default); none: fp32 only")
    parser.add_argument("--spec", default="distilled-safety-roberta",
                        help="model spec name or YAML path (default: distilled-safety-roberta)")
    parser.add_argument("--revision", default=None, help="hub revision (commit sha, tag, branch)")
    parser.add_argument("--unsafe-index", type=int, default=None,
                        help="output index meaning unsafe (default: from the spec)")
    parser.add_argument("--max-length", type=int, default=None,
                        help="tokens per window, at most the model's limit (default: 512)")
    parser.add_argument("--model-id", default=None, help="model id recorded in the manifest")
    parser.add_argument("--probes", default=None,
                        help="parity probe texts: a file with one text per line, or JSONL with 'text'")
    parser.add_argument("--download", action="store_true",
                        help="allow fetching SOURCE from the Hugging Face hub (off by default)")
    parser.add_argument("--quantized-tolerance", type=float, default=None, metavar="P",
                        help="largest |Δ P(unsafe)| the int8 model may show on any probe against "
                             "PyTorch, or the export fails (default 0.25)")
    parser.add_argument("--force", action="store_true",
                        help="replace the bundle in OUTPUT (only a directory whose manifest.json is an "
                             "alignmenter-edge bundle manifest listing every file in it; nothing else is deleted)")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the final summary (which repeats any label warning)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export.probes import read_probe_file
    from ..export.quiet import export_progress
    from ..export.roberta import export_roberta  # heavy imports only when exporting

    with export_progress(args.quiet) as progress:
        manifest = export_roberta(
            args.source, args.output, spec=args.spec, quantize=args.quantize, revision=args.revision,
            unsafe_index=args.unsafe_index, max_length=args.max_length, download=args.download,
            model_id=args.model_id, probes=read_probe_file(args.probes) if args.probes else None,
            force=args.force, quantized_tolerance=args.quantized_tolerance, progress=progress)
    parity = manifest.parity
    label_warning = manifest.extra.get("label_warning")
    print(f"wrote {args.output}: {manifest.quantization}, "
          f"fp32 max |Δ logit| {parity['fp32']['max_abs_diff_logit']:.2g}"
          + (f", int8 label agreement {parity['int8']['label_agreement']:.3f}"
             if "int8" in parity else "")
          + f"; licence {licence_summary(manifest.sources)}"
          + (f"; WARNING: {label_warning}" if label_warning else ""))
    return 0
