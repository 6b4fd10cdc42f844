"""Runs inside the reference-4.x venv (see build_venv.sh), never inside distilkit's: loads a folder with the
reference's last TensorFlow classes (`TFDistilBert*`, tf-keras), runs them on given inputs and saves what they
return, then saves the model its own way (`tf_model.h5`) for distilkit to load.

    python oracle.py JOB_DIR
JOB_DIR/job.json: {"cases": [{"name", "class", "source", "inputs": npz file, "labels": {name: npz key}}]};
writes JOB_DIR/<name>.npz (outputs: logits, loss, hidden_states_i, attentions_i) and JOB_DIR/<name>-saved/.
Also writes JOB_DIR/whole-model.h5: a whole tf-keras model with a Lambda layer (what distilkit must refuse).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "1"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
import transformers  # noqa: E402


def load_pytorch_folder(model_class, folder: str):
    """A folder of PyTorch-layout safetensors through the reference's own PT -> TF conversion. (4.57's
    `from_pretrained` on such a folder iterates over a `safe_open` handle and fails with every safetensors
    release, and `from_pt=True` needs torch, so the state dict is read here and handed to the same function.)"""
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    model = model_class(transformers.AutoConfig.from_pretrained(folder))
    state = load_file(os.path.join(folder, "model.safetensors"))
    return load_pytorch_state_dict_in_tf2_model(model, state, tf_inputs=model.dummy_inputs,
                                                allow_missing_keys=False)


def main(job_dir: str) -> None:
    job = json.load(open(os.path.join(job_dir, "job.json")))
    for case in job["cases"]:
        model_class = getattr(transformers, case["class"])
        model = load_pytorch_folder(model_class, case["source"])
        arrays = dict(np.load(os.path.join(job_dir, case["inputs"])))
        inputs = {key: tf.constant(arrays[key]) for key in ("input_ids", "attention_mask")}
        for name, key in case.get("labels", {}).items():
            inputs[name] = tf.constant(arrays[key])
        output = model(inputs, output_hidden_states=True, output_attentions=True, training=False)
        result = {}
        for key, value in output.items():
            if isinstance(value, tuple):
                result.update({f"{key}_{index}": item.numpy() for index, item in enumerate(value)})
            else:
                result[key] = value.numpy()
        np.savez(os.path.join(job_dir, case["name"] + ".npz"), **result)
        model.save_pretrained(os.path.join(job_dir, case["name"] + "-saved"))
    whole = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Lambda(lambda x: x * 2.0),
                                 tf_keras.layers.Dense(2)])
    whole.save(os.path.join(job_dir, "whole-model.h5"))


if __name__ == "__main__":
    main(sys.argv[1])
