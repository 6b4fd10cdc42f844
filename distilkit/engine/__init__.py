"""The inference engine under the pipelines: one compute section per process with a thread count
(`runtime.py`), and the ONNX export / ONNX Runtime backend (`onnx.py`, extra `distilkit[onnx]`). Packed execution
and int8 layers are properties of the model itself (`modeling/packing.py`, `modeling/quantization.py`).
"""
