"""`make demo`: the "under the hood" walk on a small randomly initialised model.

Builds a DistilBERT classifier from a config, prints its module tree and parameter count, runs a forward pass with
a padded batch, turns logits into probabilities and a loss, saves the model and reloads it, and checks that the
reloaded model gives the same logits. The pipelines issue replaces this with sentiment analysis on the default model.
"""

import tempfile

import torch

from distilkit import DistilBertConfig, DistilBertForSequenceClassification


def main() -> None:
    torch.manual_seed(0)
    config = DistilBertConfig(n_layers=2, dim=64, n_heads=4, hidden_dim=256,
                              id2label={0: "NEGATIVE", 1: "POSITIVE"})
    model = DistilBertForSequenceClassification(config).eval()
    print(model)
    print(f"parameters: {model.num_parameters():,}")

    input_ids = torch.tensor([[101, 7592, 2088, 999, 102], [101, 7592, 102, 0, 0]])
    attention_mask = (input_ids != 0).long()
    with torch.no_grad():
        output = model(input_ids=input_ids, attention_mask=attention_mask, labels=torch.tensor([1, 0]))
    probabilities = output.logits.softmax(dim=-1)
    print("logits:", output.logits)
    print("probabilities:", probabilities)
    print("labels:", [config.id2label[int(index)] for index in probabilities.argmax(dim=-1)])
    print(f"loss: {output.loss.item():.4f}")

    with tempfile.TemporaryDirectory() as directory:
        model.save_pretrained(directory)
        reloaded = DistilBertForSequenceClassification.from_pretrained(directory)
        with torch.no_grad():
            again = reloaded(input_ids=input_ids, attention_mask=attention_mask).logits
    print("reloaded model gives the same logits:", torch.equal(again, output.logits))


if __name__ == "__main__":
    main()
