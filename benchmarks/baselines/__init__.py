"""Reference implementations of jaxinv's algorithm in other frameworks, for benchmarks.

`torch_inversion`: the CVPR 2015 inversion (METHOD.md §1.2, §2.1) in PyTorch eager mode, the
baseline of ``benchmarks/throughput.py``. torch is imported lazily inside it.
"""
