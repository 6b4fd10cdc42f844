#!/usr/bin/env bash
# Builds the "reference 4.x with tf-keras" oracle: the last Transformers release line that still has the
# TensorFlow DistilBERT classes, in its own virtual environment (TensorFlow 2 + tf-keras, no torch: the 4.x TF
# classes read safetensors checkpoints without it). tests/parity/test_tf_reference_parity.py uses it when
# DISTILKIT_TF4_PYTHON points at its python, e.g.
#   bash tests/parity/tf4_oracle/build_venv.sh /work/tf4-venv
#   DISTILKIT_TF4_PYTHON=/work/tf4-venv/bin/python .venv/bin/python -m pytest tests/parity/test_tf_reference_parity.py
set -euo pipefail
VENV="${1:-/work/tf4-venv}"
PYTHON="${PYTHON:-python3}"
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "transformers>=4.50,<5" "tensorflow-cpu>=2.18,<2.22" "tf-keras>=2.18,<2.22" \
    "safetensors>=0.4.3,<0.6" "h5py>=3.10" "numpy<2.3"
"$VENV/bin/python" -c "import transformers, tensorflow as tf, tf_keras; print('transformers', transformers.__version__, 'tensorflow', tf.__version__, 'tf_keras', tf_keras.__version__)"
