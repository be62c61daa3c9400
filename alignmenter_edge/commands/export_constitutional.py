"""``alignmenter-edge export constitutional BASE --adapter ADAPTER -o BUNDLE [--quant Q4_K_M]``.

Merges a Qwen3 LoRA into its base, writes a GGUF, checks F32 parity against the unmerged model,
quantizes with llama.cpp and writes a ``constitutional-gguf`` bundle. torch is imported only
when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..bundle import licence_summary


def add_parser(kinds: argparse._SubParsersAction) -> None:
    parser = kinds.add_parser(
        "constitutional",
        help="Qwen3 + LoRA → merged, quantized GGUF bundle (needs [export] and [gguf])",
        description="Merge a Qwen3 LoRA safety classifier into its base model, convert it to GGUF, "
                    "verify F32 parity against the unmerged PyTorch model (label logits within "
                    "1e-4, else the export fails), quantize with llama.cpp and write a bundle.")
    parser.add_argument("base", help="base model: local directory or hub id (e.g. Qwen/Qwen3-1.7B)")
    parser.add_argument("--adapter", required=True,
                        help="PEFT LoRA adapter: local directory or hub id "
                             "(e.g. imadreamerboy/constitutional-safety-classifier)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="bundle directory to write")
    parser.add_argument("--quant", default=None,
                        help="Q4_K_M (spec default), Q8_0, F16, F32 or any llama.cpp type name")
    parser.add_argument("--spec", default="constitutional-safety-classifier",
                        help="model spec name or YAML path (template, labels, limits)")
    parser.add_argument("--constitution", type=Path, default=None,
                        help="constitution text file replacing the spec's default")
    parser.add_argument("--probes", default=None,
                        help="parity probe texts: a file with one text per line, or JSONL with 'text' "
                             "(default: the built-in probes)")
    parser.add_argument("--model-id", default=None,
                        help="model id recorded in the manifest (default: the adapter's id or directory name)")
    parser.add_argument("--base-revision", default=None, help="pin the base model revision")
    parser.add_argument("--adapter-revision", default=None, help="pin the adapter revision")
    parser.add_argument("--allow-base-mismatch", action="store_true",
                        help="export even when the adapter's adapter_config.json names another hub "
                             "base model than BASE (a mirror or re-upload of the same weights)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="F32 parity tolerance on label logits (default from spec: 1e-4)")
    parser.add_argument("--download", action="store_true",
                        help="fetch hub ids missing from the local Hugging Face cache (default: no "
                             "network access at all)")
    parser.add_argument("--quantized-tolerance", type=float, default=None, metavar="P",
                        help="largest |Δ P(unsafe)| the quantized model may show on any probe against "
                             "the unmerged reference, or the export fails (default 0.25)")
    parser.add_argument("--threads", type=int, default=None, help="threads for llama.cpp")
    parser.add_argument("--force", action="store_true",
                        help="replace the bundle in OUTPUT (only a directory whose manifest.json is an "
                             "alignmenter-edge bundle manifest listing every file in it; nothing else is deleted)")
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export.constitutional import export_constitutional
    from ..export.probes import read_probe_file
    from ..export.quiet import export_progress

    constitution = args.constitution.read_text(encoding="utf-8") if args.constitution else None
    probes = read_probe_file(args.probes) if args.probes else None
    with export_progress(args.quiet) as progress:
        manifest = export_constitutional(
            args.base, args.adapter, args.output, quant=args.quant, spec=args.spec,
            constitution=constitution, probes=probes, base_revision=args.base_revision,
            adapter_revision=args.adapter_revision, tolerance=args.tolerance, threads=args.threads,
            force=args.force, download=args.download, model_id=args.model_id,
            quantized_tolerance=args.quantized_tolerance,
            allow_base_mismatch=args.allow_base_mismatch, progress=progress)
    f32 = manifest.parity["f32_gguf"]
    print(f"{args.output}: {manifest.quantization} bundle, F32 parity max |Δ logit| "
          f"{f32['max_abs_diff_label_logits']:.2e}; licence {licence_summary(manifest.sources)}")
    return 0
