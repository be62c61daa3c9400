"""The export stage (build machine): HF models → verified, quantized bundles.

Installed as ``alignmenter_edge.export``. Needs the ``[export]`` extra; the runtime never
imports this package.
"""
